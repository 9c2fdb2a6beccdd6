"""LLM agents in the dashboard (no browser): reasoning from a model reaches the
decisions feed as text (tests/browser/test_security.py shows it literally in Chromium); tokens, latency and cost
reach the leaderboard, live and in a replay."""

from __future__ import annotations

import re

import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document

from arena.agents.llm import LLMAgent
from arena.config import RunSpec
from arena.data import synthetic
from arena.engine import Competition, CompetitionConfig
from arena.recorder import Recording
from arena.ui.decisions import DecisionsFeed
from arena.ui.events import EventLog
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub
from arena.ui.leaderboard import Leaderboard
from arena.ui.logview import LogView
from arena.ui.runs import ReplayHub
from arena.ui.safe import text
from tests.arena.agents.chat_server import HTML_REASONING, ChatServer

SPEC = RunSpec(symbols=("AAPL",), agents=("sma_cross",), config=CompetitionConfig(record=False))


@pytest.fixture
def hub():
    with ChatServer() as srv:
        hub = Hub(SPEC)
        hub.competition.stop()
        agent = LLMAgent(model="html", base_url=srv.base_url, api_key_env="", title="gpt",
                         price_in=2.0, price_out=8.0)
        comp = Competition(synthetic(("SYN",), bars=40, seed=3), [agent, "sma_cross"],
                           CompetitionConfig(record=False))
        hub.param.update(competition=comp, version=hub.version + 1)
        yield hub
        hub.competition.stop()


def model_of(widget):
    return next(iter(widget._models.values()))[0]


def test_model_reasoning_reaches_the_decisions_feed_escaped(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    decisions, events, board = DecisionsFeed(feed=feed), EventLog(feed=feed), Leaderboard(feed=feed)
    doc = Document()
    doc.add_root(pn.Column(decisions, events, board).get_root(doc))

    hub.competition.step(6)
    feed.pull()

    mine = [cells for cells, _ in decisions.table.rows if cells[1] == "gpt"]
    assert [c[4] for c in mine] == [f"{HTML_REASONING} at bar {b}" for b in range(6)]
    # the feed sets each cell as text (textContent), never as HTML
    assert "textContent" in LogView._esm and "innerHTML" not in LogView._esm
    # decisions are not repeated as events; the log stays for lifecycle, trades, errors
    assert not [c for c, _ in events.table.rows if c[2] == "decision"]
    # and theme.text, which every HTML pane uses, escapes it
    assert text(HTML_REASONING) == ("&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img "
                                    "src=x onerror=&quot;alert(1)&quot;&gt; &amp; co")


def test_leaderboard_shows_tokens_latency_and_cost(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    board = Leaderboard(feed=feed)

    hub.competition.step(5)
    feed.pull()

    rows = board.table.frame.set_index("agent")
    usage = hub.competition._slots[0].agent.usage()
    assert {"tokens", "latency_ms", "cost_usd"} <= set(board.table.frame.columns)
    assert rows.loc["gpt", "tokens"] == usage["tokens_in"] + usage["tokens_out"] > 0
    assert rows.loc["gpt", "cost_usd"] == pytest.approx(
        (usage["tokens_in"] * 2.0 + usage["tokens_out"] * 8.0) / 1e6)
    assert rows.loc["gpt", "latency_ms"] == pytest.approx(usage["mean_latency"] * 1000)
    assert rows.loc["sma_cross", "tokens"] == 0
    assert board.table.titles["cost_usd"] == "Cost $"


def test_control_panel_loads_the_llm_example_toml(monkeypatch):
    from pathlib import Path

    from arena.ui.controls import ControlPanel

    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)
    hub = Hub(SPEC)
    panel = ControlPanel(feed=SessionFeed(hub=hub, table_period=0))
    toml = Path(__file__).resolve().parents[3] / "examples" / "llm_arena.toml"

    panel.upload.filename = "llm_arena.toml"
    panel.upload.value = toml.read_bytes()
    panel.apply_button.clicks += 1

    try:
        assert [s.split(":")[0] for s in panel.agent_specs] == ["llm", "llm", "buy_and_hold",
                                                               "sma_cross"]
        assert hub.version == 1
        assert hub.competition.agent_names[:2] == ["llm:gpt-4o-mini", "llm:gpt-4.1-mini"]
        assert hub.competition.config.decide_deadline == 20
        assert hub.competition.state == "idle"  # nothing is called before Start
    finally:
        hub.competition.stop()


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory):
    """A recorded run: a model whose reasoning is HTML, one that always fails, a rule
    agent; its live leaderboard and its folder."""
    root = tmp_path_factory.mktemp("runs")
    with ChatServer() as srv:
        agents = [LLMAgent(model="html", base_url=srv.base_url, api_key_env="", title="gpt",
                           price_in=2.0, price_out=8.0),
                  LLMAgent(model="error500", base_url=srv.base_url, api_key_env="",
                           title="down", max_retries=0, price_in=2.0), "sma_cross"]
        comp = Competition(synthetic(("SYN",), bars=12, seed=3), agents,
                           CompetitionConfig(run_dir=str(root)))
        live = comp.run().set_index("agent")
    return live, comp.run_path


