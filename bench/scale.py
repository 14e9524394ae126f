"""The scale profile: generated apps the size of a real team's, through the harness.

- A Vite + React + React Router UI of N modules (N = 50, 300, 1000), every module
  reachable from the first page, served per worker by the dev server or from the
  run's build: first page load (a new server, a new context) and later loads.
- A Python service whose imports take about 3 s of CPU, in its own virtualenv on
  another interpreter: ready per worker with exec and with the preload server.
- A seeded template that takes about 3 s: the template and the frontend build with
  a cold and a warm cache, as a rerun with unchanged inputs sees them.

Dependencies (React, React Router, Vite) are installed once into bench/.deps/scale
by npm; the apps themselves are generated into bench/.work on every run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from stackwright.support.config import HarnessConfig, Sources, resolve_config
from stackwright.support.processes import Stack, start_servers

from .browser import launch
from .common import ROOT, WORK, Figure, bench_facts, median, run_steps
from .stack_boot import boot_round

SIZES = (50, 300, 1000)
PROFILE = 300
LATER_LOADS = 5
DEPS = ROOT / "bench" / ".deps" / "scale"
PACKAGE = {
    "name": "stackwright-bench-scale",
    "private": True,
    "type": "module",
    "dependencies": {"react": "^19.2.0", "react-dom": "^19.2.0", "react-router": "^7.9.0"},
    "devDependencies": {"vite": "7.3.8"},
}
IMPORT_SECONDS = 3.0

VITE = "node ../node_modules/vite/bin/vite.js"
FRONTEND_INI: dict[str, Any] = {
    "services": "frontend",
    "frontend_build": VITE + " build --outDir {build} --emptyOutDir --logLevel warn",
    "frontend_build_inputs": "src index.html vite.config.js ../package-lock.json",
    "frontend_cmd": VITE + " preview --outDir {build} --host {host} --port {port} --strictPort",
    "frontend_ready": "http /",
    "frontend_dev_cmd": VITE + " --host {host} --port {port} --strictPort",
    "frontend_dev_build": VITE + " optimize --logLevel warn",
    "frontend_dev_env": ["VITE_CACHE_DIR={build}"],
}


# -- the generated UI ---------------------------------------------------------------


def install_deps() -> None:
    """npm install React, React Router and Vite once (again only when the list changes)."""
    DEPS.mkdir(parents=True, exist_ok=True)
    wanted = json.dumps(PACKAGE, indent=1)
    stamp = DEPS / "node_modules" / ".stackwright-bench"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    (DEPS / "package.json").write_text(wanted)
    print("    npm install (React, React Router, Vite) into bench/.deps/scale", flush=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEPS, check=True
    )
    stamp.write_text(wanted)


def generate_ui(modules: int) -> Path:
    """An app of ``modules`` component modules in a tree, each importing two more."""
    app = DEPS / f"app-{modules}"
    shutil.rmtree(app, ignore_errors=True)
    (app / "src" / "components").mkdir(parents=True)
    (app / "index.html").write_text(
        '<!doctype html><html><head><meta charset="UTF-8"><title>scale</title></head>'
        '<body><div id="root"></div><script type="module" src="/src/main.jsx"></script>'
        "</body></html>\n"
    )
    (app / "vite.config.js").write_text(
        "import { defineConfig } from 'vite'\n"
        "// The JSX runtime is imported by the transform, not the source: listed here as\n"
        "// @vitejs/plugin-react would, so the pre-bundled dependencies are complete.\n"
        "export default defineConfig({ esbuild: { jsx: 'automatic' }, clearScreen: false,\n"
        "  optimizeDeps: { include: ['react/jsx-dev-runtime', 'react/jsx-runtime'] },\n"
        "  cacheDir: process.env.VITE_CACHE_DIR || 'node_modules/.vite' })\n"
    )
    (app / "src" / "main.jsx").write_text(
        "import { useEffect } from 'react'\n"
        "import { createRoot } from 'react-dom/client'\n"
        "import { BrowserRouter, Routes, Route, Link, useParams } from 'react-router'\n"
        "import Comp0 from './components/Comp0.jsx'\n"
        "function Ready({ children }) {\n"
        "  useEffect(() => { document.getElementById('root').dataset.ready = 'yes' }, [])\n"
        "  return children\n}\n"
        "function Item() { const { id } = useParams(); return <Ready><h1>item {id}</h1>"
        "<Comp0 depth={0} /></Ready> }\n"
        "function Home() { return <Ready><Link to='/items/1'>item</Link><Comp0 depth={0} />"
        "</Ready> }\n"
        "createRoot(document.getElementById('root')).render(<BrowserRouter><Routes>"
        "<Route path='/' element={<Home />} /><Route path='/items/:id' element={<Item />} />"
        "</Routes></BrowserRouter>)\n"
    )
    for index in range(modules):
        children = [c for c in (2 * index + 1, 2 * index + 2) if c < modules]
        imports = "".join(f"import Comp{c} from './Comp{c}.jsx'\n" for c in children)
        rendered = "".join(f"<Comp{c} depth={{depth + 1}} />" for c in children)
        (app / "src" / "components" / f"Comp{index}.jsx").write_text(
            f"import {{ useState }} from 'react'\n{imports}"
            f"export default function Comp{index}({{ depth }}) {{\n"
            "  const [open, setOpen] = useState(depth < 3)\n"
            f"  return <section data-c='{index}' onClick={{() => setOpen(!open)}}>"
            f"<span>component {index}</span>{{open && <>{rendered}</>}}</section>\n}}\n"
        )
    return app


def _config(app: Path, output: Path, cache: Path, ini: dict[str, Any], **env: str) -> HarnessConfig:
    ini = {**ini, "step_cache_dir": str(cache)}
    sources = Sources(app, str(output), {}, {**os.environ, **env}, ini)
    return replace(resolve_config(sources), output_dir=str(output))


def _load(browser: Browser, url: str) -> float:
    context = browser.new_context(base_url=url)
    page = context.new_page()
    started = time.perf_counter()
    page.goto("/items/7")
    page.wait_for_selector("#root[data-ready=yes]")
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def ui_figures(browser: Browser) -> list[Figure]:
    figures = []
    for modules in SIZES:
        app = generate_ui(modules)
        for mode in ("build", "dev"):
            env = {"PLAYWRIGHT_DEV_SERVICES": "frontend"} if mode == "dev" else {}
            output = WORK / f"scale-{modules}-{mode}"
            config = _config(app, output, WORK / "scale-cache", FRONTEND_INI, **env)
            step_seconds, lines = run_steps(config, "clear")
            with Stack(config, bench_facts(), worker="scale") as stack:
                ready = stack.report.total
                first = _load(browser, stack.url("frontend"))
                later = [_load(browser, stack.url("frontend")) for _ in range(LATER_LOADS)]
            what = "vite build" if mode == "build" else "vite optimize (dependencies, once)"
            target = mode == "build" and modules == PROFILE
            group = f"scale: UI, {modules} modules"
            figures += [
                Figure(group, f"{mode}: {what} per run, cold cache", step_seconds, "s"),
                Figure(group, f"{mode}: frontend ready per worker", ready, "s"),
                Figure(
                    group,
                    f"{mode}: first page load (new server, new context)",
                    first * 1000,
                    "ms",
                    500 if target else None,
                    note="goto /items/7 until React rendered",
                ),
                Figure(
                    group,
                    f"{mode}: later page load (median of {LATER_LOADS}, new context each)",
                    median(later) * 1000,
                    "ms",
                    400 if target else None,
                ),
            ]
            print(f"    {modules} modules, {mode}: {lines[0]}", flush=True)
    return figures


# -- the slow Python service and the slow seed --------------------------------------------


SLOW_INIT = f'''"""Imports that take about {IMPORT_SECONDS:g} s of CPU (a big backend)."""
import hashlib, time
_until = time.process_time() + {IMPORT_SECONDS}
_digest = b""
while time.process_time() < _until:
    _digest = hashlib.sha256(_digest).digest()
'''
SLOW_MAIN = """import argparse, http.server
import slowapp  # the expensive imports

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")

