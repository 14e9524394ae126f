"""``.env.test``: the environment a run (or ``stackwright up``) starts from.

The real environment wins over the file: a variable already set is never replaced.
The file is untrusted text: a NUL byte or bytes that are not UTF-8 are named, with
where they are, instead of failing deep inside a parser.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from stackwright.support.errors import ConfigError

ENV_FILE = ".env.test"


def run_environment(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``root``'s .env.test under the real environment; ConfigError naming the fix."""
    env_file = root / ENV_FILE
    try:
        data = env_file.read_bytes() if env_file.exists() else b""
    except OSError as exc:
        raise ConfigError(f"cannot read {env_file}: {exc.strerror}") from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise ConfigError(
            f"{env_file} holds a NUL byte on line {line}, which no environment variable "
            "can carry; remove it (was the file saved as UTF-16?)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{env_file} is not valid UTF-8 (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8, or remove that byte"
        ) from None
    values = dotenv_values(stream=io.StringIO(text)) if data else {}
    from_file = {k: v for k, v in values.items() if v is not None}
    return {**from_file, **(os.environ if environ is None else environ)}
