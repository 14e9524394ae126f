"""The GitHub Actions workflow: valid against the workflow schema, and its shards, their
folders and the merge agree with each other. (It cannot run here; test_shards runs
three shards and merges them on this machine.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from .conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yml"


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(command), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_workflow_is_valid_against_the_github_workflow_schema() -> None:
    done = _check(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "e2e.yml"
    shutil.copy(WORKFLOW, broken)
    text = broken.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1)
    broken.write_text(text)
    done = _check(broken)
    assert done.returncode != 0
    assert "runs_on" in done.stdout + done.stderr


def test_the_fast_tests_run_in_the_workflow_too() -> None:
    """Only the browser shards ran there; the harness's own tests ran only in .ci/run."""
    jobs = YAML(typ="safe").load(WORKFLOW.read_text())["jobs"]
    runs = [step.get("run", "") for job in jobs.values() for step in job["steps"]]
    assert "make test-fast" in runs


def test_every_shard_is_run_uploaded_and_merged() -> None:
    jobs = YAML(typ="safe").load(WORKFLOW.read_text())["jobs"]
    shards = jobs["shard"]["strategy"]["matrix"]["shard"]
    runs = [step.get("run", "") for step in jobs["shard"]["steps"]]
    (command,) = [run for run in runs if "make e2e" in run]
    assert command == f"make e2e SHARD=${{{{ matrix.shard }}}}/{len(shards)}"
    upload = next(s for s in jobs["shard"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "test-results-shard-${{ matrix.shard }}/"  # make e2e's folder
    assert upload["if"] == "${{ !cancelled() }}"  # a failed shard's results are uploaded too
    assert jobs["merge"]["needs"] == "shard"
    merge = next(
        s["run"] for s in jobs["merge"]["steps"] if "stackwright merge" in s.get("run", "")
    )
    merged = re.findall(r"shards/e2e-shard-(\d+)", merge)
    assert sorted(map(int, merged)) == sorted(shards)


def test_the_suite_runs_on_postgresql_in_the_workflow_and_in_make_test() -> None:
    job = YAML(typ="safe").load(WORKFLOW.read_text())["jobs"]["postgres"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make e2e-postgres" in runs
    uploads = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload")]
    assert uploads and uploads[0]["with"]["path"] == "test-results-postgres/"
    makefile = (ROOT / "Makefile").read_text()
    test_target = makefile.split("\ntest: setup\n", 1)[1].split("\n\n", 1)[0]
    assert "e2e-postgres" in test_target
