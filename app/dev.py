"""``python -m app.dev`` (``make dev``): the three services on fixed local ports.

For a person to click through the app: backend on 5001, SSE gateway on 3001,
Vite on 5173, the catalog analyser, a seeded database in data/dev.sqlite.
Ctrl-C stops all three.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKEND_PORT = int(os.environ.get("DEV_BACKEND_PORT", "5001"))
GATEWAY_PORT = int(os.environ.get("DEV_GATEWAY_PORT", "3001"))
FRONTEND_PORT = int(os.environ.get("DEV_FRONTEND_PORT", "5173"))
DB = ROOT / "data" / "dev.sqlite"


def _pump(name: str, process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    for raw in iter(process.stdout.readline, b""):
        sys.stdout.write(f"[{name}] {raw.decode('utf-8', 'replace')}")
        sys.stdout.flush()


def _start(
    name: str, command: list[str], env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    threading.Thread(target=_pump, args=(name, process), daemon=True).start()
    return process


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # SIGTERM and SIGHUP (a closed terminal) stop the three services like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    backend_url = f"http://127.0.0.1:{BACKEND_PORT}"
    gateway_url = f"http://127.0.0.1:{GATEWAY_PORT}"
    if not DB.exists():
        print(f"creating {DB.relative_to(ROOT)} with the seeded data set")
        init = [sys.executable, "-m", "app.backend", "init-db", "--db", str(DB), "--load-test-data"]
        subprocess.run(init, cwd=ROOT, check=True)
    processes = [
        _start(
            "backend",
            [
                sys.executable,
                "-m",
                "app.backend",
                "serve",
                "--port",
                str(BACKEND_PORT),
                "--db",
                str(DB),
            ],
            {
                "SSE_GATEWAY_URL": gateway_url,
                "AI_PROVIDER": os.environ.get("AI_PROVIDER", "catalog"),
            },
            ROOT,
        ),
        _start(
            "gateway",
            [sys.executable, "-m", "app.gateway"],
            {"PORT": str(GATEWAY_PORT), "CALLBACK_URL": f"{backend_url}/api/sse/callback"},
            ROOT,
        ),
        _start(
            "frontend",
            [
                "node",
                "node_modules/vite/bin/vite.js",
                "--host",
                "127.0.0.1",
                "--port",
                str(FRONTEND_PORT),
                "--strictPort",
            ],
            {"BACKEND_URL": backend_url, "SSE_GATEWAY_URL": gateway_url},
            ROOT / "app" / "frontend",
        ),
    ]
    print(f"\n  Open http://127.0.0.1:{FRONTEND_PORT}/parts  (Ctrl-C stops all three)\n")
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("a service exited; stopping the others", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping")
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
