"""How the harness shortens what it shows: a long line, a log's tail, a process's end.

The base of the library: it imports nothing of the harness, so errors, logs and the
timeline say these things one way.
"""

from __future__ import annotations

import signal

#: A line longer than this is shortened in a tail shown on the terminal or in a report.
TAIL_LINE_CHARS = 500
#: The most a tail shows, whatever its number of lines.
TAIL_CHARS = 16_000


def shorten(line: str, limit: int = TAIL_LINE_CHARS) -> str:
    """``line``, cut to ``limit`` characters with a note of how many were left out."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]} [... {len(line) - limit} more characters of this line]"


def bounded_tail(text: str, lines: int) -> list[str]:
    """The last ``lines`` lines of ``text``, bounded in size as well as in lines.

    A service that writes one 10 MB line without a newline must not put
    megabytes on the terminal for every failing test: each line is cut to
    ``TAIL_LINE_CHARS`` and the whole tail to about ``TAIL_CHARS``.
    """
    shown: list[str] = []
    budget = TAIL_CHARS
    for line in reversed(text.splitlines()[-lines:]):
        line = shorten(line)
        budget -= len(line) + 1
        if budget < 0:
            shown.append(f"[... earlier lines left out: a tail shows {TAIL_CHARS} characters]")
            break
        shown.append(line)
    return shown[::-1]


def describe_exit(code: int) -> str:
    """``exited with code 3``, or ``was killed by SIGKILL`` for a negative code."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit code {code})"
    return f"exited with code {code}"
