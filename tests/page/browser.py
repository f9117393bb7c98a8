"""The real page in headless Chromium: a Streamlit server on loopback answering with the Chat
Completions double, and a browser whose microphone plays a WAV file
(see ../shared/recipes/browser-e2e.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SETTINGS_TO_CLEAR = ("OPENAI_", "AZURE_", "VOICEDESK_", "SQL_", "JIRA_")


def missing() -> str | None:
    """Why the real-browser test cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def require_browser() -> None:
    """Skip where the real browser cannot run; with CI=true that is a failure, not a skip."""
    reason = missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real-browser test cannot run: {reason}")
        pytest.skip(reason)


def settle(page, timeout_ms: int = 30_000) -> None:
    """Wait until the page's run is over (no element left stale from the previous run)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')", timeout=timeout_ms
    )
    page.wait_for_timeout(300)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PageServer:
    """`streamlit run serve.py` (what `make run` starts: the page and its stream socket) on
    127.0.0.1 with the given settings; stopped by its PID."""

    def __init__(self, workdir: Path, settings: dict[str, str], script: Path = ROOT / "serve.py"):
        self.port = free_port()
        self.log_path = workdir / "streamlit.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_TO_CLEAR)}
        env.update(settings, VOICEDESK_NO_CONFIG_FILES="1")
        no_secrets = workdir / "secrets.toml"  # never the developer's own (no sign-in here)
        command = [
            sys.executable, "-m", "streamlit", "run", str(script),
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
            "--secrets.files", str(no_secrets),
        ]  # fmt: skip
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "_stcore/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"streamlit did not start: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def launch_chromium(playwright, microphone_wav: Path):
    """Chromium with a fake microphone that plays `microphone_wav` once, then silence."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone_wav}%noloop",
        ],
    )  # fmt: skip


def screenshots_dir() -> Path:
    path = ROOT / "test-output" / "page"
    path.mkdir(parents=True, exist_ok=True)
    return path
