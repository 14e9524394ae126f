"""The variable table of docs/configuration.md and ``.env.test.example``, from an ini file.

Both list the settings and, for each configured service, the variable that
replaces its command (and its ``alt_cmd`` variable) and its live-log switch, so
they follow the ``services`` list instead of being kept by hand::

    python -m stackwright.support.config.envdoc \
        playwright.ini docs/configuration.md .env.test.example   # rewrites both
    python -m stackwright.support.config.envdoc --check \
        playwright.ini docs/configuration.md .env.test.example   # says if they are current
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from stackwright.support.config.settings import read_ini, service_keys, variables

BEGIN = "<!-- variables: generated from playwright.ini by `make docs` -->"
END = "<!-- /variables -->"
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


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + table + "\n" + readme[end:]


def main(argv: Sequence[str]) -> int:
    check = "--check" in argv
    ini, readme, example = (Path(arg) for arg in argv if arg != "--check")
    wanted = {
        readme: with_table(readme.read_text(), readme_table(ini)),
        example: env_example(ini),
    }
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if check:
        for path in stale:
            print(f"{path} is out of date with {ini}: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
