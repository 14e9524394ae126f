"""The template database step: built once, and a failure says exactly what went wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.config import HarnessConfig
from support.database import build_template
from support.errors import TemplateBuildFailed


def _config(tmp_path: Path, command: str) -> HarnessConfig:
    return HarnessConfig(
        root=str(tmp_path), output_dir=str(tmp_path / "out"), services=(), template_cmd=command
    )


def test_the_template_is_built_from_the_command(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "{python} -c \"import sys; open(sys.argv[1], 'w').write('db')\" {db}"
    )
    assert build_template(config) is not None
    assert config.template_path.read_text() == "db"


def test_exit_0_without_the_database_says_so(tmp_path: Path) -> None:
    config = _config(tmp_path, "{python} -c \"print('seeded nothing')\" {db}")
    with pytest.raises(TemplateBuildFailed) as info:
        build_template(config)
    text = str(info.value)
    assert "the command exited with code 0 but did not create the database at {db}" in text
    assert "failed with exit code 0" not in text
    assert "seeded nothing" in text
    assert "write its database to the path it gets as {db}" in text


def test_a_failing_command_shows_its_exit_code_and_output(tmp_path: Path) -> None:
    config = _config(tmp_path, "{python} -c \"import sys; sys.exit('seed broke')\"")
    with pytest.raises(TemplateBuildFailed) as info:
        build_template(config)
    assert "failed with exit code 1" in str(info.value) and "seed broke" in str(info.value)
