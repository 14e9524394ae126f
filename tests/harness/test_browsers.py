"""Finding Chromium, and saying what to do when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.support.browser import chromium as browsers
from stackwright.support.browser.chromium import BrowserChoice, find_chromium
from stackwright.support.errors import BrowserNotFound


def test_explicit_executable_wins(tmp_path: Path) -> None:
    chrome = tmp_path / "chrome"
    chrome.write_text("")
    choice = find_chromium(explicit=str(chrome), managed_path=str(chrome), is_root=True)
    assert isinstance(choice, BrowserChoice)
    assert choice.executable == str(chrome)
    assert "--no-sandbox" in choice.args
    assert "--disable-background-networking" in choice.args


def test_missing_explicit_executable_is_reported() -> None:
    assert find_chromium(explicit="/nope/chrome") == [
        "PLAYWRIGHT_CHROMIUM_EXECUTABLE=/nope/chrome (not found)"
    ]


def test_playwright_managed_before_system(tmp_path: Path) -> None:
    managed = tmp_path / "chrome"
    managed.write_text("")
    choice = find_chromium(managed_path=str(managed), is_root=False)
    assert choice == BrowserChoice(None, "playwright", ())


def test_headless_shell_first_when_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browsers.shutil, "which", lambda name: f"/usr/bin/{name}")
    headless = find_chromium(managed_path="/missing/chrome", headless=True)
    headed = find_chromium(managed_path="/missing/chrome", headless=False)
    assert isinstance(headless, BrowserChoice) and isinstance(headed, BrowserChoice)
    assert headless.executable == "/usr/bin/chromium-headless-shell"
    assert headed.executable == "/usr/bin/chromium"


def test_system_chromium_gets_adapted_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        browsers.shutil, "which", lambda name: "/usr/bin/chromium" if name == "chromium" else None
    )
    choice = find_chromium(managed_path="/missing/chrome", is_root=False)
    assert isinstance(choice, BrowserChoice)
    assert choice.executable == "/usr/bin/chromium"
    assert "--no-sandbox" not in choice.args
    assert "--disable-gpu" in choice.args


def test_none_found_says_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browsers.shutil, "which", lambda name: None)
    looked = find_chromium(managed_path="/missing/chrome")
    assert isinstance(looked, list)
    text = str(BrowserNotFound(looked))
    assert "/missing/chrome (Playwright-managed, not installed)" in text
    assert "chromium on PATH" in text
    for command in (
        "python -m stackwright.support.browser.setup",
        "python -m playwright install chromium",
        "apt-get install -y chromium",
        "PLAYWRIGHT_CHROMIUM_EXECUTABLE",
    ):
        assert command in text


def test_a_missing_ffmpeg_is_named_and_a_system_one_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackwright.support.browser import video

    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    expected = video.ffmpeg_path()
    assert expected is not None and expected.parent.parent == tmp_path
    problem = video.video_problem()
    assert problem and f"not at {expected}" in problem and "apt-get install ffmpeg" in problem
    monkeypatch.setattr(video.shutil, "which", lambda name: None)
    assert video.provide_ffmpeg().startswith("video: unavailable (no video: ")
    system = tmp_path / "system-ffmpeg"
    system.write_text("#!/bin/sh\n")
    monkeypatch.setattr(video.shutil, "which", lambda name: str(system))
    assert video.provide_ffmpeg() == f"video: linked {system} at {expected}"
    assert expected.resolve() == system and video.video_problem() is None
    assert video.provide_ffmpeg() == "video: ready"
