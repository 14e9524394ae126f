"""One line per event on stderr: ``<UTC timestamp> <level> <event> key=value ...``."""

from __future__ import annotations

import re
import sys
import time
from urllib.parse import unquote_plus

_NAMES = {10: "debug", 20: "info", 30: "warn", 40: "error"}
#: A callback URL may carry the backend's secret (``?secret=...``, the key perhaps
#: percent-encoded: ``?sec%72et=``): never log its value.
_QUERY_PAIR = re.compile(r"([?&])([^=&#\s]+)=([^&#\s]*)")


def redact(text: str) -> str:
    if "=" not in text:
        return text
    return _QUERY_PAIR.sub(
        lambda m: f"{m[1]}{m[2]}=[redacted]" if _decoded(m[2]) == "secret" else m[0], text
    )


def _decoded(key: str) -> str:
    for _ in range(4):
        decoded = unquote_plus(key)
        if decoded == key:
            break
        key = decoded
    return key.strip().lower()


class Logger:
    def __init__(self, level: int) -> None:
        self.level = level

    def log(self, level: int, event: str, **fields: object) -> None:
        if level < self.level:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        parts = " ".join(f"{key}={value}" for key, value in fields.items())
        line = f"{stamp}.{int(now % 1 * 1000):03d}Z {_NAMES[level]} {event} {redact(parts)}\n"
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr gone (reader closed): logging must never kill a stream

    def debug(self, event: str, **fields: object) -> None:
        self.log(10, event, **fields)

    def info(self, event: str, **fields: object) -> None:
        self.log(20, event, **fields)

    def warn(self, event: str, **fields: object) -> None:
        self.log(30, event, **fields)

    def error(self, event: str, **fields: object) -> None:
        self.log(40, event, **fields)
