"""The README's "A first test", run as it is written there: if the README changes, this
runs the new text; if it stops working, the README is wrong."""

from __future__ import annotations

import re
from pathlib import Path

_README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
_FIRST_TEST = _README.split("## A first test", 1)[1]
_BLOCK = re.search(r"^```python\n(.*?)^```", _FIRST_TEST, re.M | re.S)
assert _BLOCK is not None, "README.md's 'A first test' has no python block"
exec(compile(_BLOCK.group(1), "README.md (A first test)", "exec"))
