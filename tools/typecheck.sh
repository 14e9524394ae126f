#!/usr/bin/env bash
# mypy over the harness as it installs, and over the reference app.
#
# mypy does not follow setuptools' editable import hook, which maps support/ and
# fixtures/ to stackwright.support and stackwright.fixtures. So the package is
# installed (no dependencies: the venv has them) into build/typecheck and checked
# there; each error's path is shown as the checkout's file it came from.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-.venv/bin/python}"
target=build/typecheck
rm -rf build  # setuptools builds in build/lib: a stale module there would be packed too
"$python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --target "$target" . >/dev/null
status=0
MYPYPATH="$target" "$python" -m mypy "$target/stackwright" app/backend app/gateway 2>&1 \
  | sed -e "s#^$target/stackwright/support/#support/#" -e "s#^$target/stackwright/fixtures/#fixtures/#" \
  || status=$?
rm -rf build  # setuptools builds in build/lib: a stale module there would be packed too
exit "$status"