parser = argparse.ArgumentParser(); parser.add_argument("--port", type=int)
http.server.ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
"""
SLOW_SEED = f"""import sqlite3, sys, time
_until = time.process_time() + {IMPORT_SECONDS}
n = 0
while time.process_time() < _until:
    n += 1
db = sqlite3.connect(sys.argv[1])
db.execute("create table seeded (n integer)"); db.execute("insert into seeded values (?)", (n,))
db.commit()
"""


def _interpreter() -> str:
    """Another Python for the service's own virtualenv: pyenv's 3.12, else this one."""
    try:
        prefix = subprocess.run(
            ["pyenv", "prefix", "3.12"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return str(Path(prefix, "bin", "python3"))
    except (OSError, subprocess.CalledProcessError):
        return sys.executable


def generate_backend() -> Path:
    backend = WORK / "slow-backend"
    (backend / "slowapp").mkdir(parents=True)
    (backend / "slowapp" / "__init__.py").write_text(SLOW_INIT)
    (backend / "slowapp" / "__main__.py").write_text(SLOW_MAIN)
    (backend / "seed.py").write_text(SLOW_SEED)
    subprocess.run(
        [_interpreter(), "-m", "venv", "--without-pip", str(backend / "venv")], check=True
    )
    return backend


BACKEND_INI: dict[str, Any] = {
    "services": "backend",
    "backend_cmd": "{python} -m slowapp --port {port}",
    "backend_python": "venv/bin/python",
    "backend_preload": "slowapp",
    "backend_ready": "http /",
    "template_db_cmd": "{python} seed.py {db}",
    "template_db_inputs": "seed.py",
}


def backend_figures() -> list[Figure]:
    backend = generate_backend()
    cache = WORK / "scale-cache"
    exec_config = _config(
        backend, WORK / "slow-exec", cache, BACKEND_INI, PLAYWRIGHT_PRELOAD="false"
    )
    config = _config(backend, WORK / "slow-preload", cache, BACKEND_INI)
    for each in (exec_config, config):
        run_steps(each)  # the template every worker copies
    servers, reasons = start_servers(config, os.environ)
    assert "backend" in servers, reasons
    preloaded = bench_facts(preload_addresses={"backend": servers["backend"].address})
    plain = bench_facts()
    figures = []
    try:
        for workers in (1, 2):
            totals: dict[str, list[float]] = {"preload": [], "exec": []}
            for _ in range(3):
                variants = (("preload", config, preloaded), ("exec", exec_config, plain))
                for variant, chosen, facts in variants:
                    totals[variant] += [
                        r.total for r in boot_round(chosen, facts, workers, sequential=False)
                    ]
            label = f"{workers} worker{'s' if workers > 1 else ''} at once"
            figures.append(
                Figure(
                    "scale: backend",
                    f"{IMPORT_SECONDS:g} s-import backend ready per worker, preloaded ({label})",
                    median(totals["preload"]),
                    "s",
                    1.0,
                    note=f"own virtualenv ({Path(_interpreter()).parent.parent.name}); "
                    f"max {max(totals['preload']):.2f} s",
                )
            )
            figures.append(
                Figure(
                    "scale: backend",
                    f"{IMPORT_SECONDS:g} s-import backend ready per worker, exec ({label})",
                    median(totals["exec"]),
                    "s",
                )
            )
    finally:
        for server in servers.values():
            server.stop()
    return figures


def cache_figures() -> list[Figure]:
    """Template (a 3 s seed) and the 300-module build: cold, then warm, as a rerun sees them."""
    backend, app = WORK / "slow-backend", DEPS / f"app-{PROFILE}"
    cache = WORK / "scale-cache"
    template = _config(backend, WORK / "steps-template", cache, BACKEND_INI)
    build = _config(app, WORK / "steps-build", cache, FRONTEND_INI)
    cold = run_steps(template, "clear")[0] + run_steps(build)[0]
    warm_runs = [run_steps(template)[0] + run_steps(build)[0] for _ in range(5)]
    lines = run_steps(template)[1] + run_steps(build)[1]
    assert all("from the cache" in line for line in lines), lines
    return [
        Figure(
            "scale: cache",
            f"template ({IMPORT_SECONDS:g} s seed) + {PROFILE}-module build, cold cache",
            cold,
            "s",
        ),
        Figure(
            "scale: cache",
            f"template + {PROFILE}-module build, warm cache (median of 5 reruns)",
            median(warm_runs),
            "s",
            0.3,
            note="inputs hashed, outputs checked and copied into the run's folder",
        ),
    ]


def run() -> list[Figure]:
    install_deps()
    figures: list[Figure] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        figures += ui_figures(browser)
        browser.close()
    figures += backend_figures()
    figures += cache_figures()
    return figures
