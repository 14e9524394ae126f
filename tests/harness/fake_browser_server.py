"""A stand-in for a Playwright browser server of another version, run as a real process.

    python fake_browser_server.py PORT SERVER_VERSION

It answers every WebSocket upgrade as ``playwright run-server`` answers a client of
another major.minor version: 428, with Playwright's own message.
"""

from __future__ import annotations

import http.server
import sys

MESSAGE = """Playwright version mismatch:
  - server version: v{server}
  - client version: v{client}

If you are connecting to a remote service,
keep your local Playwright version in sync
with the remote service version.
"""


class Handler(http.server.BaseHTTPRequestHandler):
    server_version_text = "0.0"

    def do_GET(self) -> None:
        agent = self.headers.get("User-Agent", "")
        client = agent.split("/", 1)[1].split(" ", 1)[0] if agent.startswith("Playwright/") else "?"
        body = MESSAGE.format(server=self.server_version_text, client=client).encode()
        self.send_response(428)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"fake browser server: {fmt % args}", flush=True)


def main() -> int:
    port, version = int(sys.argv[1]), sys.argv[2]
    Handler.server_version_text = version
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"Listening on ws://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
