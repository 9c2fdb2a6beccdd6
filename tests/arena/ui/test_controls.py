"""ControlPanel without a browser: settings through Hub.replace, refusals next to
the control, run buttons, speed, and the operator role."""

from __future__ import annotations

import html
import re
import time

import pytest

from arena.config import RunSpec
from arena.engine import CompetitionConfig
from arena.ui.controls import ControlPanel
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub
from arena.ui.roles import is_operator, operators

SPEC = RunSpec(symbols=("IBM",), start="2012-01-01", agents=("sma_cross", "momentum"),
               config=CompetitionConfig(record=False))
GOOD_TOML = b"""
[data]
symbols = ["MSFT"]
start = "2011-01-01"
[portfolio]
cash = 25000
fee_bps = 3.5
[[agents]]
agent = "rsi"
[[agents]]
agent = "sma_cross"
params = { fast = 5, slow = 15 }
"""
BAD_CSV = "time,open,high,low,close,volume\n2020-01-01,10,9,8,9.5,100\n"


@pytest.fixture
def hub():
    hub = Hub(SPEC)
    yield hub
    hub.competition.stop()


@pytest.fixture
def panel(hub, monkeypatch):
    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)
    return ControlPanel(feed=SessionFeed(hub=hub, table_period=0))


def shown(note) -> str:
    """The text a note shows (tags stripped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", note.object)) if note.visible else ""


def click(button) -> None:
    button.clicks += 1


def wait_for(predicate, timeout=60.0) -> bool:  # the first bar loads scikit-learn (ml)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# -- settings --------------------------------------------------------------------------
def test_form_starts_from_the_spec_on_show(panel):
    assert panel.symbols.value == ["IBM"]
    assert panel.start.value == "2012-01-01"
    assert panel.agent_specs == ["sma_cross", "momentum"]
    assert panel.agent_names.value == ["sma_cross", "momentum"]
    assert panel.cash.value == 100_000.0


def test_the_settings_form_reaches_the_page_when_its_card_is_first_opened(panel, hub):
    # Arrange: the panel as a page shows it; the Settings card starts collapsed
    import panel as pn
    from bokeh.document import Document

    layout = pn.panel(panel)
    doc = Document()
    layout.get_root(doc)
    card = next(o for o in layout.select(pn.Card) if o.title == "Settings")
    assert card.collapsed and card.objects == []
    assert panel.apply_button not in layout.select(pn.widgets.Button)

    # Act: the visitor opens it (the browser sets collapsed), and operates the form
    card.collapsed = False

    # Assert: the form is in the page, filled from the competition on show
    assert panel.apply_button in layout.select(pn.widgets.Button)
    assert panel.symbols in card.objects and panel.symbols.value == ["IBM"]
    form = list(card.objects)
    card.collapsed = True
    card.collapsed = False
    assert list(card.objects) == form  # built once


def test_apply_builds_a_new_competition_through_the_hub(panel, hub):
    # Arrange
    old = hub.competition
    panel.symbols.value = ["MSFT"]
    panel.agent_names.value = ["sma_cross", "momentum", "rsi"]
    panel._agent_inputs[0].value = "sma_cross:fast=5,slow=15"
    panel.cash.value, panel.fee_bps.value, panel.seed.value = 50_000.0, 5.0, 7

    # Act
    click(panel.apply_button)

    # Assert
    assert hub.version == 1 and hub.competition is not old
    assert old.state.value == "stopped"
    comp = hub.competition
    assert comp.data_source == "MSFT"
    assert comp.agent_names == ["sma_cross(fast=5,slow=15)", "momentum", "rsi"]
    assert comp.config.portfolio.cash == 50_000.0
    assert comp.config.portfolio.fee_bps == 5.0
    assert comp.config.seed == 7
    assert comp.config.record is False
    assert shown(panel.apply_note).startswith("applied: new run")


def test_free_text_spec_adds_an_agent_and_ticks_its_name(panel):
    panel.new_agent.value = "macd"
    click(panel.add_agent)
    assert panel.agent_specs == ["sma_cross", "momentum", "macd"]
    assert "macd" in panel.agent_names.value
    assert panel.new_agent.value == ""


def test_unticking_a_name_removes_its_agents(panel):
    panel.agent_names.value = ["momentum"]
    assert panel.agent_specs == ["momentum"]


def _unknown_symbol(p, tmp_path):
    p.symbols.value = ["ZZZZ"]


def _no_symbol(p, tmp_path):
    p.symbols.value = []


def _missing_file(p, tmp_path):
    p.source.value = "file"
    p.file.value = str(tmp_path / "nope.csv")


def _bad_file(p, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    p.source.value = "file"
    p.file.value = str(path)


def _bad_date(p, tmp_path):
    p.start.value = "someday"


def _unknown_agent_typed(p, tmp_path):
    p._agent_inputs[1].value = "no_such_agent"


def _bad_param(p, tmp_path):
    p._agent_inputs[0].value = "sma_cross:fast=abc"


def _no_agents(p, tmp_path):
    p.agent_names.value = []


def _negative_cash(p, tmp_path):
    p.cash.value = -5.0


def _huge_fee(p, tmp_path):
    p.fee_bps.value = 20_000.0


REFUSALS = [
    (_unknown_symbol, "data_note", "ZZZZ"),
    (_no_symbol, "data_note", "choose at least one bundled symbol"),
    (_missing_file, "data_note", "nope.csv"),
    (_bad_file, "data_note", "bad.csv"),
    (_bad_date, "data_note", "'someday' is not a date"),
    (_unknown_agent_typed, "agents_note", "unknown agent 'no_such_agent'"),
    (_bad_param, "agents_note", "bad value for fast"),
    (_no_agents, "agents_note", "choose at least one agent"),
    (_negative_cash, "costs_note", "cash must be positive"),
    (_huge_fee, "costs_note", "fee_bps must be in 0..10000"),
]


@pytest.mark.parametrize(("change", "note", "message"), REFUSALS,
                         ids=[c.__name__.strip("_") for c, _, _ in REFUSALS])
def test_invalid_settings_are_refused_next_to_the_control(panel, hub, tmp_path, change, note,
                                                          message):
    # Arrange
    old = hub.competition
    change(panel, tmp_path)

    # Act
    click(panel.apply_button)

    # Assert
    text = shown(getattr(panel, note))
    assert message in text
    assert "Traceback" not in text and "\n" not in text
    assert hub.competition is old and hub.version == 0


def test_typed_agent_with_unknown_name_is_refused_when_added(panel):
    panel.new_agent.value = "nosuch:x=1"
    click(panel.add_agent)
    assert "unknown agent 'nosuch'" in shown(panel.agents_note)
    assert panel.agent_specs == ["sma_cross", "momentum"]


def upload(panel, filename: str, content: bytes) -> None:
    panel.upload.filename = filename
    panel.upload.value = content


def test_toml_upload_fills_the_form_and_apply_runs_it(panel, hub):
    upload(panel, "run.toml", GOOD_TOML)

    assert panel.symbols.value == ["MSFT"]
    assert panel.agent_specs == ["rsi", "sma_cross:fast=5,slow=15"]
    assert panel.cash.value == 25_000 and panel.fee_bps.value == 3.5
    assert shown(panel.toml_note) == "loaded run.toml: review the settings and press Apply"
    assert hub.version == 0  # nothing runs before Apply

    click(panel.apply_button)
    assert hub.version == 1
    assert hub.competition.data_source == "MSFT"
    assert hub.competition.config.portfolio.cash == 25_000


@pytest.mark.parametrize(("filename", "content", "message"), [
    ("run.toml", b"[data\nsymbols = ", "run.toml: not valid TOML"),
    ("run.toml", b"[data]\nsymbols=['IBM']\ncolour='red'\n[[agents]]\nagent='rsi'\n",
     "unknown key(s) colour in [data]"),
    ("run.toml", b"[data]\nsymbols=['IBM']\n", "needs at least one [[agents]] table"),
    ("run.toml", b"[data]\nsymbols=['ZZZZ']\n[[agents]]\nagent='rsi'\n",
     "unknown bundled symbol(s) ZZZZ"),
    ("run.toml", b"\xff\xfe\x00garbage", "not UTF-8 text"),
    ("run.json", b"{}", "run.json: not a .toml file"),
])
def test_bad_toml_is_refused_and_the_form_and_competition_stay(panel, hub, filename, content,
                                                               message):
    old = hub.competition
    upload(panel, filename, content)
    assert message in shown(panel.toml_note)
    assert panel.symbols.value == ["IBM"] and panel.agent_specs == ["sma_cross", "momentum"]
    assert hub.competition is old and hub.version == 0


def test_settings_applied_elsewhere_reach_this_form(hub, panel):
    other = ControlPanel(feed=SessionFeed(hub=hub, table_period=0))
    other.symbols.value = ["GOOG"]
    click(other.apply_button)

    panel.feed.pull()

    assert panel.symbols.value == ["GOOG"]


# -- run controls ----------------------------------------------------------------------
def test_buttons_drive_the_competition_through_its_states(panel, hub):
    comp = hub.competition
    assert (panel.start_button.disabled, panel.pause_button.disabled,
            panel.step_button.disabled, panel.stop_button.disabled) == (False, True, False, True)
    panel.speed.value = 5.0

    click(panel.start_button)
    assert comp.state.value == "running"
    assert panel.pause_button.label == "Pause" and not panel.pause_button.disabled
    assert panel.start_button.disabled and panel.step_button.disabled

    click(panel.pause_button)
    assert comp.state.value == "paused"
    assert panel.pause_button.label == "Resume" and not panel.step_button.disabled

    before = comp.bar
    click(panel.step_button)
    assert wait_for(lambda: comp.bar == before + 1)
    time.sleep(0.3)
    assert comp.bar == before + 1 and comp.state.value == "paused"

    click(panel.pause_button)  # now labelled Resume
    assert comp.state.value == "running" and panel.pause_button.label == "Pause"

    click(panel.stop_button)
    assert comp.state.value == "stopped"
    assert panel.stop_button.disabled and not panel.reset_button.disabled
    run_id = comp.run_id

    click(panel.reset_button)
    assert comp.state.value == "idle" and comp.bar == 0 and comp.run_id != run_id
    assert not panel.start_button.disabled


def test_a_command_that_lost_a_race_shows_the_message(panel, hub):
    hub.competition.speed = 5
    hub.competition.start()  # e.g. another operator, before this session's next pull

    click(panel.start_button)

    assert shown(panel.run_note).startswith("cannot start: the competition is running")
    assert hub.competition.state.value == "running"


@pytest.mark.parametrize(("label", "speed"), [("1 bar/s", 1.0), ("100 bars/s", 100.0),
                                              ("max", 0.0)])
def test_speed_select_sets_the_competition_speed(panel, hub, label, speed):
    panel.speed.value = panel.speed.options[label]
    assert hub.competition.speed == speed


def test_status_shows_state_bar_and_progress(panel, hub):
    hub.competition.step(10)
    panel.feed.pull()
    assert "PAUSED" in panel.state_pane.object.upper()
    assert f"bar 10 / {hub.competition.n_bars:,}" in panel.state_pane.object
    assert panel.progress.value == round(1000 * 10 / hub.competition.n_bars)


# -- roles -----------------------------------------------------------------------------
@pytest.fixture
def with_auth(monkeypatch):
    monkeypatch.setenv("PANEL_BASIC_AUTH", "shared-password")
    monkeypatch.setenv("ARENA_OPERATORS", " alice, carol ,")


def test_without_auth_everyone_operates(monkeypatch):
    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.setenv("ARENA_OPERATORS", "alice")
    assert is_operator(None) and is_operator("bob")


def test_with_auth_only_listed_users_operate(with_auth):
    assert operators() == frozenset({"alice", "carol"})
    assert is_operator("alice") and is_operator("carol")
    assert not is_operator("bob") and not is_operator(None)


def test_non_operator_sees_read_only_and_cannot_start(hub, with_auth):
    # Arrange
    viewer = ControlPanel(feed=SessionFeed(hub=hub, table_period=0), user="bob")

    # Act: the widget is disabled, but a click reaching the server must still be refused
    click(viewer.start_button)
    viewer.symbols.value = ["MSFT"]
    click(viewer.apply_button)
    viewer.speed.value = 1.0

    # Assert
    assert viewer.start_button.disabled and viewer.apply_button.disabled
    assert shown(viewer.role_note) == "read-only: signed in as bob (not an operator)"
    assert shown(viewer.run_note) == "read-only: signed in as bob (not an operator)"
    assert shown(viewer.apply_note) == "read-only: signed in as bob (not an operator)"
    assert hub.competition.state.value == "idle"
    assert hub.version == 0
    assert hub.competition.speed == 0.0


def test_operator_may_start_when_auth_is_on(hub, with_auth):
    op = ControlPanel(feed=SessionFeed(hub=hub, table_period=0), user="alice")
    hub.competition.speed = 5
    click(op.start_button)
    assert not op.role_note.visible
    assert hub.competition.state.value == "running"
