"""Run steps and their cache across runs: hits, misses that say why, and every way an
entry could be wrong (stale, damaged, half-written, failed, interrupted) rebuilt."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from stackwright.support.config.facts import RunFacts, run_values
from stackwright.support.config.services import ServiceSpec
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.errors import ConfigError, StepFailed
from stackwright.support.steps.cache import TAG, TAG_TEXT, StepCache, bytes_of
from stackwright.support.steps.runner import StepRunner

from .conftest import alive, ctrl_c_reaches_it

BUILD = Path(__file__).with_name("fake_build.py")


def _config(root: Path, extra: str = "", **spec: object) -> HarnessConfig:
    if not (root / "src.txt").exists():
        (root / "src.txt").write_text("hello")
    web = ServiceSpec(
        "web",
        "{python} -m http.server {port} -d {build}",
        build=f"{{python}} {BUILD} {{build}} --source src.txt --runs runs.txt {extra}".strip(),
        build_inputs=("src.txt",),
    )
    return HarnessConfig(
        root=str(root),
        output_dir=str(root / "out"),
        services=(replace(web, **spec),),  # type: ignore[arg-type]
        cache_dir="cache",
    )


def _run(config: HarnessConfig, mode: str = "on", max_mb: float = 100) -> str:
    """One run's build step, in a fresh output folder as every run has."""
    shutil.rmtree(config.services_dir, ignore_errors=True)
    cache = StepCache(config.cache_path, max_bytes=bytes_of(max_mb), mode=mode)
    runner = StepRunner(config.services_dir, Path(config.root), os.environ, cache)
    return runner.run(config.build_steps[0], run_values(config, RunFacts()))


def _builds(root: Path) -> int:
    runs = root / "runs.txt"
    return len(runs.read_text().split()) if runs.exists() else 0


def _served(config: HarnessConfig) -> str:
    return (config.build_dir("web") / "index.html").read_text()


def _entries(config: HarnessConfig) -> list[Path]:
    return sorted(config.cache_path.glob("web_build/*/manifest.json"))


