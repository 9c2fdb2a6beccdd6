"""Alpha Arena format: several models, each with its own account, next to rule agents;
prompts, answers, decisions, tokens and latency are recorded, the API key nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena import Competition, CompetitionConfig
from arena.agents import create_agent
from arena.config import load_config
from arena.data.synthetic import synthetic
from arena.llm.client import ChatClient
from arena.recorder import Recording
from tests.arena.agents.chat_server import ChatServer

ROOT = Path(__file__).resolve().parents[3]
KEY_ENV = "ARENA_TEST_LLM_KEY"
SECRET = "sk-test-Zq8XvT3kP0wN5mR7yL2cB9dF4hJ6"
BARS = 12


@pytest.fixture(scope="module")
def server():
    with ChatServer() as srv:
        yield srv


def every_byte(run_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_path.rglob("*")) if p.is_file()}


def test_three_models_and_two_rule_agents_record_everything_but_the_key(server, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    llms = [create_agent(f"llm:model={m},base_url={server.base_url},api_key_env={KEY_ENV},"
                         f"price_in=1.5,price_out=6") for m in ("valid", "fence", "leak")]
    comp = Competition(synthetic(("AAA", "BBB"), bars=BARS, seed=4),
                       [*llms, "sma_cross:fast=2,slow=4", "buy_and_hold"],
                       CompetitionConfig(run_dir=str(tmp_path)))

    comp.step(6)  # half way: the WAL holds the newest rows
    halfway = every_byte(comp.run_path)
    board = comp.run().set_index("agent")
    final = every_byte(comp.run_path)

    # the key went to the server (so the test can fail) ...
    sent = {r["headers"].get("authorization") for r in server.requests}
    assert sent == {f"Bearer {SECRET}"}
    # ... and appears in no byte of any file of the run, during or after it
    assert any(name.endswith("-wal") for name in halfway)
    for files in (halfway, final):
        for name, data in files.items():
            assert SECRET.encode() not in data, name
            assert SECRET[3:19].encode() not in data, name  # no long fragment either
    rec = Recording(comp.run_path)
    calls = rec.llm_calls()
    assert calls.groupby("agent").size().to_dict() == {
        "llm:valid": BARS, "llm:fence": BARS, "llm:leak": BARS}
    ok = calls.query("agent != 'llm:leak'")
    assert ok["error"].isna().all()
    assert all("You trade: AAA, BBB." in p for p in calls["prompt"])
    assert ok["response"].str.contains('"reasoning"').all()
    assert (ok["tokens_in"] > 50).all() and (ok["tokens_out"] > 5).all()
    assert (ok["latency_ms"] > 0).all()
    # cost: 1.5 USD per million prompt tokens, 6 per million answer tokens
    expected = (ok["tokens_in"] * 1.5 + ok["tokens_out"] * 6) / 1e6
    assert ok["cost_usd"].tolist() == pytest.approx(expected.tolist())
    for name in ("llm:valid", "llm:fence"):
        mine = ok.query("agent == @name")
        assert board.loc[name, "tokens"] == mine["tokens_in"].sum() + mine["tokens_out"].sum()
        assert board.loc[name, "cost_usd"] == pytest.approx(mine["cost_usd"].sum())
        assert board.loc[name, "latency_ms"] == pytest.approx(mine["latency_ms"].mean(), rel=1e-3)
    leak = calls.query("agent == 'llm:leak'")
    assert leak["error"].str.startswith("HTTP 400 from ").all()
    assert leak["error"].str.contains(r"bad key Bearer \*\*\*", regex=True).all()
    assert board.loc["llm:leak", "errors"] == BARS and board.loc["llm:leak", "tokens"] == 0
    assert board.loc["sma_cross(fast=2,slow=4)", "tokens"] == 0
    dec = rec.decisions()
    assert set(dec["agent"]) >= {"llm:valid", "llm:fence", "sma_cross(fast=2,slow=4)"}
    assert dec.query("agent == 'llm:valid'")["reasoning"].tolist() == [
        f"steady trend at bar {b}" for b in range(BARS)]
    assert "api_key_env" in rec.agents()["params"].iloc[0]  # the variable's name, not its value


def test_redact_drops_the_key_and_its_long_fragments():
    client = ChatClient("http://127.0.0.1:9/v1", "m", api_key=SECRET)

    text = client.redact(f"key {SECRET}; masked sk-test-Zq8X...h6 and {SECRET[:12]}****")

    assert SECRET not in text and SECRET[:12] not in text
    assert text.startswith("key ***; masked ")
    client.close()


CONFIG = '''
[data]
file = "{data}"

[run]
run_dir = "{run_dir}"
seed = 3

[llm_prices]
"valid" = {{ input = 2.0, output = 8.0 }}

[[agents]]
agent = "llm"
params = {{ model = "valid", base_url = "{url}", api_key_env = "{env}", title = "model A" }}

[[agents]]
agent = "llm"
[agents.params]
model = "fence"
base_url = "{url}"
api_key_env = "{env}"
title = "model B"
template = """Time $time (bar $bar). You trade: $symbols.
Bars, oldest first:
$bars
Answer as JSON: $schema"""

[[agents]]
agent = "sma_cross"
params = {{ fast = 3, slow = 6 }}
'''


@pytest.mark.slow
def test_arena_run_takes_a_toml_with_llm_agents(server, tmp_path):
    data = tmp_path / "bars.csv"
    synthetic(("AAA",), bars=20, seed=2).frame("AAA").to_csv(data)
    cfg = tmp_path / "llm.toml"
    cfg.write_text(CONFIG.format(data=data, run_dir=tmp_path / "runs", url=server.base_url,
                                 env=KEY_ENV))
    env = {**os.environ, KEY_ENV: SECRET, "PYTHONPATH": str(ROOT)}

    out = subprocess.run([sys.executable, "-m", "arena.cli", "run", str(cfg), "--format", "json"],
                         capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)

    assert out.returncode == 0, out.stderr
    rows = {r["agent"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {"model A", "model B", "sma_cross(fast=3,slow=6)"}
    assert rows["model A"]["errors"] == 0 and rows["model B"]["errors"] == 0
    assert rows["model A"]["tokens"] > 0 and rows["model A"]["cost_usd"] > 0
    assert rows["model B"]["cost_usd"] == 0  # no price for "fence"
    assert rows["sma_cross(fast=3,slow=6)"]["latency_ms"] is None
    with Recording(rows["model A"]["run_path"]) as rec:
        calls = rec.llm_calls()
    b = calls.query("agent == 'model B'")
    assert b["prompt"].str.startswith("Time ").all()
    assert b["prompt"].str.contains("Bars, oldest first:\n").all()
    assert "SMA10" not in b["prompt"].iloc[-1]  # its own template: no indicators
    assert SECRET not in out.stdout + out.stderr


def test_arena_runs_table_shows_tokens_latency_and_cost_when_a_model_answered(
        server, tmp_path, monkeypatch, capsys):
    from arena.cli import main

    data = tmp_path / "bars.csv"
    synthetic(("AAA",), bars=8, seed=2).frame("AAA").to_csv(data)
    cfg = tmp_path / "llm.toml"
    cfg.write_text(CONFIG.format(data=data, run_dir=tmp_path / "runs", url=server.base_url,
                                 env=KEY_ENV))
    monkeypatch.setenv(KEY_ENV, SECRET)

    assert main(["run", str(cfg), "--no-record"]) == 0
    table_ = capsys.readouterr().out.splitlines()
    assert main(["run", str(cfg), "--no-record", "--format", "json"]) == 0
    rows = {r["agent"]: r for r in json.loads(capsys.readouterr().out)}

    header = table_[1].split()
    assert header[-3:] == ["tokens", "latency_ms", "cost_usd"]
    cells = {n: next(line.split()[-3:] for line in table_[2:5] if f" {n} " in line)
             for n in rows}
    a = rows["model A"]  # tokens and cost as in the JSON (the same words); latency varies
    assert a["tokens"] > 1000 and a["cost_usd"] > 0
    assert cells["model A"][0] == f"{a['tokens']:,}" and cells["model A"][2] == f"{a['cost_usd']:.4f}"
    assert float(cells["model A"][1]) > 0 and len(cells["model A"][1].split(".")[1]) == 2
    assert cells["sma_cross(fast=3,slow=6)"] == ["0", "NaN", "0.0000"]


def test_arena_runs_table_has_no_llm_columns_without_models(tmp_path, capsys):
    from arena.cli import main

    assert main(["run", "--symbol", "AAPL", "--agent", "buy_and_hold", "--end", "2005-03-01",
                 "--no-record"]) == 0

    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "fees"


@pytest.mark.parametrize("name", ["llm_arena.toml", "llm_ollama.toml"])
def test_example_configs_build_their_agents(name, monkeypatch):
    spec = load_config(ROOT / "examples" / name)

    agents = [create_agent(s) for s in spec.agents]

    llms = [a for a in agents if type(a).__name__ == "LLMAgent"]
    assert len(llms) >= 2 and len(agents) > len(llms)
    assert len({a.label() for a in agents}) == len(agents)
    if name == "llm_ollama.toml":
        assert all(a.base_url == "http://localhost:11434/v1" and a.api_key_env == ""
                   for a in llms)
    else:
        assert all(a.api_key_env == "OPENAI_API_KEY" for a in llms)
        assert all(a.price_in > 0 and a.price_out > 0 for a in llms)


def test_the_openai_example_without_a_key_runs_and_says_why_the_models_held(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)

    out = subprocess.run([sys.executable, "-m", "arena.cli", "run",
                          str(ROOT / "examples" / "llm_arena.toml"), "--no-record"],
                         capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)

    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if "llm:" in line]
    assert [(r[1], r[2]) for r in rows] == [("llm:gpt-4o-mini", "100,000.00"),
                                            ("llm:gpt-4.1-mini", "100,000.00")]  # held
    notes = [line for line in out.stderr.splitlines() if line.startswith("arena: llm:")]
    assert len(notes) == 2
    assert all("environment variable OPENAI_API_KEY is not set" in n for n in notes)
