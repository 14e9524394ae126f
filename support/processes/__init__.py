"""Services and processes: spawning with exec or from a preload server, readiness,
ports, health, each worker's (or the run's) stack, its log files, the watch on the
run's services, and the one channel the harness's processes talk over. Imports
configuration and the database seam only."""

from __future__ import annotations

from stackwright.support.processes.channel import (
    Channel,
    ChannelServer,
    Connection,
    abstract_address,
)
from stackwright.support.processes.groups import kill_group, stop_group
from stackwright.support.processes.logs import WORKER_NAME, LogFollower, LogMarks, LogSlice
from stackwright.support.processes.ports import PortAllocator, choose_run_base
from stackwright.support.processes.preload import PreloadServer, spawn, start_servers
from stackwright.support.processes.relay import LinePrinter, RelayClient
from stackwright.support.processes.run_watch import RunServicesView, RunWatch
from stackwright.support.processes.stack import Stack, StartReport

__all__ = [
    "WORKER_NAME",
    "Channel",
    "ChannelServer",
    "Connection",
    "LinePrinter",
    "LogFollower",
    "LogMarks",
    "LogSlice",
    "PortAllocator",
    "PreloadServer",
    "RelayClient",
    "RunServicesView",
    "RunWatch",
    "Stack",
    "StartReport",
    "abstract_address",
    "choose_run_base",
    "kill_group",
    "spawn",
    "start_servers",
    "stop_group",
]