def test_unchanged_inputs_come_from_the_cache(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = _run(config)
    assert (
        first.startswith("the web build: built in ") and "cache miss: no cached entry yet" in first
    )
    line = _run(config)
    assert line.startswith("the web build: from the cache in ") and "inputs unchanged" in line
    assert _builds(tmp_path) == 1
    assert _served(config) == "hello"


def test_a_changed_input_rebuilds_and_names_the_file(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _run(config)
    (tmp_path / "src.txt").write_text("hello again")
    line = _run(config)
    assert "cache miss: changed: src.txt" in line
    assert _served(config) == "hello again" and _builds(tmp_path) == 2


def test_a_changed_command_or_environment_rebuilds_and_says_so(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _run(config)
    with_env = _config(tmp_path, build_env=(("MODE", "test"),))
    assert "(cache miss: environment changed)" in _run(with_env)
    assert "(cache miss: command changed; environment changed)" in _run(
        _config(tmp_path, "--started s.txt")
    )
    assert "from the cache" in _run(with_env) and "from the cache" in _run(config)


@pytest.mark.parametrize(
    ("inputs", "before", "after", "why"),
    [
        # a name holding braces is reported as it is (not formatted)
        ("pages", "{id}.ts", "{id}.ts", "cache miss: changed: pages/{id}.ts"),
        # a file new since the last build, matched by a glob
        ("pages/*.ts", "a.ts", "b.ts", "cache miss: new: pages/b.ts"),
    ],
)
def test_a_miss_names_the_file(
    tmp_path: Path, inputs: str, before: str, after: str, why: str
) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / before).write_text("a")
    config = _config(tmp_path, build_inputs=("src.txt", inputs))
    _run(config)
    (tmp_path / "pages" / after).write_text("b")
    assert f"({why})" in _run(config)


def test_a_damaged_entry_is_thrown_away_and_rebuilt(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _run(config)
    (entry,) = _entries(config)
    (entry.parent / "output" / "index.html").write_text("tampered")
    line = _run(config)
    assert "the cached entry was damaged (its output does not match the digest" in line
    assert _served(config) == "hello" and _builds(tmp_path) == 2
    assert "from the cache" in _run(config)


def test_an_entry_without_its_manifest_is_never_used(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _run(config)
    (entry,) = _entries(config)
    entry.unlink()
    assert "damaged (no readable manifest)" in _run(config)
    assert _builds(tmp_path) == 2


def test_a_half_written_entry_of_a_stopped_run_is_dropped_unused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    dead = tmp_path / "cache" / "tmp" / "999999999-abcd"  # no such pid
    (dead / "output").mkdir(parents=True)
    (dead / "output" / "index.html").write_text("he")
    (tmp_path / "cache" / TAG).write_text(TAG_TEXT)
    assert "cache miss: no cached entry yet" in _run(config)
    assert not dead.exists()
    assert _served(config) == "hello"


def test_a_failed_build_leaves_no_output_and_no_entry(tmp_path: Path) -> None:
    failing = _config(tmp_path, "--fail")
    with pytest.raises(StepFailed) as info:
        _run(failing)
    text = str(info.value)
    assert "building the web build failed with exit code 2" in text
    assert "build error: something broke" in text and "fix web_build in playwright.ini" in text
    assert not failing.build_dir("web").exists()
    assert not list(failing.services_dir.glob("builds/.*.building"))  # no partial left
    assert _entries(failing) == []
    assert "cache miss" in _run(_config(tmp_path)) and _builds(tmp_path) == 2


def test_a_build_that_writes_nothing_says_where_it_should_have(tmp_path: Path) -> None:
    config = _config(tmp_path, build="{python} -c pass")
    with pytest.raises(StepFailed, match=r"did not create the build at \{build\}"):
        _run(config)


def test_inputs_edited_while_it_builds_are_not_cached(tmp_path: Path) -> None:
    config = _config(tmp_path, "--edit src.txt")
    line = _run(config)
    assert "not cached: its inputs changed while it ran" in line
    assert _entries(config) == []


def test_cancel_stops_a_running_build_and_leaves_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path, "--started started.txt --wait-for never.txt")
    cache = StepCache(config.cache_path, max_bytes=bytes_of(100))
    runner = StepRunner(config.services_dir, tmp_path, os.environ, cache)
    failures: list[BaseException] = []

    def build() -> None:
        try:
            runner.run(config.build_steps[0], run_values(config, RunFacts()))
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    started = tmp_path / "started.txt"
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.cancel()
    thread.join()
    assert isinstance(failures[0], StepFailed) and failures[0].exit_code == -9
    assert not alive(int(started.read_text()))
    assert not config.build_dir("web").exists() and _entries(config) == []
    assert not list(config.services_dir.glob("builds/.*.building"))


def test_a_cache_that_cannot_be_locked_or_opened_is_only_not_used(tmp_path: Path) -> None:
    """A read-only or full cache folder was an INTERNALERROR, though the build itself
    worked. (Made here by a file where the cache needs a folder: root ignores modes.)"""
    config = _config(tmp_path)
    _run(config)
    locks = config.cache_path / "locks"
    shutil.rmtree(locks)
    locks.write_text("not a folder")
    line = _run(config)
    assert "built in" in line and "(not cached: the cache cannot be used (" in line
    assert str(locks) in line and _served(config) == "hello"
    locks.unlink()
    shutil.rmtree(config.cache_path / "tmp")
    (config.cache_path / "tmp").write_text("not a folder")
    assert "not cached: the cache cannot be used (File exists" in _run(config)
    assert _builds(tmp_path) == 3


def test_a_cache_that_cannot_be_written_keeps_the_build_and_says_so(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.cache_path.mkdir()
    (config.cache_path / TAG).write_text(TAG_TEXT)
    runner_cache = StepCache(config.cache_path, max_bytes=bytes_of(100))
    runner_cache.open()  # as a run opens it; then its temporary folder goes away
    shutil.rmtree(config.cache_path / "tmp")
    (config.cache_path / "tmp").write_text("not a folder")
    runner = StepRunner(config.services_dir, Path(config.root), os.environ, runner_cache)
    line = runner.run(config.build_steps[0], run_values(config, RunFacts()))
    assert "cache miss: no cached entry yet; not stored: the cache cannot be used (" in line
    assert _served(config) == "hello" and not _entries(config)


def test_cache_off_neither_reads_nor_writes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert "cache off" in _run(config, "off") and "cache off" in _run(config, "off")
    assert _builds(tmp_path) == 2 and not config.cache_path.exists()


def test_cache_clear_empties_the_cache_first(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _run(config)
    assert "cache miss: the cache was cleared (cache = clear)" in _run(config, "clear")
    assert _builds(tmp_path) == 2 and "from the cache" in _run(config)


def test_a_folder_that_is_not_our_cache_is_refused_and_kept(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "notes.txt").write_text("mine")
    for mode in ("on", "clear"):
        with pytest.raises(ConfigError, match=rf"no {TAG}.*PLAYWRIGHT_CACHE_DIR"):
            _run(config, mode)
    assert (tmp_path / "cache" / "notes.txt").read_text() == "mine"


def test_another_tools_tagged_cache_is_refused_and_kept(tmp_path: Path) -> None:
    """cargo's target/ carries the standard CACHEDIR.TAG: it is still not ours."""
    config = _config(tmp_path)
    target = tmp_path / "cache"
    for name in ("tmp", "debug"):
        (target / name).mkdir(parents=True)
        (target / name / "keep.rlib").write_text("built by cargo")
    (target / TAG).write_text(
        "Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This file is a cache directory tag created by cargo.\n"
    )
    for mode in ("on", "clear"):
        with pytest.raises(ConfigError, match=rf"no {TAG} of this harness"):
            _run(config, mode)
    assert (target / "tmp" / "keep.rlib").is_file() and (target / "debug" / "keep.rlib").is_file()


def test_the_size_bound_drops_the_least_recently_used_entry(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _run(config, max_mb=0.00001)  # about 10 bytes: room for one small entry
    first = _entries(config)
    (tmp_path / "src.txt").write_text("second")
    _run(config, max_mb=0.00001)
    assert len(_entries(config)) == 1 and _entries(config) != first


def test_without_inputs_a_step_is_built_and_the_line_says_how_to_cache_it(tmp_path: Path) -> None:
    config = _config(tmp_path, build_inputs=())
    assert "not cached: set web_build_inputs to cache it" in _run(config)
    assert _entries(config) == []


def _template_config(root: Path) -> HarnessConfig:
    """A template step that copies seed.txt to {db}, counting its runs in runs.txt."""
    (root / "seed.txt").write_text("rows")
    return HarnessConfig(
        root=str(root),
        output_dir=str(root / "out"),
        services=(),
        template_cmd=f"{{python}} {BUILD} {{db}} --file --source seed.txt --runs runs.txt",
        template_inputs=("seed.txt",),
        cache_dir="cache",
    )


def test_the_template_database_is_cached_like_a_build(tmp_path: Path) -> None:
    config = _template_config(tmp_path)
    step = config.template_step
    assert step is not None
    lines = []
    for _ in range(2):
        shutil.rmtree(config.services_dir, ignore_errors=True)
        cache = StepCache(config.cache_path, max_bytes=bytes_of(10))
        runner = StepRunner(config.services_dir, tmp_path, os.environ, cache)
        lines.append(runner.run(step, run_values(config, RunFacts())))
    assert "cache miss" in lines[0] and "from the cache" in lines[1]
    assert config.template_path.read_text() == "rows" and _builds(tmp_path) == 1


def _another_python(root: Path) -> str:
    """The same interpreter under another path, as a team's own virtualenv gives it."""
    link = root / "venv-python"
    if not link.exists():
        link.symlink_to(sys.executable)
    return str(link)


def test_a_build_that_names_no_interpreter_stays_cached_on_another_python(
    tmp_path: Path,
) -> None:
    """``node ... vite build`` does not use Python: a team's new virtualenv must not miss."""
    command = f"{sys.executable} {BUILD} {{build}} --source src.txt --runs runs.txt"
    _run(_config(tmp_path, build=command))
    line = _run(_config(tmp_path, build=command, python=_another_python(tmp_path)))
    assert "from the cache" in line and _builds(tmp_path) == 1
    # A build that names {python} uses it, so its key holds it.
    _run(_config(tmp_path))
    assert "(cache miss: interpreter changed)" in _run(
        _config(tmp_path, python=_another_python(tmp_path))
    )
    # The same interpreter reached through '..' (a relative start) is the same key.
    roundabout = str(tmp_path / "out" / ".." / "venv-python")
    assert "from the cache" in _run(_config(tmp_path, python=roundabout))


def test_a_template_runs_on_another_services_interpreter(tmp_path: Path) -> None:
    """``{backend_python}``: the seed runs in the backend's virtualenv, and its key holds
    that interpreter (and no other)."""
    (tmp_path / "seed.txt").write_text("rows")
    seed = f"{{web_python}} {BUILD} {{db}} --file --source seed.txt --interpreter used.txt"
    web = ServiceSpec("web", "{python} -m http.server {port}", python=_another_python(tmp_path))

    def run(web: ServiceSpec) -> str:
        config = HarnessConfig(
            root=str(tmp_path),
            output_dir=str(tmp_path / "out"),
            services=(web,),
            template_cmd=seed,
            template_inputs=("seed.txt",),
            cache_dir="cache",
        )
        shutil.rmtree(config.services_dir, ignore_errors=True)
        cache = StepCache(config.cache_path, max_bytes=bytes_of(10))
        runner = StepRunner(config.services_dir, tmp_path, os.environ, cache)
        assert config.template_step is not None
        return runner.run(config.template_step, run_values(config, RunFacts()))

    assert "cache miss" in run(web)
    assert (tmp_path / "used.txt").read_text() == _another_python(tmp_path)
    assert "from the cache" in run(web)
    assert "(cache miss: interpreter {web_python} changed)" in run(replace(web, python=None))


def test_a_template_is_restored_with_its_services_data_or_not_at_all(tmp_path: Path) -> None:
    """The seeded database without the files the seed uploaded would be a broken seed."""
    config = _template_config(tmp_path)
    step, side = config.template_step, config.data_root
    assert step is not None
    runner = StepRunner(
        config.services_dir, tmp_path, os.environ, StepCache(config.cache_path, max_bytes=10**8)
    )
    values = run_values(config, RunFacts())
    missed = runner.restore(step, values, side)
    assert missed == "no cached entry yet"
    (side / "store").mkdir(parents=True)
    (side / "store" / "photo").write_text("uploaded by the seed")
    assert "built" in runner.run(step, values, side=side, missed=missed)
    shutil.rmtree(config.services_dir)
    assert runner.restore(step, values, side) is None
    assert (side / "store" / "photo").read_text() == "uploaded by the seed"
    assert config.template_path.read_text() == "rows"
    # Without its data entry, the database alone is not used.
    shutil.rmtree(config.services_dir)
    shutil.rmtree(config.cache_path / "template_data")
    missed = runner.restore(step, values, side)
    assert missed == "the run services' data it fills: no cached entry yet"
    assert not config.template_path.exists() and side.is_dir() and not any(side.iterdir())


# -- in a real run -----------------------------------------------------------------

#: A static site per worker, served from the run's build of it.
SITE_INI = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin -p no:cacheprovider
services = web
web_build = {{python}} {BUILD} {{build}} --source src.txt --runs runs.txt
web_build_inputs = src.txt
web_cmd = {{python}} -m http.server {{port}} --bind {{host}} -d {{build}}
web_ready = http /index.html
web_dev_cmd = {{python}} -m http.server {{port}} --bind {{host}} -d dev
web_dev_env = DEV_MODE=yes
step_cache_dir = shared-cache
"""

SITE_TEST = """
import urllib.request

def test_site(web_url):
    assert urllib.request.urlopen(web_url + "/index.html").read() == b"hello"
"""


def _site(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=SITE_INI)
    pytester.makepyfile(test_site=SITE_TEST)
    (pytester.path / "src.txt").write_text("hello")


def _pytest(pytester: pytest.Pytester, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "xdist", *args],
        cwd=pytester.path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.exists(), f"{path} never appeared"


def test_every_worker_serves_the_one_build_and_a_rerun_takes_it_from_the_cache(
    pytester: pytest.Pytester,
) -> None:
    _site(pytester)
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"the web build: from the cache in \d"])
    assert _builds(pytester.path) == 1


def test_a_build_says_when_it_starts_and_why(pytester: pytest.Pytester) -> None:
    """A cold run was silent while its builds ran (22 s on a real stack), saying what
    happened only in the end-of-run summary; a build now announces itself as it starts."""
    _site(pytester)
    for workers in ("2", "0"):
        shutil.rmtree(pytester.path / "shared-cache", ignore_errors=True)
        cold = pytester.runpytest_subprocess("-n", workers)
        cold.assert_outcomes(passed=1)
        announced = "stackwright: the web build: building (cache miss: no cached entry yet)"
        lines = cold.outlines
        assert announced in lines, cold.stdout.str()
        # pytest's header first, then the build's line, then the tests
        header = next(i for i, line in enumerate(lines) if "test session starts" in line)
        first_result = next(i for i, line in enumerate(lines) if "[100%]" in line)
        assert header < lines.index(announced) < first_result
        # and when it ended, at once (not only in the end-of-run summary)
        done = [
            i
            for i, line in enumerate(lines)
            if line.startswith("stackwright: the web build: built in ")
        ]
        assert done and lines.index(announced) < done[0] < first_result, cold.stdout.str()
    (pytester.path / "src.txt").write_text("changed")
    changed = pytester.runpytest_subprocess("-n", "2")
    changed.stdout.fnmatch_lines(["stackwright: the web build: building (cache miss: *src.txt*)"])
    warm = pytester.runpytest_subprocess("-n", "2")
    assert "stackwright: the web build: building" not in warm.stdout.str()


def test_ctrl_c_during_a_build_leaves_nothing_a_rerun_could_use(pytester: pytest.Pytester) -> None:
    _site(pytester)
    started = pytester.path / "started.txt"
    run = _pytest(pytester, "-n", "2", FAKE_BUILD_ARGS="--started started.txt --wait-for never.txt")
    _wait_for(started)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    assert run.returncode != 0, output
    assert not alive(int(started.read_text())), "the build was stopped with the run"
    assert not list((pytester.path / "shared-cache").glob("web_build/*/manifest.json"))
    assert not (pytester.path / "test-results" / ".services" / "builds" / "web").exists()
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"the web build: built in .*cache miss: no cached entry yet"])


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_any_end_of_the_run_during_a_build_ends_the_builds_whole_group(
    pytester: pytest.Pytester, how: str
) -> None:
    """CI cancels with SIGTERM: the run ended silently, the build's own children kept
    running with parent 1, and .web.building stayed. kill -9 left the children too."""
    _site(pytester)
    started, spawned = pytester.path / "started.txt", pytester.path / "spawned.txt"
    args = "--spawn spawned.txt --started started.txt --wait-for never.txt"
    run = _pytest(pytester, "-n", "2", FAKE_BUILD_ARGS=args)
    _wait_for(started)
    run.send_signal(getattr(signal, how))
    output, _ = run.communicate(timeout=60)
    assert run.returncode != 0, output
    build, child = int(started.read_text()), int(spawned.read_text())
    deadline = time.monotonic() + 10
    while (alive(build) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = [pid for pid in (build, child) if alive(pid)]
    for pid in left:  # not to leave them on this machine when the check fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"left behind: {left}\n{output}"
    if how == "SIGTERM":
        assert "stackwright: SIGTERM: stopping every process this run started" in output
        builds = pytester.path / "test-results" / ".services" / "builds"
        assert not list(builds.glob(".*building")) and not (builds / "web").exists(), output
    result = pytester.runpytest_subprocess("-n", "2")  # the next run is not confused
    result.assert_outcomes(passed=1)


def test_two_runs_at_once_build_once_and_both_serve_it(pytester: pytest.Pytester) -> None:
    _site(pytester)
    go = pytester.path / "go.txt"
    args = "--started started.txt --wait-for go.txt"
    first = _pytest(pytester, "--output", "results-a", FAKE_BUILD_ARGS=args)
    _wait_for(pytester.path / "started.txt")
    second = _pytest(pytester, "--output", "results-b", FAKE_BUILD_ARGS=args)
    go.write_text("")
    outputs = [run.communicate(timeout=120)[0] for run in (first, second)]
    assert [run.returncode for run in (first, second)] == [0, 0], outputs
    assert _builds(pytester.path) == 1
    assert sum("the web build: from the cache" in output for output in outputs) == 1


def test_a_failed_build_stops_the_run_with_its_output(pytester: pytest.Pytester) -> None:
    _site(pytester)
    run = _pytest(pytester, "-n", "2", FAKE_BUILD_ARGS="--fail")
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "building the web build failed with exit code 2" in output
    assert "build error: something broke" in output
    assert "fix web_build in pytest.ini" in output


def test_dev_services_run_the_dev_command_without_a_build(pytester: pytest.Pytester) -> None:
    _site(pytester)
    (pytester.path / "dev").mkdir()
    (pytester.path / "dev" / "index.html").write_text("hello")
    result = pytester.runpytest_subprocess("--dev-services", "web")
    result.assert_outcomes(passed=1)
    assert _builds(pytester.path) == 0
    assert "web build" not in result.stdout.str()


def test_a_dev_service_without_a_dev_command_is_named(pytester: pytest.Pytester) -> None:
    _site(pytester)
    ini = (pytester.path / "pytest.ini").read_text().replace("web_dev_cmd", "# web_dev_cmd")
    (pytester.path / "pytest.ini").write_text(ini)
    run = _pytest(pytester, PLAYWRIGHT_DEV_SERVICES="web")
    output, _ = run.communicate(timeout=60)
    assert "dev_services names web, which has no dev command: set web_dev_cmd" in output


def test_a_worker_starts_its_stack_while_pytest_collects(pytester: pytest.Pytester) -> None:
    """The test module waits, at import, for a worker's service to log that it serves:
    a stack started only for the first test would never be seen there (xdist runs no
    test before every worker has collected)."""
    _site(pytester)
    pytester.makepyfile(
        test_site="""
import time, urllib.request
from pathlib import Path

def serving():
    logs = Path("test-results/.services").glob("*/web.log")
    return any("Serving HTTP" in log.read_text() for log in logs)

deadline = time.monotonic() + 60
while not serving() and time.monotonic() < deadline:
    time.sleep(0.01)
SEEN_WHILE_COLLECTING = serving()

def test_site(web_url):
    assert SEEN_WHILE_COLLECTING
    assert urllib.request.urlopen(web_url + "/index.html").read() == b"hello"
"""
    )
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=1)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
