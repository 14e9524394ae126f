"""A tiny service for the harness's tests, run as a real process.

    python fake_service.py --port P --mode ready|exit|hang|ignore-sigterm|spew|busy-port

ready           answer 200 on every path, and log each request
exit            print a few lines and exit 3 before listening
hang            listen, but answer 503 forever
notfound        listen, but answer 404 forever (a wrong readiness path)
ignore-sigterm  like ready, but ignore SIGTERM

In every mode that answers, /page is a page that logs to the console, fetches
?backend=URL, and reads two frames from /events (a Server-Sent Events stream).
FAKE_LOG_STAMPS=1 starts each log line with an ISO 8601 timestamp.
/live-page?Q is a page that holds /live?Q open, a Server-Sent Events stream: when the
page closes, the service logs "NAME live stream closed by the client /live?Q" and calls
FAKE_CALLBACK/closed?Q (when set), as an SSE gateway's disconnect callback does.
spew            write 1 MB to stdout before listening
nolisten        never listen: print "NAME consumer ready" and wait (a queue consumer)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.server
import os
import signal
import sys
import urllib.request

PAGE = """<!doctype html><meta charset="utf-8"><title>fake</title><body>fake page<script>
console.log('fake page loaded');
const backend = new URLSearchParams(location.search).get('backend');
fetch(backend + '/from-the-page', { mode: 'no-cors' }).then(() => {
  const source = new EventSource('/events');
  source.addEventListener('progress', (event) => {
    console.log('progress ' + event.data);
    source.close();
    window.__done = true;
  });
  source.onmessage = (event) => console.log('message ' + event.data);
});
</script></body>"""
EVENTS = "retry: 600000\n\ndata: hello\n\nevent: progress\ndata: 50\n\n"
LIVE_PAGE = """<!doctype html><meta charset="utf-8"><title>live</title><body>live page<script>
const source = new EventSource('/live' + location.search);
source.onmessage = () => { window.__live = true; };
</script></body>"""


def log(text: str) -> None:
    if os.environ.get("FAKE_LOG_STAMPS") == "1":
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        text = f"{now.replace('+00:00', 'Z')} {text}"
    print(text, flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        name = os.environ.get("FAKE_NAME", "fake")
        if self.status == 200 and self.path.startswith("/live?"):
            self._live(name)
            return
        kind, body = "application/json", f'{{"service": "{name}", "path": "{self.path}"}}'.encode()
        if self.status == 200 and self.path.startswith("/live-page"):
            kind, body = "text/html", LIVE_PAGE.encode()
        elif self.status == 200 and self.path.startswith("/page"):
            kind, body = "text/html", PAGE.encode()
        if self.status == 200 and self.path == "/events":
            kind, body = "text/event-stream", EVENTS.encode()
        self.send_response(self.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _live(self, name: str) -> None:
        """A stream held open until the client goes away; then its close is logged and
        called back, after the page that held it has closed."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b"retry: 600000\n\ndata: open\n\n")
        self.wfile.flush()
        self.rfile.read(1)  # b"" once the client closed the connection
        log(f"{name} live stream closed by the client {self.path}")
        callback = os.environ.get("FAKE_CALLBACK")
        if callback:
            query = self.path.partition("?")[2]
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{callback}/closed?{query}", timeout=5).close()

    def log_message(self, fmt: str, *args: object) -> None:
        log(f"{os.environ.get('FAKE_NAME', 'fake')} request {fmt % args}")


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
