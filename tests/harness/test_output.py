"""The output folder: cleared only when the harness made it, held by one run at a time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackwright.support.results.output import MARKER, OutputFolderError, claim_output_dir


def test_a_new_folder_is_created_and_marked(tmp_path: Path) -> None:
    claim = claim_output_dir(tmp_path / "results")
    assert (tmp_path / "results" / MARKER).exists()
    claim.release()


def test_a_folder_of_ours_is_emptied(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    claim_output_dir(folder).release()
    (folder / "old-test").mkdir()
    (folder / "old-test" / "trace.zip").write_text("x")
    (folder / ".services").mkdir()
    claim = claim_output_dir(folder)
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]
    claim.release()


@pytest.mark.parametrize("name", ["docs", "checkout"])
def test_a_folder_with_files_of_its_own_is_never_deleted(tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    (folder / ".git").mkdir(parents=True)
    (folder / "README.md").write_text("keep me")
    with pytest.raises(OutputFolderError) as info:
        claim_output_dir(folder)
    message = str(info.value)
    assert f"--output {folder} already holds files" in message
    assert "Refusing to delete them" in message and "Choose a new or empty folder" in message
    assert (folder / "README.md").read_text() == "keep me"
    assert (folder / ".git").is_dir()
    assert not (folder / MARKER).exists()


def test_an_empty_folder_is_taken(tmp_path: Path) -> None:
    claim_output_dir(tmp_path).release()
    assert (tmp_path / MARKER).exists()


def test_a_second_run_on_the_same_folder_is_refused_and_harms_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    first = claim_output_dir(folder)
    (folder / ".services").mkdir()
    (folder / ".services" / "template.sqlite").write_text("the first run's")
    with pytest.raises(OutputFolderError) as info:
        claim_output_dir(folder)
    assert f"another test run is using {folder} (pid {os.getpid()}, started " in str(info.value)
    assert "--output <another folder>" in str(info.value)
    assert (folder / ".services" / "template.sqlite").read_text() == "the first run's"
    first.release()
    claim_output_dir(folder).release()  # free again once the first run ends


def test_a_file_or_an_unwritable_place_gets_one_line(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(OutputFolderError, match="is a file, not a folder"):
        claim_output_dir(afile)
    with pytest.raises(OutputFolderError, match="cannot write the test results to --output"):
        claim_output_dir(afile / "results")
