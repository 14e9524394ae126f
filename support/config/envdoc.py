"""The generated documentation: the variable table of docs/configuration.md and
``.env.test.example`` from an ini file, and the ``<name>_*`` keys' table of
docs/services.md from ``SERVICE_KEYS``.

The first two list the settings and, for each configured service, the variable that
replaces its command (and its ``alt_cmd`` variable) and its live-log switch, so
they follow the ``services`` list instead of being kept by hand. A services page,
when given fourth, gets the keys' table::

    python -m stackwright.support.config.envdoc playwright.ini \
        docs/configuration.md .env.test.example docs/services.md   # rewrites them
    python -m stackwright.support.config.envdoc --check playwright.ini \
        docs/configuration.md .env.test.example docs/services.md   # says if current
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from stackwright.support.config.resolve import read_ini, service_keys
from stackwright.support.config.services import SERVICE_KEYS
from stackwright.support.config.variables import variables
from stackwright.support.errors import ConfigError

BEGIN = "<!-- variables: generated from playwright.ini by `make docs` -->"
END = "<!-- /variables -->"
KEYS_BEGIN = "<!-- service keys: generated from SERVICE_KEYS by `make docs` -->"
KEYS_END = "<!-- /service keys -->"
_HEADER = """\
# Environment of the browser suite. Copy to .env.test (git-ignored) and edit.
# Variables already set in the real environment always win over this file.
# Precedence of every setting: CLI option > environment > playwright.ini > default.
# Generated from playwright.ini by `make docs`: every variable the run reads.
"""


def readme_table(ini_path: Path) -> str:
    rows = [
        "| option | variable | ini | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for row in variables(service_keys(read_ini(ini_path))):
        cells = [
            f"`{row.cli}`" if row.cli else "",
            f"`{row.name}`",
            f"`{row.ini}`" if row.ini else "",
            f"`{row.default}`" if row.default else "",
            row.help.replace("|", "\\|"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def env_example(ini_path: Path) -> str:
    blocks = [_HEADER]
    for row in variables(service_keys(read_ini(ini_path))):
        where = ", ".join(part for part in (row.cli, f"ini {row.ini}" if row.ini else "") if part)
        blocks.append(f"# {row.help}" + (f" ({where})" if where else ""))
        blocks.append(f"# {row.name}={row.default}\n")
    return "\n".join(blocks)


def keys_table() -> str:
    """Every ``<name>_*`` key a service may have, and what it means."""
    rows = ["| key | meaning |", "|---|---|"]
    for suffix, text in SERVICE_KEYS:
        shown = _CODE.sub(lambda match: f"`{match.group(0)}`", text.replace("|", "\\|"))
        rows.append(f"| `<name>_{suffix}` | {shown} |")
    return "\n".join(rows)


#: What a table shows as code: placeholders, ${VAR}, <name>_keys and KEY=VALUE lines.
_CODE = re.compile(r"\$\{[^}]*\}(?:[:/\w]*)?|\{[^}\s]*\}|<[A-Za-z]+>_?\w*|\b[A-Z_]+=[^\s)]+")


def with_table(
    readme: str, table: str, begin: str = BEGIN, end: str = END, *, page: str = "the page"
) -> str:
    """``readme`` with the text between the markers replaced by ``table``; ConfigError
    naming the two marker lines when the page lacks them."""
    start, stop = readme.find(begin), readme.find(end)
    if start < 0 or stop < start:
        raise ConfigError(
            f"{page} has no place for the table: put these two lines where it goes, "
            f"each on its own line, then run this again:\n{begin}\n{end}"
        )
    return readme[: start + len(begin)] + "\n" + table + "\n" + readme[stop:]


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stackwright.support.config.envdoc",
        description="Write the variable table of a Markdown page (between its variables "
        "markers) and a complete .env.test.example from an ini's services; with a "
        "services page, the table of the <name>_* keys too.",
    )
    parser.add_argument("--check", action="store_true", help="say which file is out of date")
    parser.add_argument("ini", type=Path, help="the suite's ini (playwright.ini)")
    parser.add_argument("page", type=Path, help="a Markdown page with the variables markers")
    parser.add_argument("example", type=Path, help="the .env.test.example to write")
    parser.add_argument("services", type=Path, nargs="*", help="pages for the keys' table")
    return parser.parse_args(list(argv))


def _wanted(args: argparse.Namespace) -> dict[Path, str]:
    def page_text(path: Path) -> str:
        try:
            return path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}") from None

    wanted = {
        args.page: with_table(page_text(args.page), readme_table(args.ini), page=str(args.page)),
        args.example: env_example(args.ini),
    }
    for page in args.services:
        text = page_text(page)
        wanted[page] = with_table(text, keys_table(), KEYS_BEGIN, KEYS_END, page=str(page))
    return wanted


def main(argv: Sequence[str]) -> int:
    args = _arguments(argv)
    try:
        wanted = _wanted(args)
    except ConfigError as exc:
        print(f"envdoc: error: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date with {args.ini}: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
