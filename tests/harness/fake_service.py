"""A tiny service for the harness's tests, run as a real process.

    python fake_service.py --port P --mode ready|exit|hang|ignore-sigterm|spew|busy-port

ready           answer 200 on every path, and log each request
exit            print a few lines and exit 3 before listening
hang            listen, but answer 503 forever
notfound        listen, but answer 404 forever (a wrong readiness path)
ignore-sigterm  like ready, but ignore SIGTERM
spew            write 1 MB to stdout before listening
nolisten        never listen: print "NAME consumer ready" and wait (a queue consumer)
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        name = os.environ.get("FAKE_NAME", "fake")
        body = f'{{"service": "{name}", "path": "{self.path}"}}'.encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{os.environ.get('FAKE_NAME', 'fake')} request {fmt % args}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="ready")
    args = parser.parse_args()
    name = os.environ.get("FAKE_NAME", "fake")
    print(f"{name} starting on port {args.port} mode={args.mode}", flush=True)
    print(f"{name} env FAKE_URLS={os.environ.get('FAKE_URLS', '')}", flush=True)
    if args.mode == "exit":
        print(f"{name} fatal: configuration is broken", file=sys.stderr, flush=True)
        return 3
    if args.mode == "nolisten":
        print(f"{name} consumer ready", flush=True)
        signal.pause()
        return 0
    if args.mode == "spew":
        line = "x" * 1023 + "\n"
        sys.stdout.write(line * 1024)
        sys.stdout.flush()
    if args.mode == "ignore-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.mode == "hang":
        Handler.status = 503
    if args.mode == "notfound":
        Handler.status = 404
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    except OSError as exc:
        print(f"{name} cannot listen on {args.port}: {exc}", flush=True)
        return 1
    print(f"{name} listening", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
