"""A module the preload tests run as ``python -m tests.harness.preload_probe``.

preload_probe report EXIT_CODE   print what the process looks like, then exit
preload_probe sleep              print the pid, then sleep until stopped
"""

from __future__ import annotations

import json
import os
import sys
import time

from . import preload_marker


def main(argv: list[str]) -> int:
    if argv[0] == "sleep":
        print(json.dumps({"pid": os.getpid()}), flush=True)
        while True:
            time.sleep(1)
    report = {
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "probe_var": os.environ.get("PROBE_VAR"),
        "pid": os.getpid(),
        "session_leader": os.getsid(0) == os.getpid(),
        "stdin": sys.stdin.read(),
        "marker_imported_in": preload_marker.IMPORTED_IN,
        "dont_write_bytecode": sys.dont_write_bytecode,
    }
    print(json.dumps(report), flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    return int(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
