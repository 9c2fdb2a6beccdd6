"""The LLM agent against a real chat-completions server on 127.0.0.1 (no mocks):
each scripted answer ends as documented and the competition completes."""

from __future__ import annotations

import socket
import time

import pytest

from arena import Competition, CompetitionConfig
from arena.agents.llm import LLMAgent
from arena.data.synthetic import synthetic
from arena.recorder import Recording
from tests.arena.agents.chat_server import ChatServer

BARS = 5
SYMBOLS = ("AAA", "BBB")


@pytest.fixture(scope="module")
def server():
    with ChatServer() as srv:
        yield srv


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens here any more


def run(tmp_path, agents, bars=BARS, **config):
    comp = Competition(synthetic(SYMBOLS, bars=bars, seed=1), agents,
                       CompetitionConfig(run_dir=str(tmp_path), **config))
    comp.run()
    return comp, Recording(comp.run_path)


def llm(server_or_url, model, **params) -> LLMAgent:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    return LLMAgent(**{"model": model, "base_url": url, "api_key_env": "", "title": model, **params})


# (model, agent params, the reason every bar's agent_error starts with; None = decides)
CASES = [
    ("valid", {}, None),
    ("fence", {}, None),
    ("flaky429", {"max_retries": 2}, None),
    ("malformed", {}, "invalid decision, holding: the answer is not valid JSON"),
    ("range", {}, "invalid decision, holding: answer rejected, targets.AAA: 1.5 is greater "
                  "than the maximum of 1"),
    ("unknown", {}, "invalid decision, holding: answer rejected, targets: unknown symbol(s) "
                    "'TSLA'; allowed: AAA, BBB"),
    ("slow", {"timeout": 0.3, "max_retries": 0}, "no answer within the 0.3 s timeout "
                                                 "(1 attempt(s) in "),
    ("error500", {"max_retries": 1}, "HTTP 500 from http://127.0.0.1:"),
    ("refused", {"max_retries": 1}, "cannot connect to http://127.0.0.1:"),
]


@pytest.mark.parametrize(("model", "params", "reason"), CASES, ids=[c[0] for c in CASES])
def test_each_scripted_answer_ends_as_documented(server, tmp_path, model, params, reason):
    url = closed_port_url() if model == "refused" else server.base_url
    agent = llm(url, model, **params)

    comp, rec = run(tmp_path, [agent, "buy_and_hold"])

    assert comp.state == "finished" and comp.bar == BARS
    errors = rec.events().query("kind == 'agent_error'")
    calls = rec.llm_calls()
    assert len(calls) == BARS and calls["bar"].tolist() == list(range(BARS))
    if reason is None:  # a decision at every bar, with the model's reasoning
        assert errors.empty
        dec = rec.decisions().query("agent == @model")
        assert dec["bar"].tolist() == list(range(BARS))
        assert dec["targets"].tolist() == ['{"AAA": 0.25}', '{"AAA": 0.5}'] * 2 + ['{"AAA": 0.25}']
        assert dec["reasoning"].tolist() == [f"steady trend at bar {b}" for b in range(BARS)]
        assert calls["error"].isna().all() and (calls["tokens_out"] > 0).all()
        assert len(rec.trades().query("agent == @model")) > 0
    else:  # hold + an agent_error with the reason at every bar
        assert errors["agent"].tolist() == [model] * BARS
        assert errors["bar"].tolist() == list(range(BARS))
        assert all(m.startswith(reason) for m in errors["message"]), errors["message"].iloc[0]
        assert rec.decisions().query("agent == @model").empty
        assert rec.trades().query("agent == @model").empty
        assert comp.leaderboard().set_index("agent").loc[model, "equity"] == 100_000
        assert calls["error"].notna().all()
    if model == "flaky429":  # each call: a 429, a backoff, then the answer
        assert calls["attempts"].tolist() == [2] * BARS
        assert server.count("flaky429") >= 2 * BARS
    if model in ("error500", "refused"):
        assert calls["attempts"].tolist() == [2] * BARS  # one retry each
    board = comp.leaderboard().set_index("agent")
    assert board.loc[model, "errors"] == (0 if reason is None else BARS)
    assert board.loc["buy_and_hold", "errors"] == 0


