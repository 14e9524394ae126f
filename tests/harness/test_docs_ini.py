"""Every ini block the README and docs/ show is resolved by the harness's own check.

A page's blocks are one configuration, as a team would paste them into one file: a
block without a ``services`` line adds its services (in the page's order) to it. The
interpreters a block names (``backend_python = ../backend/.venv/bin/python``) are made,
as a team's checkout has them; nothing else is stubbed.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from pathlib import Path

import pytest

from stackwright.support.config import Sources, read_ini, resolve_config

from .conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```ini\n(.*?)^```", re.M | re.S)


def _blocks(page: Path) -> list[str]:
    return _BLOCK.findall(page.read_text())


def _one_ini(blocks: list[str]) -> str:
    """The page's blocks as one ``[pytest]`` section (a key a later block shows again is
    the later one), every service they describe listed."""
    merged: dict[str, str] = {}
    for block in blocks:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(block if block.startswith("[pytest]") else f"[pytest]\n{block}")
        merged.update(parser["pytest"])
    names = merged.pop("services", "").split()
    for key in merged:
        name = key.removesuffix("_cmd")
        described = key.endswith("_cmd") and not name.endswith(("_dev", "_alt"))
        if described and name not in (*names, "template_db"):
            names.append(name)
    lines = [f"{key} = {value}".replace("\n", "\n    ") for key, value in merged.items()]
    return "[pytest]\nservices = " + " ".join(names) + "\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _blocks(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_ini_block_of_the_docs_resolves(page: Path, tmp_path: Path) -> None:
    ini = _one_ini(_blocks(page))
    suite = tmp_path / "suite"
    suite.mkdir()
    for relative in re.findall(r"^\w+_python\s*=\s*(\S+)", ini, re.M):
        made = suite / relative
        made.parent.mkdir(parents=True, exist_ok=True)
        if not made.exists():
            made.symlink_to(sys.executable)
    (suite / "playwright.ini").write_text(ini)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    sources = Sources(suite, "test-results", {}, env, read_ini(suite / "playwright.ini"))
    config = resolve_config(sources)
    assert config.services, ini


def test_the_check_catches_a_block_that_does_not_resolve(tmp_path: Path) -> None:
    """The README's example named {worker_dir} in a run-scoped command."""
    ini = _one_ini(["s3_scope = run\ns3_cmd = minio server {worker_dir}/s3 --address {port}\n"])
    (tmp_path / "playwright.ini").write_text(ini)
    sources = Sources(tmp_path, "test-results", {}, {}, read_ini(tmp_path / "playwright.ini"))
    with pytest.raises(Exception, match=r"\{worker_dir\}, which is not known when it starts"):
        resolve_config(sources)
