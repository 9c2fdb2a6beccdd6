"""RunDownloads: the dashboard's download buttons serve the current run's exports."""

from __future__ import annotations

import asyncio
import io

import pandas as pd
import pytest
from bokeh.document import Document
from PIL import Image

from arena import export
from arena.config import RunSpec
from arena.engine import CompetitionConfig
from arena.recorder import Recording
from arena.ui import export as ui_export
from arena.ui.downloads import DEFAULT_ITEMS, RunDownloads
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub

AGENTS = ("buy_and_hold", "sma_cross")


def spec(run_dir, record: bool = True) -> RunSpec:
    return RunSpec(symbols=("AAPL",), start="2011-01-01", end="2011-12-31", agents=AGENTS,
                   config=CompetitionConfig(run_dir=str(run_dir), record=record, seed=2))


@pytest.fixture
def hub(tmp_path):
    hub = Hub(spec(tmp_path / "runs"))
    yield hub
    hub.competition.stop()


def click(button) -> bytes:
    """What the browser would receive for one click (the button's async callback)."""
    return asyncio.run(button.callback()).getvalue()


def test_buttons_wait_for_a_recording_then_name_files_after_the_run(hub):
    # Arrange
    feed = SessionFeed(hub=hub)
    view = RunDownloads(feed=feed)
    run_id = hub.competition.run_id
    # Assert: nothing recorded yet
    assert set(view.buttons) == set(DEFAULT_ITEMS)
    assert all(b.disabled for b in view.buttons.values())
    # Act
    hub.competition.run()
    feed.pull()
    # Assert
    assert not any(b.disabled for b in view.buttons.values())
    assert view.buttons[("trades", "parquet")].filename == f"{run_id}-trades.parquet"
    assert view.buttons[("report", "html")].filename == f"{run_id}-report.html"


@pytest.mark.parametrize(("what", "fmt"), [i for i in DEFAULT_ITEMS if i[1] != "png"])
def test_each_table_button_serves_the_recordings_rows(hub, what, fmt):
    # Arrange
    feed = SessionFeed(hub=hub)
    view = RunDownloads(feed=feed)
    hub.competition.run()
    feed.pull()
    # Act
    data = click(view.buttons[(what, fmt)])
    # Assert
    with Recording(hub.competition.run_path) as rec:
        if fmt == "html":
            assert f"Trading Arena · run {hub.competition.run_id}" in data.decode()
            return
        expected = getattr(rec, what)()
    back = pd.read_parquet(io.BytesIO(data)) if fmt == "parquet" \
        else pd.read_csv(io.BytesIO(data))
    assert len(back) == len(expected) > 0
    assert list(back.columns) == list(expected.columns)


@pytest.mark.slow
def test_png_button_serves_the_equity_chart(hub):
    feed = SessionFeed(hub=hub)
    view = RunDownloads(feed=feed, width=500, height=300)
    hub.competition.run()
    feed.pull()
    image = Image.open(io.BytesIO(click(view.buttons[("equity", "png")])))
    assert image.size == (500, 300)


def test_a_new_run_renames_the_files(hub, tmp_path):
    # Arrange
    feed = SessionFeed(hub=hub)
    view = RunDownloads(feed=feed)
    # Act
    new = hub.replace(spec(tmp_path / "other"))
    new.run()
    feed.pull()
    # Assert
    assert view.buttons[("equity", "csv")].filename == f"{new.run_id}-equity.csv"
    assert click(view.buttons[("equity", "csv")]) == export.export_bytes(
        new.run_path, "equity", "csv")


def test_unrecorded_competition_keeps_the_buttons_disabled(tmp_path):
    hub = Hub(spec(tmp_path, record=False))
    feed = SessionFeed(hub=hub)
    view = RunDownloads(feed=feed)
    hub.competition.run()
    feed.pull()
    assert all(b.disabled for b in view.buttons.values())
    with pytest.raises(ValueError, match="no recording"):
        view.content("trades", "csv")


def test_a_failed_export_is_shown_under_the_buttons(hub, monkeypatch):
    # Arrange: no browser where the export looks for it
    monkeypatch.setattr(ui_export, "CHROMIUM", "/nonexistent/chromium")
    feed = SessionFeed(hub=hub)
    view = RunDownloads(feed=feed)
    hub.competition.run()
    feed.pull()
    # Act
    with pytest.raises(export.ExportError):
        click(view.buttons[("equity", "png")])
    # Assert
    assert "/nonexistent/chromium" in view.error
    assert view._alert.visible and "equity as png" in view._alert.object
    # a later success clears it
    click(view.buttons[("trades", "csv")])
    assert view.error == "" and not view._alert.visible


def test_items_are_checked_and_the_view_renders(hub):
    with pytest.raises(ValueError, match="trades as png"):
        RunDownloads(feed=SessionFeed(hub=hub), items=[("trades", "png")])
    view = RunDownloads(feed=SessionFeed(hub=hub))
    root = view.__panel__().get_root(Document())
    labels = {m.label for m in root.references() if type(m).__name__ == "FileDownload"}
    assert {"Equity CSV", "Trades Parquet", "Report HTML", "Equity PNG"} <= labels
