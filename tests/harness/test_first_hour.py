"""A team's first hour: the harness installed with pip into a fresh virtualenv, a suite
configured in a file named ``pytest.ini`` with no ``-p``, a passing and a failing
browser test. And where the harness is installed but not configured, it stays out of
the way."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import FAKE, ROOT
from .test_plugin import _ini

pytest_plugins = ["pytester"]

#: What a wheel of the harness is built from.
SOURCES = ("pyproject.toml", "README.md", "stackwright", "support", "fixtures")

TEAM_INI = """[pytest]
services = backend frontend
backend_cmd = {python} app_service.py --port {port}
backend_ready = http /ready
backend_env = FAKE_NAME=backend
frontend_cmd = {python} app_service.py --port {port}
frontend_ready = http /ready
frontend_env = FAKE_NAME=frontend
page_url = {frontend_url}
"""
TEAM_TESTS = """
def test_the_page_loads(page):
    page.goto("/page")
    assert page.title() == "fake"

def test_a_wrong_title(page):
    page.goto("/page")
    assert page.title() == "something else"
"""


@pytest.fixture(scope="module")
def team_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the harness pip-installed from a wheel built from this
    checkout (pip's isolated build, as a team's install does it). Its dependencies come
    from the dev environment (a path, not a copy): the install itself, its entry points
    and its files are the wheel's."""
    work = tmp_path_factory.mktemp("first-hour")
    source = work / "source"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", str(source)],
        check=True, timeout=300,
    )  # fmt: skip
    installed = subprocess.run(
        [str(python), "-c", "import stackwright.fixtures.plugin as p; print(p.__file__)"],
        capture_output=True, text=True, check=True, cwd=work,
    ).stdout  # fmt: skip
    assert installed.startswith(purelib), installed  # the wheel's, not the checkout's
    return python


def _team(tmp_path: Path, ini_name: str, ini: str) -> Path:
    project = tmp_path / "team"
    project.mkdir()
    (project / ini_name).write_text(ini)
    (project / "test_app.py").write_text(TEAM_TESTS)
    shutil.copy2(FAKE, project / "app_service.py")
    return project


def _pytest(python: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:randomly", *args],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_suite_in_pytest_ini_without_p_runs_on_the_installed_harness(
    team_python: Path, tmp_path: Path
) -> None:
    """It did not: the harness was not loaded, and every test ended in Playwright's
    "Executable doesn't exist ... please run playwright install"."""
    project = _team(tmp_path, "pytest.ini", TEAM_INI)
    run = _pytest(team_python, project)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "Captured stdout service log: frontend" in out, out
    assert "main: stack ready in" in out, out
    folder = project / "test-results" / "test-app-py-test-a-wrong-title-chromium"
    assert 'GET /page HTTP/1.1" 200' in (folder / "frontend.log").read_text()


def test_an_installed_harness_stays_out_of_a_suite_without_services(
    team_python: Path, tmp_path: Path
) -> None:
    project = _team(tmp_path, "pytest.ini", "[pytest]\n")
    (project / "test_app.py").write_text("def test_plain():\n    assert True\n")
    run = _pytest(team_python, project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout and "service stacks" not in run.stdout
    assert not (project / "test-results").exists()


def test_the_version_is_on_the_command_the_header_and_the_report(
    pytester: pytest.Pytester,
) -> None:
    from importlib.metadata import version

    from stackwright.support.cli import main

    expected = f"stackwright {version('stackwright')}"
    with pytest.raises(SystemExit):
        main(["--version"])
    assert subprocess.run(
        [sys.executable, "-m", "stackwright.support.cli", "--version"],
        capture_output=True, text=True, check=True,
    ).stdout.strip() == expected  # fmt: skip
    helped = subprocess.run(
        [sys.executable, "-m", "stackwright.support.cli", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "``" not in helped and "--version" in helped
    pytester.makefile(".ini", pytest=_ini())
    pytester.makepyfile(test_x="def test_a(stack):\n    pass\n")
    result = pytester.runpytest_subprocess("--html", "report.html")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([expected])
    blob = re.search(r'data-jsonblob="([^"]*)"', (pytester.path / "report.html").read_text())
    assert blob is not None
    environment = json.loads(html.unescape(blob.group(1)))["environment"]
    assert environment["stackwright"] == version("stackwright")


def test_make_e2e_keeps_a_failed_tests_trace_and_screenshot(pytester: pytest.Pytester) -> None:
    """The README promised a trace; plain make e2e wrote none."""
    makefile = (ROOT / "Makefile").read_text()
    flags = re.findall(r"--(?:tracing|screenshot) \S+", makefile.split("E2E = ", 1)[1])
    assert "--tracing retain-on-failure" in flags, flags
    pytester.makefile(".ini", pytest=_ini() + "page_url = {frontend_url}\n")
    pytester.makepyfile(test_x="def test_a(page):\n    page.goto('/page')\n    assert False\n")
    args = [word for flag in flags for word in flag.split()]
    result = pytester.runpytest_subprocess(*args, "--html", "test-results/report.html")
    result.assert_outcomes(failed=1)
    folder = pytester.path / "test-results" / "test-x-py-test-a-chromium"
    assert (folder / "trace.zip").is_file() and list(folder.glob("test-failed-*.png"))
    assert "show-trace" in (pytester.path / "test-results" / "report.html").read_text()


BROKEN_OUTPUT = """
import pathlib, requests

def test_breaks_the_output_folder(backend_url):
    output = pathlib.Path("test-results")
    (output / "results.json").mkdir()  # where the run's manifest goes
    (output / "test-x-py-test-breaks-the-output-folder").write_text("not a folder")
    requests.get(backend_url + "/from-the-test", timeout=5)
    assert False, "on purpose"
"""


def test_an_output_folder_that_cannot_be_written_is_one_line_each(
    pytester: pytest.Pytester,
) -> None:
    """A full output folder: bare errors, then a 60-line OSError from results.json and no
    summary. (Made here by paths taken where the harness writes: root ignores modes.)"""
    pytester.makefile(".ini", pytest=_ini())
    pytester.makepyfile(test_x=BROKEN_OUTPUT)
    result = pytester.runpytest_subprocess("--service-logs", "on")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    result.stdout.fnmatch_lines(
        [
            "*Captured stdout service log: backend*",
            "*this test's files could not be written to *test-x-py-test-breaks-the-output-"
            "folder: File exists; the tails above are what its logs held",
        ]
    )
    result.stdout.fnmatch_lines(
        ["run: *results.json could not be written (Is a directory); *stackwright merge*"]
    )
    result.stdout.fnmatch_lines(["*1 failed in *"])


def test_messages_name_the_ini_that_c_gave(pytester: pytest.Pytester) -> None:
    """Several messages named playwright.ini when -c named another file."""
    ini = _ini()
    pytester.makefile(".ini", e2e=ini + "backend_timeout = 0.5\nbackend_ready = log ^never\n")
    pytester.makefile(".ini", e2e_missing=ini.replace("backend_cmd", "# backend_cmd"))
    pytester.makepyfile(test_x="def test_a(stack):\n    pass\n")
    result = pytester.runpytest_subprocess("-c", "e2e_missing.ini")
    result.stderr.fnmatch_lines(["*no command for the backend service: set backend_cmd in "
                                 "e2e_missing.ini or BACKEND_CMD in the environment*"])  # fmt: skip
    result = pytester.runpytest_subprocess("-c", "e2e.ini")
    result.stdout.fnmatch_lines(["*raise backend_timeout in e2e.ini (or --service-timeout)*"])
    assert "playwright.ini" not in result.stdout.str() + result.stderr.str()