def test_a_replay_shows_the_models_usage_and_reasoning_as_the_live_run_did(llm_run, monkeypatch):
    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)
    live, run_path = llm_run
    hub = ReplayHub(run_path.name, run_dir=run_path.parent)
    try:
        feed = SessionFeed(hub=hub, table_period=0)
        board, decisions = Leaderboard(feed=feed), DecisionsFeed(feed=feed)
        doc = Document()
        doc.add_root(pn.Column(board, decisions).get_root(doc))

        hub.competition.seek(12)
        feed.pull()

        # at the end: the live run's tokens, latency and cost, to the decimals shown
        shown = board.table.frame.set_index("agent")
        assert live.loc["gpt", "tokens"] > 0 and live.loc["down", "errors"] == 12
        for name in ("gpt", "down", "sma_cross"):
            assert shown.loc[name, "tokens"] == live.loc[name, "tokens"]
            assert shown.loc[name, "cost_usd"] == pytest.approx(live.loc[name, "cost_usd"])
        assert shown.loc["gpt", "latency_ms"] == pytest.approx(live.loc["gpt", "latency_ms"],
                                                               abs=1e-3)
        assert pd.isna(shown.loc["down", "latency_ms"])  # no answer: no latency
        assert pd.isna(shown.loc["sma_cross", "latency_ms"])
        # the model's reasoning reaches the replay's feed as the literal text
        mine = [cells[4] for cells, _ in decisions.table.rows if cells[1] == "gpt"]
        assert mine == [f"{HTML_REASONING} at bar {b}" for b in range(12)]

        # after a seek back: the calls of the bars shown so far
        hub.competition.seek(5)
        feed.pull()

        with Recording(run_path) as rec:
            calls = rec.llm_calls().query("agent == 'gpt' and bar < 5")
        shown = board.table.frame.set_index("agent")
        assert shown.loc["gpt", "tokens"] == calls["tokens_in"].sum() + calls["tokens_out"].sum()
        assert shown.loc["gpt", "cost_usd"] == pytest.approx(calls["cost_usd"].sum())
        assert shown.loc["gpt", "latency_ms"] == pytest.approx(calls["latency_ms"].mean())
    finally:
        hub.competition.stop()


def test_the_report_and_exported_leaderboard_carry_usage_and_escape_the_reasoning(llm_run):
    from arena.export import table
    from arena.ui.report import report_html

    live, run_path = llm_run
    with Recording(run_path) as rec:
        board = table(rec, "leaderboard").set_index("agent")
        page = report_html(rec)

    for name in ("gpt", "down", "sma_cross"):
        assert board.loc[name, "tokens"] == live.loc[name, "tokens"]
        assert board.loc[name, "cost_usd"] == pytest.approx(live.loc[name, "cost_usd"])
    assert board.loc["gpt", "latency_ms"] == pytest.approx(live.loc["gpt", "latency_ms"],
                                                           abs=1e-3)
    assert board["latency_ms"].drop("gpt").isna().all()
    # the report's leaderboard has the three rows, cost to 4 decimals
    order = board.index.tolist()  # the report's columns, by rank
    row = page[page.index("<th>LLM cost (USD)</th>"):].split("</tr>")[0]
    costs = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
    assert costs == [f"{board.loc[a, 'cost_usd']:,.4f}" for a in order]
    assert "<th>LLM tokens</th>" in page and "<th>LLM latency (ms)</th>" in page
    # the model's reasoning is in the page as escaped text only
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "<script>window.__pwned" not in page and 'onerror="alert' not in page
