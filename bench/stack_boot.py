"""Stack boot per worker (preloaded, exec, one service after the other), template, reset."""

from __future__ import annotations

import os
import sys
import threading
import time

import requests

from stackwright.support.config import HarnessConfig, RunFacts
from stackwright.support.processes import PreloadServer, Stack, StartReport, spawn, start_servers
from stackwright.support.steps import build_template

from .common import Figure, bench_facts, median, run_steps, suite_config

BOOTS = 10
SERVICES = ("backend", "gateway", "frontend")


def boot_round(
    config: HarnessConfig, facts: RunFacts, workers: int, *, sequential: bool
) -> list[StartReport]:
    reports: list[StartReport] = []
    errors: list[BaseException] = []

    def boot(index: int) -> None:
        stack = Stack(
            config, facts, worker=f"bench{index}", worker_index=index, sequential=sequential
        )
        try:
            stack.start()
            reports.append(stack.report)
        except BaseException as exc:  # reported below, with the round
            errors.append(exc)
        finally:
            stack.stop()

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return reports


#: The ways a stack is started, interleaved round by round so machine drift hits all alike.
VARIANTS = {
    "preload": "parallel, Python services forked by the preload server (the default)",
    "exec": "parallel, every service started with exec (PLAYWRIGHT_PRELOAD=false)",
    "sequential": "one service after the other with exec, as the TypeScript harness did",
}


def boot_figures(config: HarnessConfig, facts: RunFacts, preloaded: RunFacts) -> list[Figure]:
    figures = []
    targets = {1: 0.8, 2: 1.2}
    variant_facts = {"preload": preloaded, "exec": facts, "sequential": facts}
    for workers in (1, 2):
        results: dict[str, list[StartReport]] = {variant: [] for variant in VARIANTS}
        for _ in range(BOOTS):
            for variant in VARIANTS:
                results[variant].extend(
                    boot_round(
                        config, variant_facts[variant], workers, sequential=variant == "sequential"
                    )
                )
        label = f"{workers} worker{'s' if workers > 1 else ''} booting at once"
        parallel = [r.total for r in results["preload"]]
        assert all(r.preloaded == {"backend", "gateway"} for r in results["preload"]), (
            "the preload server did not start the Python services"
        )
        figures.append(
            Figure(
                "stack boot", f"ready, median ({label})", median(parallel), "s", targets[workers]
            )
        )
        figures.append(Figure("stack boot", f"ready, max ({label})", max(parallel), "s"))
        for service in SERVICES:
            values = [r.services[service] for r in results["preload"]]
            figures.append(
                Figure(
                    "stack boot",
                    f"{service} ready, median / max ({label})",
                    median(values),
                    "s",
                    note=f"max {max(values):.2f} s",
                )
            )
        for variant in ("exec", "sequential"):
            totals = [r.total for r in results[variant]]
            figures.append(
                Figure(
                    "stack boot",
                    f"ready, median, {variant} ({label})",
                    median(totals),
                    "s",
                    note=f"{VARIANTS[variant]}; max {max(totals):.2f} s",
                )
            )
        figures.append(
            Figure(
                "stack boot",
                f"sequential exec / default ({label})",
                median([r.total for r in results["sequential"]]) / median(parallel),
                "x",
            )
        )
    return figures


def preload_figures(config: HarnessConfig) -> tuple[dict[str, PreloadServer], list[Figure]]:
    """Start the run's preload servers, as the controller does; time until one can fork."""
    started = time.perf_counter()
    servers, reasons = start_servers(config, os.environ)
    assert servers, f"playwright.ini preloads no service: {reasons}"
    server = next(iter(servers.values()))
    # A request waits in the backlog until the imports are done: time one.
    read_fd, write_fd = os.pipe()
    try:
        child = spawn(
            server.address,
            [sys.executable, "-m", "json.tool", "--help"],
            cwd=config.root,
            env=os.environ,
            output_fd=write_fd,
        )
    finally:
        os.close(write_fd)
        os.close(read_fd)
    child.wait(30)
    seconds = time.perf_counter() - started
    figure = Figure(
        "stack boot",
        "preload server ready to fork (once per run, beside the template build)",
        seconds,
        "s",
        note="; ".join(f"{name}: {' '.join(config.service(name).preload)}" for name in servers),
    )
    return servers, [figure]


def template_figures(config: HarnessConfig) -> list[Figure]:
    times = []
    for _ in range(5):
        config.template_path.unlink(missing_ok=True)
        seconds = build_template(config)
        assert seconds is not None
        times.append(seconds)
    return [
        Figure(
            "database",
            "template build (init-db --load-test-data), median of 5",
            median(times),
            "s",
            0.5,
            note=f"max {max(times):.2f} s",
        )
    ]


def reset_figures(config: HarnessConfig, facts: RunFacts) -> list[Figure]:
    with Stack(config, facts, worker="bench-reset") as stack:
        session = requests.Session()
        round_trips, server = [], []
        for _ in range(20):
            session.delete(stack.url("backend") + "/api/parts/RLAY", timeout=5)
            started = time.perf_counter()
            answer = session.post(stack.url("backend") + "/api/testing/reset", timeout=5)
            round_trips.append(time.perf_counter() - started)
            server.append(answer.json()["duration_ms"])
        session.close()
    return [
        Figure(
            "database",
            "fresh_db reset, request round trip, median of 20",
            median(round_trips) * 1000,
            "ms",
            100,
            note=f"backend side {median(server):.1f} ms; max {max(round_trips) * 1000:.1f} ms",
        ),
    ]


def run() -> list[Figure]:
    config = suite_config()
    run_steps(config)  # the template and the frontend build every worker uses
    servers, figures = preload_figures(config)
    try:
        addresses = {name: server.address for name, server in servers.items()}
        facts = bench_facts()
        preloaded = facts.learned(preload_addresses=addresses)
        figures += boot_figures(config, facts, preloaded)
        figures += template_figures(config)
        figures += reset_figures(config, preloaded)
    finally:
        for server in servers.values():
            server.stop()
    return figures
