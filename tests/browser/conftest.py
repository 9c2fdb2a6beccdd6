"""Browser tests: a real `panel serve` / `arena serve` process driven by Debian's Chromium.

Playwright's own browser downloads are not reachable here, so the tests launch
/usr/bin/chromium (installed by .ci/run). With CI=true a missing browser fails
the run instead of skipping it.

The fixtures below serve the dashboard (``served``: `panel serve app.py`;
``arena_server``: `arena serve`, one per test module) and open it in a page
(``dashboard``); the helpers they use are in support.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser.support import ROOT, Dashboard, start_arena_serve, start_panel_serve

CHROMIUM = os.environ.get("ARENA_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}


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


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """The size the dashboard is designed for."""
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def served(tmp_path):
    """`panel serve app.py` on the default config (bundled real data), ready."""
    server = start_panel_serve(tmp_path)
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def arena_server(tmp_path_factory):
    """One `arena serve` on the default config for a whole test module; each test
    starts from :meth:`Server.fresh`."""
    server = start_arena_serve(tmp_path_factory.mktemp("arena"))
    server.wait_ready()
    server.first_run_seconds = server.warm_up()
    yield server
    server.stop()


@pytest.fixture
def dashboard(page, arena_server):
    """The module's dashboard in a fresh browser page (not yet loaded)."""
    return Dashboard(page, arena_server)


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    """artifacts/screenshots (the README shows dashboard.png from there)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
