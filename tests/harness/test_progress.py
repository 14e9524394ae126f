"""The live line: elapsed time on a terminal while the run opens, plain lines elsewhere."""

from __future__ import annotations

import threading

import pytest

from stackwright.support.progress import LiveLine

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
