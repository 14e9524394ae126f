"""The browser side: finding Chromium, videos, the page policy, the page's recorder
and test events, and browsers from a Playwright browser server."""

from __future__ import annotations

from stackwright.support.browser.chromium import (
    find_chromium,
    managed_chromium_path,
    managed_revisions,
    network_processes,
)
from stackwright.support.browser.events import TestEventBuffer
from stackwright.support.browser.page_policy import ExpectConsoleError, PagePolicy
from stackwright.support.browser.page_record import PageRecorder
from stackwright.support.browser.remote import check_server, connect_options, remote_launch_args
from stackwright.support.browser.video import video_problem

__all__ = [
    "ExpectConsoleError",
    "PagePolicy",
    "PageRecorder",
    "TestEventBuffer",
    "check_server",
    "connect_options",
    "find_chromium",
    "managed_chromium_path",
    "managed_revisions",
    "network_processes",
    "remote_launch_args",
    "video_problem",
]
