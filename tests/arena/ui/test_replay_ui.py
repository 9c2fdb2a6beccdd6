"""Replay mode without a browser: the replay controls (play/pause, step, speed,
scrubber), the run picker switching every session's recording, the operator role,
and the compare view."""

from __future__ import annotations

import html
import re
import time

import param
import pytest

from arena.data import synthetic
from arena.engine import Competition, CompetitionConfig
from arena.replay import DEFAULT_BASE_SPEED
from arena.ui.app import ArenaApp
from arena.ui.compare import CompareView
from arena.ui.feed import SessionFeed
from arena.ui.replay_controls import RATES, ReplayControls
from arena.ui.runs import ReplayHub, RunPicker, run_options

AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20"]
BARS = {1: 300, 2: 200}  # seed → bars of each recording


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    paths = []
    for seed, bars in BARS.items():
        comp = Competition(synthetic("SYN", bars=bars, seed=seed), AGENTS,
                           CompetitionConfig(run_dir=str(root), seed=seed))
        comp.run()
        paths.append(comp.run_path)
    return paths


@pytest.fixture
def hub(runs, monkeypatch):
    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)
    hub = ReplayHub(runs[0].name, run_dir=runs[0].parent)
    yield hub
    hub.competition.stop()


def shown(pane) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", pane.object or ""))


def click(button) -> None:
    button.clicks += 1


def release(slider, value: int) -> None:
    """What the browser sends when a drag of the slider ends."""
    with param.edit_constant(slider):
        slider.value_throttled = value


def test_scrubber_seeks_and_the_feed_reloads_at_that_bar(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    controls = ReplayControls(feed=feed, user=None)
    got = {}
    feed.subscribe("equity", lambda rows: got.setdefault("rows", []).append(rows),
                   lambda: got.clear())
    feed.pull()

    release(controls.scrubber, 120)
    feed.pull()

    assert hub.competition.bar == 120
    rows = got["rows"][-1]
    assert rows["bar"].max() == 119
    assert "bar 120 / 300" in shown(controls.state_pane)


def test_play_pause_step_and_speed_as_multiples_of_the_recorded_pace(hub):
    controls = ReplayControls(feed=SessionFeed(hub=hub, table_period=0), user=None)
    replay = hub.competition
    assert replay.base_speed == DEFAULT_BASE_SPEED  # 1x of a run recorded at full speed

    controls.rate.value = RATES["5x"]
    click(controls.play_button)
    time.sleep(0.6)
    click(controls.play_button)
    played = replay.bar
    click(controls.step_button)

    assert replay.speed == 5 * DEFAULT_BASE_SPEED  # 100 bars/s
    assert 20 <= played <= 120  # about 60 bars in 0.6 s
    assert replay.bar == played + 1 and replay.state.value == "paused"
    assert controls.play_button.label == "Play" and not controls.step_button.disabled


def test_a_read_only_user_cannot_move_the_replay(hub, monkeypatch):
    monkeypatch.setenv("PANEL_BASIC_AUTH", "shared-password")
    monkeypatch.setenv("ARENA_OPERATORS", "alice")
    viewer = ReplayControls(feed=SessionFeed(hub=hub, table_period=0), user="bob")

    click(viewer.play_button)
    release(viewer.scrubber, 200)
    click(viewer.step_button)

    assert hub.competition.bar == 0 and hub.competition.state.value == "paused"
    assert "read-only: signed in as bob" in shown(viewer.note)
    assert viewer.scrubber.disabled and viewer.play_button.disabled


def test_run_picker_opens_another_recording_for_every_session(hub, runs):
    picker = RunPicker(hub=hub, user=None)
    feed = SessionFeed(hub=hub, table_period=0)
    assert set(run_options(runs[0].parent).values()) == {str(p) for p in runs}

    picker.select.value = str(runs[1])
    click(picker.open_button)

    assert hub.version == 1 and hub.competition.run_id == runs[1].name
    assert hub.competition.n_bars == BARS[2]
    assert "opened " + runs[1].name in shown(picker.note)
    feed.pull()
    assert feed.status["run_id"] == runs[1].name


def test_the_app_in_replay_mode_has_the_picker_the_controls_and_compare(hub):
    app = ArenaApp(hub=hub)
    assert isinstance(app.controls, ReplayControls)
    assert isinstance(app.sidebar[0], RunPicker) and isinstance(app.compare, CompareView)


def test_compare_view_overlays_two_runs(runs):
    view = CompareView(run_dir=str(runs[0].parent))
    view.runs.value = [str(p) for p in runs]
    view.agents.value = ["sma_cross(fast=5)"]

    assert view.compare()
    labels = [item.label["value"] for item in view.chart.object.legend[0].items]
    assert labels == [f"{p.name} / sma_cross(fast=5)" for p in runs]
    assert list(view.table.value["run_id"]) == [p.name for p in runs]

    view.runs.value = [str(runs[0])]
    assert not view.compare() and "at least two" in shown(view.note)
