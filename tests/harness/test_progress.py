"""The live line: elapsed time on a terminal while the run opens, plain lines elsewhere."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stackwright.support.progress import LiveLine, StackProgress

pytest_plugins = ["pytester"]


def test_the_live_line_counts_up_prints_lines_above_it_and_clears_itself() -> None:
    written: list[str] = []
    drawn = threading.Event()

    def write(text: str) -> None:
        written.append(text)
        if "opening" in text:
            drawn.set()

    live = LiveLine(write, "stackwright: opening the run", every=0.01).start()
    assert drawn.wait(5)
    live.say("stackwright: the web build: building (cache off)")
    drawn.clear()
    assert drawn.wait(5), "drawn again below the line"
    live.stop()
    live.stop()
    text = "".join(written)
    assert "\rstackwright: opening the run 0." in text
    said = next(piece for piece in written if "web build" in piece)
    assert said.startswith("\r") and said.rstrip(" \n").endswith("(cache off)")
    assert said.endswith("\n")
    assert written[-1].startswith("\r ") and written[-1].endswith("\r"), "cleared at the end"
    count = len(written)
    drawn.clear()
    assert not drawn.wait(0.05) and len(written) == count, "nothing is drawn after stop()"


def test_a_run_that_is_not_on_a_terminal_gets_plain_lines(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".ini",
        pytest="[pytest]\naddopts = -p stackwright.fixtures.plugin\nservices = web\n"
        "web_cmd = {python} -m http.server {port} --bind {host}\n",
    )
    pytester.makepyfile(test_web="def test_web(web_url): pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "\r" not in result.stdout.str() and "opening the run" not in result.stdout.str()


def test_the_stacks_line_says_each_stack_above_a_count_until_the_first_result() -> None:
    written: list[str] = []
    progress = StackProgress(written.append, 3)
    assert not progress.say("the web build: built in 1.00s"), "not shown yet: not said"
    progress.stack_up("gw1", "gw1: stack ready in 1.10s (web 1.00s)")  # before show: kept
    assert written == [], "nothing is written before show()"
    progress.show()
    progress.show()
    progress.stack_up("gw0", "gw0: stack ready in 1.20s (web 1.10s)")
    assert progress.say("the template database: built in 0.50s")
    progress.stack_up("gw3", "gw3: stack failed to start (ExitedBeforeReady)", up=False)
    assert progress.label == "stackwright: 2/3 worker stacks up, 1 failed; the first tests run"
    progress.stop()
    count = len(written)
    progress.stack_up("gw2", "gw2: stack ready in 9.00s (web 9.00s)")
    assert not progress.say("late") and len(written) == count, "nothing after stop()"
    said = [piece.strip("\r\n ") for piece in written if piece.endswith("\n")]
    assert said == [
        "stackwright: gw1: stack ready in 1.10s (web 1.00s)",
        "stackwright: gw0: stack ready in 1.20s (web 1.10s)",
        "stackwright: the template database: built in 0.50s",
        "stackwright: gw3: stack failed to start (ExitedBeforeReady)",
    ]


def test_the_stacks_line_names_the_services_still_starting() -> None:
    progress = StackProgress(lambda text: None, 2, ["backend", "gateway", "frontend"])
    waiting = "stackwright: 0/2 worker stacks up, waiting for"
    assert progress.label == f"{waiting} backend, gateway, frontend"
    progress.service_ready("gw0", "backend")
    progress.service_ready("gw0", "gateway")
    assert progress.label == f"{waiting} backend, gateway, frontend", "gw1: not heard of yet"
    for service in ("backend", "gateway"):
        progress.service_ready("gw1", service)
    assert progress.label == f"{waiting} frontend"
    progress.stack_up("gw0", "gw0: stack failed to start (ReadinessTimeout)", up=False)
    assert progress.label == "stackwright: 0/2 worker stacks up, 1 failed, waiting for frontend"
    progress.service_ready("gw1", "frontend")
    progress.stack_up("gw1", "gw1: stack ready in 3.00s (...)")
    assert progress.label == "stackwright: 1/2 worker stacks up, 1 failed; the first tests run"


#: A service that takes three seconds to answer: its stack's start outlasts pytest's
#: collection, so a test waits for it.
SLOW_INI = """[pytest]
addopts = -p stackwright.fixtures.plugin -p no:cacheprovider -p no:randomly
services = web
web_cmd = sh -c "sleep 3; exec {python} -m http.server {port} --bind {host}"
"""


def _on_a_terminal(folder: Path, *args: str, raw: bool = False) -> str:
    """pytest run in ``folder`` on a pseudo-terminal (not in CI): all it wrote."""
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env.update(COLUMNS="100", TERM="xterm")
    main, side = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=side,
        stderr=side,
    )
    os.close(side)
    out = b""
    with contextlib.suppress(OSError):  # EIO once the run closed the terminal
        while chunk := os.read(main, 65536):
            out += chunk
    os.close(main)
    assert process.wait(timeout=120) == 0, out.decode(errors="replace")
    text = out.decode(errors="replace")
    return text if raw else re.sub(r"\x1b\[[0-9;]*m", "", text)


def _shown_line(text: str) -> str:
    """What a terminal shows on the last line of ``text``: each carriage return writes
    over the line from its start."""
    shown = ""
    for piece in text.rsplit("\n", 1)[-1].split("\r"):
        shown = piece + shown[len(piece) :]
    return shown


def test_under_xdist_the_live_line_counts_the_stacks_until_the_first_result(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=SLOW_INI)
    # Each test outlasts a redraw: the line is drawn again after the stacks' lines.
    test = "import time\n\ndef test_a(web_url):\n    time.sleep(0.5)\n\n"
    pytester.makepyfile(test_web=test + test.replace("test_a", "test_b"))
    out = _on_a_terminal(pytester.path, "-n", "2")
    after_xdist = out.split("2 workers [2 items]", 1)[1]
    first = re.search(r"[\r\n]\.", after_xdist)  # the first result's dot, at a line's start
    assert first, after_xdist
    before_result, result = after_xdist[: first.start() + 1], after_xdist[first.end() :]
    # Counted while it waits (how far the count got before the line showed is timing's).
    assert re.search(r"\rstackwright: [0-2]/2 worker stacks up", before_result), before_result
    assert "worker stacks up, waiting for web " in before_result, "it names what it waits for"
    said = re.search(r"\rstackwright: (gw\d): stack ready in \S+ \(web ", before_result)
    assert said, "a stack's line is said as it comes, before the first result"
    assert not _shown_line(before_result).strip(), "the live line is cleared before the dot"
    assert "worker stacks up" not in result, "nothing is drawn after the first result"
    progress = next(line for line in out.splitlines() if "[100%]" in line)
    assert len(_shown_line(progress).rstrip()) <= 100, "pytest's count of its line is true"
    assert f"{said.group(1)}: stack ready in" in result, "the summary has it too"


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "2", "-v"],
        ["-n", "2", "--stream-logs", "web"],
        ["-n", "0", "-s"],
        ["-n", "0", "-o", "log_cli=true"],
        ["-n", "0", "--stream-logs", "web"],
    ],
    ids=["verbose", "streamed", "no-capture", "live-logging", "streamed-n0"],
)
def test_where_other_lines_come_the_stacks_line_is_not_drawn(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    pytester.makefile(".ini", pytest=SLOW_INI)
    pytester.makepyfile(test_web="def test_a(web_url): pass\n")
    out = _on_a_terminal(pytester.path, *args)
    assert "worker stacks up" not in out and "stack starting" not in out
    assert "1 passed" in out


def test_without_xdist_a_test_waiting_for_the_stack_shows_it_after_its_name(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=SLOW_INI)
    pytester.makepyfile(test_web="def test_a(web_url): pass\n\ndef test_b(web_url): pass\n")
    raw = _on_a_terminal(pytester.path, "-n", "0", raw=True)
    rest = raw.partition("test_web.py ")[2]
    drawn, _, result = rest.rpartition("\x1b[K")  # the last erase: then the first result
    assert drawn.startswith("\x1b7\x1b[K stackwright: main stack starting (web) 0."), drawn[:80]
    assert drawn.endswith("\x1b8"), "the cursor is put back after each draw"
    assert re.match(r"(\x1b\[[0-9;]*m)?\.", result), result[:80]
    assert "stack starting" not in result, "nothing is drawn after the wait"
    line = next(s for s in raw.splitlines() if "[100%]" in s)
    # What the terminal shows: each frame is undone by the cursor's return, then erased.
    progress = re.sub(r"\x1b\[[0-9;]*[mK]", "", re.sub(r"\x1b7.*?\x1b8", "", line))
    assert progress.rstrip().startswith("test_web.py ..") and len(progress.rstrip()) <= 100