def start(tmp_path, agents, bars, warm=1, **config) -> Competition:
    """A competition with its first ``warm`` bars done (clients built, connections
    open: a first call takes most of a second here), paused."""
    comp = Competition(synthetic(SYMBOLS, bars=bars, seed=1), agents,
                       CompetitionConfig(run_dir=str(tmp_path), **config))
    comp.step(warm)
    return comp


@pytest.mark.slow
def test_calls_of_one_bar_run_concurrently(server, tmp_path):
    agents = [llm(server, "delay-0.5", title=f"m{i}") for i in range(3)]
    comp = start(tmp_path, agents, bars=5)

    started = time.monotonic()
    comp.run()
    elapsed = time.monotonic() - started

    rec = Recording(comp.run_path)
    calls = rec.llm_calls()
    assert len(calls) == 15 and calls["error"].isna().all()
    assert (calls["latency_ms"] >= 500).all()
    assert elapsed < 4.0  # 4 bars: 6 s one call after the other, about 2 s concurrently
    # applied and recorded in slot order within each bar (deterministic)
    for _, group in rec.decisions().groupby("bar"):
        assert group["agent"].tolist() == ["m0", "m1", "m2"]


@pytest.mark.slow
def test_a_live_bar_waits_at_most_the_deadline_and_late_answers_are_discarded(server, tmp_path):
    slow, quick = llm(server, "delay-1.0", title="slow"), llm(server, "valid", title="quick")
    comp = start(tmp_path, [slow, quick, "buy_and_hold"], bars=25, warm=5, speed=10.0,
                 decide_deadline=0.5)

    started = time.monotonic()
    comp.run()
    elapsed = time.monotonic() - started

    rec = Recording(comp.run_path)
    assert comp.state == "finished"
    assert elapsed < 12  # the slow model alone would take 24 s, one bar after another
    dec = rec.decisions()
    assert dec.query("agent == 'quick'")["bar"].tolist()[-20:] == list(range(5, 25))
    assert dec.query("agent == 'slow'").empty  # every answer came after its deadline
    errors = rec.events().query("kind == 'agent_error' and agent == 'slow'")
    assert errors["bar"].tolist() == list(range(25))
    messages = errors["message"].tolist()
    assert messages[0] == ("no answer within the 0.5 s deadline of a live bar; holding "
                           "(a late answer is discarded)")
    assert messages[1] == "still waiting for its answer to bar 0; holding"
    calls = rec.llm_calls()
    late = calls.query("agent == 'slow'")
    assert 1 <= len(late) <= 6 and late["late"].all()  # asked again only after an answer
    assert late["response"].notna().all()  # recorded for audit, not used
    assert not calls.query("agent == 'quick' and bar >= 5")["late"].any()


def test_a_missing_api_key_is_one_error_and_the_agent_holds(tmp_path, monkeypatch):
    monkeypatch.delenv("ARENA_NO_SUCH_KEY", raising=False)
    agent = LLMAgent(model="valid", base_url=closed_port_url(), api_key_env="ARENA_NO_SUCH_KEY")

    comp, rec = run(tmp_path, [agent, "buy_and_hold"])

    errors = rec.events().query("kind == 'agent_error'")
    assert len(errors) == 1
    assert "environment variable ARENA_NO_SUCH_KEY is not set" in errors["message"].iloc[0]
    assert comp.state == "finished" and rec.llm_calls().empty


def test_rate_limit_spaces_the_calls(server, tmp_path):
    agent = llm(server, "valid", max_rpm=300)  # one call per 0.2 s

    started = time.monotonic()
    run(tmp_path, [agent], bars=5)

    assert time.monotonic() - started >= 0.8  # 4 gaps of 0.2 s between 5 calls


def test_every_and_warmup_skip_bars_without_calls(server, tmp_path):
    agent = llm(server, "valid", every=2, warmup=1)

    _, rec = run(tmp_path, [agent], bars=6)

    assert rec.llm_calls()["bar"].tolist() == [1, 3, 5]
    assert rec.decisions()["bar"].tolist() == [1, 3, 5]
