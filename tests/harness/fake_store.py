"""A tiny object store for the harness's tests, run as a real process.

    python fake_store.py --port P --data FOLDER

PUT /NAME keeps the body as FOLDER/NAME; GET /NAME answers it (404 when missing);
GET /ready answers 200. Every object is a plain file, so the folder is the store.
"""

from __future__ import annotations

import argparse
import http.server
import re
from pathlib import Path

NAME = re.compile(r"^/([a-z0-9][a-z0-9._-]*)$")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    folder: Path = args.data

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/ready":
                self._answer(200, b"ready")
                return
            match = NAME.match(self.path)
            path = folder / match.group(1) if match else None
            if path is None or not path.is_file():
                self._answer(404, b"no such object")
                return
            self._answer(200, path.read_bytes())

        def do_PUT(self) -> None:
            match = NAME.match(self.path)
            if match is None:
                self._answer(400, b"bad name")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            (folder / match.group(1)).write_bytes(body)
            self._answer(201, b"stored")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *values: object) -> None:
            print(f"store {fmt % values}", flush=True)

    print(f"store starting on port {args.port} with {folder}", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
