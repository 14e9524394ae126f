"""Stack boot per worker (parallel vs one service after the other), template build, reset."""

from __future__ import annotations

import shutil
import threading
import time

import requests

from support.config import HarnessConfig
from support.database import build_template
from support.stack import Stack, StartReport

from .common import Figure, median, suite_config

BOOTS = 10
SERVICES = ("backend", "gateway", "frontend")


def _boot_round(config: HarnessConfig, workers: int, *, sequential: bool) -> list[StartReport]:
    reports: list[StartReport] = []
    errors: list[BaseException] = []

    def boot(index: int) -> None:
        stack = Stack(config, worker=f"bench{index}", worker_index=index, sequential=sequential)
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


def boot_figures(config: HarnessConfig) -> list[Figure]:
    figures = []
    targets = {1: 0.8, 2: 1.2}
    for workers in (1, 2):
        results: dict[bool, list[StartReport]] = {False: [], True: []}
        for _ in range(BOOTS):
            for sequential in (False, True):  # interleaved, so drift hits both alike
                results[sequential].extend(_boot_round(config, workers, sequential=sequential))
        label = f"{workers} worker{'s' if workers > 1 else ''} booting at once"
        parallel = [r.total for r in results[False]]
        serial = [r.total for r in results[True]]
        figures.append(
            Figure(
                "stack boot", f"ready, median ({label})", median(parallel), "s", targets[workers]
            )
        )
        figures.append(Figure("stack boot", f"ready, max ({label})", max(parallel), "s"))
        for service in SERVICES:
            values = [r.services[service] for r in results[False]]
            figures.append(
                Figure(
                    "stack boot",
                    f"{service} ready, median / max ({label})",
                    median(values),
                    "s",
                    note=f"max {max(values):.2f} s",
                )
            )
        figures.append(
            Figure(
                "stack boot",
                f"one service after the other, median ({label})",
                median(serial),
                "s",
                note=f"max {max(serial):.2f} s; as the TypeScript harness started them",
            )
        )
        figures.append(
            Figure(
                "stack boot",
                f"sequential / parallel ({label})",
                median(serial) / median(parallel),
                "x",
            )
        )
    return figures


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


def reset_figures(config: HarnessConfig) -> list[Figure]:
    with Stack(config, worker="bench-reset") as stack:
        session = requests.Session()
        round_trips, server = [], []
        for _ in range(20):
            session.delete(f"{stack.backend_url}/api/parts/RLAY", timeout=5)
            started = time.perf_counter()
            answer = session.post(f"{stack.backend_url}/api/testing/reset", timeout=5)
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
    shutil.rmtree(config.services_dir, ignore_errors=True)
    build_template(config)
    return [*boot_figures(config), *template_figures(config), *reset_figures(config)]
