"""The frontend's unit tests pass, it typechecks and builds, and test-mode code never
reaches a production build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "app" / "frontend"


@pytest.fixture(autouse=True)
def _installed() -> None:
    assert (FRONTEND / "node_modules").is_dir(), (
        f"{FRONTEND}/node_modules is missing: run 'make setup'"
    )


def _npm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", "run", "--silent", *args],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_unit_tests_pass() -> None:
    done = _npm("test", env={"NO_COLOR": "1", "FORCE_COLOR": "0"})
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)  # CI=true turns colours on regardless
    assert done.returncode == 0, output + done.stderr
    assert re.search(r"Tests\s+\d+ passed", output), output
    assert "failed" not in output


def test_typecheck_passes() -> None:
    done = _npm("typecheck")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("test_mode", [False, True], ids=["production", "test-mode"])
def test_build_drops_test_instrumentation_outside_test_mode(
    tmp_path: Path, test_mode: bool
) -> None:
    out = tmp_path / "dist"
    env = {"VITE_TEST_MODE": "true"} if test_mode else {"VITE_TEST_MODE": ""}
    done = subprocess.run(
        ["node", "node_modules/vite/bin/vite.js", "build", "--outDir", str(out), "--emptyOutDir"],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bundle = "".join(path.read_text() for path in out.glob("assets/*.js"))
    assert ("__sseControls" in bundle) is test_mode
    assert ("__playwright_emitTestEvent" in bundle) is test_mode
    shutil.rmtree(out)
