"""Browser tests: a real `panel serve` / `arena serve` process driven by Debian's Chromium.

Playwright's own browser downloads are not reachable here, so the tests launch
/usr/bin/chromium (installed by .ci/run). With CI=true a missing browser fails
the run instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ARENA_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"browser tests need Chromium at {CHROMIUM} (CI=true: not skipping)")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (run .ci/run to install it)")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-sync"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A served dashboard in a subprocess on 127.0.0.1."""

    def __init__(self, args: list[str], env: dict, port: int, log: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, path: str = "/app", timeout: float = 60) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"server not ready after {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def start_panel_serve(tmp_path: Path, extra_env: dict | None = None) -> Server:
    port = free_port()
    env = {**os.environ, "ARENA_RUN_DIR": str(tmp_path / "runs"), **(extra_env or {})}
    args = [sys.executable, "-m", "panel", "serve", "app.py", "--port", str(port),
            "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    return Server(args, env, port, tmp_path / "server.log")


@pytest.fixture
def served(tmp_path):
    """`panel serve app.py` on the default config (bundled real data), ready."""
    server = start_panel_serve(tmp_path)
    server.ready_seconds = server.wait_ready()
    yield server
    server.stop()
