"""Services and processes: spawning with exec or from a preload server, readiness,
ports, health, each worker's (or the run's) stack, its log files, and the watch on
the run's services. Imports configuration only."""

from __future__ import annotations

from stackwright.support.processes.database import (
    publish_template_failure,
    reset_database,
    wait_for_template,
)
from stackwright.support.processes.groups import kill_group, stop_group
from stackwright.support.processes.logs import LogFollower, LogMarks, LogSlice
from stackwright.support.processes.ports import PortAllocator, choose_run_base
from stackwright.support.processes.preload import PreloadServer, spawn, start_servers
from stackwright.support.processes.relay import LinePrinter, RelayClient, RelayServer
from stackwright.support.processes.run_watch import RunServicesView, RunWatch, state_path
from stackwright.support.processes.stack import Stack, StartReport

__all__ = [
    "LinePrinter",
    "LogFollower",
    "LogMarks",
    "LogSlice",
    "PortAllocator",
    "PreloadServer",
    "RelayClient",
    "RelayServer",
    "RunServicesView",
    "RunWatch",
    "Stack",
    "StartReport",
    "choose_run_base",
    "kill_group",
    "publish_template_failure",
    "reset_database",
    "spawn",
    "start_servers",
    "state_path",
    "stop_group",
    "wait_for_template",
]
