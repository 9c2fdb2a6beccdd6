"""The `arena` command, run as a real subprocess: output formats, exit codes, messages.

Every test starts the installed console script (or ``python -m arena.cli``) with
its working directory in a temporary folder and reads what a user would see:
stdout, stderr, the exit code and the recording on disk.
"""

import io
import json
import os
import resource
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from arena.recorder import Recording
from tests.terminal import run_on_terminal

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
_SCRIPT = Path(sys.executable).with_name("arena")
ARENA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "arena.cli"]

BUILTINS = {"buy_and_hold", "macd", "mean_reversion", "ml", "momentum", "random", "rsi", "sma_cross"}
FOUR = ("buy_and_hold", "sma_cross", "momentum", "rsi")
LEADERBOARD_KEYS = {"rank", "agent", "equity", "return_pct", "sharpe", "max_drawdown_pct",
                    "win_rate", "trades", "run_id", "run_path"}
RUNS_KEYS = {"run_id", "created", "agents", "data", "status", "leader"}

# high (10) below low (12) on the third data row, which is line 4 counting the header
BAD_CSV = """time,open,high,low,close,volume
2020-01-01,10,11,9,10.5,100
2020-01-02,10.5,11.5,10,11,100
2020-01-03,11,10,12,11,100
2020-01-04,11,12,10,11.5,100
"""
BAD_TOML = "[data\nsymbols = ['AAPL']\n"
UNKNOWN_KEY_TOML = """[data]
symbols = ["AAPL"]
colour = "red"

[[agents]]
agent = "rsi"
"""

# A user agent: raises on some bars, answers garbage on others, otherwise holds
# (after going half long at bar 3). Imported by dotted path from PYTHONPATH.
FLAKY_AGENT = '''
from arena.agents.base import Agent, Decision


class Flaky(Agent):
    description = "a badly behaved user agent"

    def decide(self, obs):
        if obs.step % 50 == 7:
            raise RuntimeError(f"boom at step {obs.step}\\x1b[2J")  # and a terminal escape
        if obs.step % 50 == 13:
            return "buy everything"
        if obs.step % 50 == 21:
            return Decision({"AAPL": 5.0}, reasoning="way over the cap")
        if obs.step == 3:
            return Decision({"AAPL": 0.5}, reasoning="half in")
        return Decision.hold("waiting")
'''
FLAKY_WINDOW = ("--symbol", "AAPL", "--start", "2010-01-01", "--end", "2011-12-31")


def arena(*args, cwd, env=None, timeout=180) -> subprocess.CompletedProcess:
    """Run the `arena` command in ``cwd``; stdout/stderr captured (not a TTY)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*ARENA, *map(str, args)], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def recording_of(result: subprocess.CompletedProcess, cwd: Path) -> Recording:
    board = json.loads(result.stdout)
    return Recording(cwd / board[0]["run_path"])


def assert_clean_error(result: subprocess.CompletedProcess, *names: str) -> None:
    """Exit 2, one paragraph on stderr starting 'arena: error:', naming ``names``."""
    err = result.stderr
    assert result.returncode == 2, (result.returncode, err)
    assert err.startswith("arena: error:"), err
    assert "Traceback" not in err
    assert "\n\n" not in err.strip(), "more than one paragraph"
    assert result.stdout == ""
    for name in names:
        assert name in err, f"{name!r} not named in: {err}"


# ----------------------------------------------------------------------------- run: formats


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    """One recorded 4-agent run on AAPL, printed as JSON (shared by several tests)."""
    cwd = tmp_path_factory.mktemp("json_run")
    args = [a for name in FOUR for a in ("--agent", name)]
    result = arena("run", *args, "--symbol", "AAPL", "--format", "json", "--run-dir", "RUNDIR",
                   cwd=cwd)
    return cwd, result


def test_run_json_prints_one_ranked_object_per_agent(json_run):
    # Arrange / Act
    cwd, result = json_run
    # Assert
    assert result.returncode == 0, result.stderr
    board = json.loads(result.stdout)
    assert isinstance(board, list)
    assert sorted(row["agent"] for row in board) == sorted(FOUR)
    for row in board:
        assert set(row) >= LEADERBOARD_KEYS, row
    assert [row["rank"] for row in board] == [1, 2, 3, 4]
    equities = [row["equity"] for row in board]
    assert equities == sorted(equities, reverse=True)
    for row in board:
        assert row["return_pct"] == pytest.approx((row["equity"] / 100_000 - 1) * 100)
        assert row["win_rate"] is None or 0.0 <= row["win_rate"] <= 1.0
        assert row["max_drawdown_pct"] <= 0.0
    assert next(r for r in board if r["agent"] == "buy_and_hold")["trades"] == 0


def test_run_json_names_the_recording_it_wrote(json_run):
    # Arrange
    cwd, result = json_run
    board = json.loads(result.stdout)
    # Act
    run_ids = {row["run_id"] for row in board}
    run_paths = {row["run_path"] for row in board}
    # Assert
    assert len(run_ids) == 1 and len(run_paths) == 1
    run_path = cwd / run_paths.pop()
    assert run_path.parent == cwd / "RUNDIR"
    assert run_path.name == run_ids.pop()
    assert (run_path / "arena.sqlite").is_file()
    with Recording(run_path) as rec:
        assert rec.meta["status"] == "finished"
        assert rec.meta["leader"] == board[0]["agent"]
        final = rec.equity().groupby("agent")["equity"].last()
    for row in board:
        assert final[row["agent"]] == pytest.approx(row["equity"])


@pytest.mark.slow
def test_run_csv_and_table_print_the_same_leaderboard(tmp_path, json_run):
    # Arrange
    board = json.loads(json_run[1].stdout)
    args = [a for name in FOUR for a in ("--agent", name)]
    # Act
    as_csv = arena("run", *args, "--symbol", "AAPL", "--format", "csv", "--no-record",
                   cwd=tmp_path)
    as_table = arena("run", *args, "--symbol", "AAPL", "--no-record", cwd=tmp_path)
    # Assert: csv parses with pandas, same agents and equity as the JSON run
    assert as_csv.returncode == 0, as_csv.stderr
    df = pd.read_csv(io.StringIO(as_csv.stdout))
    assert set(df.columns) >= LEADERBOARD_KEYS
    assert df["agent"].tolist() == [row["agent"] for row in board]
    assert df["equity"].tolist() == pytest.approx([row["equity"] for row in board])
    assert df["rank"].tolist() == [1, 2, 3, 4]
    assert df["run_path"].isna().all()  # --no-record
    # the table: a header line, one line per agent in rank order, the run line
    assert as_table.returncode == 0, as_table.stderr
    lines = as_table.stdout.splitlines()
    assert lines[0].startswith("bundled:AAPL: 3270 bars, 2000-03-01 to 2013-03-01")
    header = lines[1].split()
    assert header[:3] == ["rank", "agent", "equity"]
    assert [line.split()[1] for line in lines[2:6]] == [row["agent"] for row in board]
    assert lines[6].startswith("run ") and lines[6].endswith("(not recorded)")


@pytest.mark.slow
def test_run_without_a_tty_prints_no_progress_bar(tmp_path):
    # Arrange: stdout and stderr are pipes, so tqdm must stay silent
    # Act
    result = arena("run", "--agent", "sma_cross", "--symbol", "MSFT", "--format", "json",
                   "--no-record", cwd=tmp_path)
    # Assert
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["agent"] == "sma_cross"
    assert "%|" not in result.stderr and "bar/s" not in result.stderr
    assert "\r" not in result.stdout


@pytest.mark.slow
def test_run_with_a_tty_shows_the_progress_bar_on_stderr_only(tmp_path):
    # Act: stderr on a 24x120 pseudo-terminal, stdout a pipe
    code, out, terminal = run_on_terminal(
        [*ARENA, "run", "--agent", "sma_cross", "--symbol", "MSFT", "--end", "2001-12-31",
         "--speed", "400", "--format", "json", "--no-record"], cwd=tmp_path)
    # Assert
    assert code == 0
    assert json.loads(out)[0]["agent"] == "sma_cross"
    assert "%|" in terminal and "bar" in terminal, terminal


# ----------------------------------------------------------------------------- determinism

DETERMINISM_ARGS = ("run", "--agent", "random", "--agent", "random:trade_prob=0.3",
                    "--agent", "sma_cross", "--agent", "buy_and_hold",
                    "--symbol", "AAPL", "--symbol", "MSFT", "--start", "2006-01-01",
                    "--end", "2009-12-31", "--fee-bps", "5", "--slippage-bps", "10",
                    "--format", "json", "--run-dir", "runs")


@pytest.mark.slow
def test_same_seed_same_recording_row_for_row(tmp_path):
    # Arrange / Act
    with ThreadPoolExecutor(3) as pool:
        first, second, other = pool.map(
            lambda seed: arena(*DETERMINISM_ARGS, "--seed", seed, cwd=tmp_path), (11, 11, 12))
    # Assert
    for r in (first, second, other):
        assert r.returncode == 0, r.stderr
    with recording_of(first, tmp_path) as a, recording_of(second, tmp_path) as b, \
            recording_of(other, tmp_path) as c:
        assert a.run_path != b.run_path
        for table in ("bars", "equity", "trades", "decisions"):
            pd.testing.assert_frame_equal(getattr(a, table)(), getattr(b, table)(),
                                          check_exact=True, obj=table)
        ev_a, ev_b = a.events().drop(columns="wall_time"), b.events().drop(columns="wall_time")
        pd.testing.assert_frame_equal(ev_a, ev_b, check_exact=True, obj="events")
        assert len(a.trades()) > 0 and (a.trades()["fee"] > 0).all()
        # a different seed changes the random agents' trades and nothing else's
        ta, tc = a.trades(), c.trades()
        for name in ("random", "random(trade_prob=0.3)"):
            mine_a = ta[ta["agent"] == name].reset_index(drop=True)
            mine_c = tc[tc["agent"] == name].reset_index(drop=True)
            assert len(mine_a) > 0 and len(mine_c) > 0
            assert not mine_a.equals(mine_c), name
        for name in ("sma_cross", "buy_and_hold"):
            pd.testing.assert_frame_equal(ta[ta["agent"] == name].reset_index(drop=True),
                                          tc[tc["agent"] == name].reset_index(drop=True))


# ----------------------------------------------------------------------------- config files


@pytest.mark.slow
def test_run_quickstart_config_and_flags_override_it(tmp_path):
    # Arrange
    shutil.copy(EXAMPLES / "quickstart.toml", tmp_path / "quickstart.toml")
    # Act
    plain = arena("run", "quickstart.toml", "--format", "json", cwd=tmp_path)
    over = arena("run", "quickstart.toml", "--seed", "7", "--cash", "50000", "--format", "json",
                 cwd=tmp_path)
    # Assert: the file's values (run_dir "runs", seed 42, cash 100000, 4+ agents)
    assert plain.returncode == 0, plain.stderr
    board = json.loads(plain.stdout)
    assert len(board) >= 4
    assert board[0]["run_path"].startswith("runs")
    with recording_of(plain, tmp_path) as rec:
        assert rec.meta["seed"] == 42
        assert rec.meta["config"]["portfolio"]["cash"] == 100000
        assert rec.meta["symbols"] == ["AAPL", "MSFT"]
    # ... and the flags win over them
    assert over.returncode == 0, over.stderr
    over_board = json.loads(over.stdout)
    assert len(over_board) == len(board)
    with recording_of(over, tmp_path) as rec:
        assert rec.meta["seed"] == 7
        assert rec.meta["config"]["portfolio"]["cash"] == 50000
    for row in over_board:
        assert row["equity"] - 50000 == pytest.approx(row["pnl"])


@pytest.mark.slow
def test_run_custom_file_config_reads_the_file_next_to_it(tmp_path):
    # Arrange: the config and its data folder copied elsewhere; cwd is not their folder
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    # Act
    result = arena("run", "../examples/custom_file.toml", "--format", "json",
                   "--run-dir", "out", cwd=cwd)
    # Assert
    assert result.returncode == 0, result.stderr
    board = json.loads(result.stdout)
    assert len(board) == 4
    with recording_of(result, cwd) as rec:
        assert rec.meta["data_source"].endswith("ibm_msft_2012.csv")
        assert rec.meta["symbols"] == ["IBM", "MSFT"]
        assert rec.meta["n_bars"] == 250


# ----------------------------------------------------------------------------- bad input

# (id, arguments after `arena`, names the message must contain)
BAD_INPUT = [
    ("unknown_symbol", ["run", "-a", "buy_and_hold", "-s", "ZZZZ"], ["ZZZZ", "AAPL", "MSFT"]),
    ("unknown_agent", ["run", "-a", "nope", "-s", "AAPL"], ["nope", *sorted(BUILTINS)]),
    ("bad_param_value", ["run", "-a", "sma_cross:fast=abc", "-s", "AAPL"],
     ["sma_cross", "fast", "abc"]),
    ("unknown_param", ["run", "-a", "sma_cross:bogus=1", "-s", "AAPL"], ["bogus", "fast"]),
    ("missing_file", ["run", "-a", "buy_and_hold", "--data", "missing.csv"],
     ["missing.csv", "not found"]),
    ("bad_csv_row", ["run", "-a", "buy_and_hold", "--data", "bad.csv"],
     ["bad.csv", "line 4", "high"]),
    ("missing_config", ["run", "nofile.toml"], ["nofile.toml", "not found"]),
    ("bad_toml", ["run", "bad.toml"], ["bad.toml", "TOML"]),
    ("unknown_config_key", ["run", "unknown_key.toml"], ["unknown_key.toml", "colour"]),
    ("no_agents", ["run", "-s", "AAPL"], ["no agents", "--agent"]),
    ("symbol_and_data", ["run", "-a", "rsi", "-s", "AAPL", "--data", "bad.csv"],
     ["--symbol", "--data"]),
    ("neither_symbol_nor_data", ["run", "-a", "rsi"], ["--symbol", "--data"]),
    ("negative_cash", ["run", "-a", "rsi", "-s", "AAPL", "--cash", "-5"], ["cash", "-5"]),
    ("zero_leverage", ["run", "-a", "rsi", "-s", "AAPL", "--leverage", "0"], ["max_leverage"]),
    ("negative_speed", ["run", "-a", "rsi", "-s", "AAPL", "--speed", "-1"], ["speed"]),
    ("start_after_end", ["run", "-a", "rsi", "-s", "AAPL", "--start", "2010-01-01",
                         "--end", "2009-01-01"], ["2010-01-01", "2009-01-01", "no bars"]),
    ("range_without_data", ["run", "-a", "rsi", "-s", "AAPL", "--start", "2020-01-01"],
     ["2020-01-01", "2013-03-01"]),
    ("agent_module_missing", ["run", "-a", "nomod.sub:Thing", "-s", "AAPL"],
     ["nomod.sub", "Thing"]),
    ("agent_class_missing", ["run", "-a", "arena.agents:NoSuchAgent", "-s", "AAPL"],
     ["NoSuchAgent"]),
    ("unparsable_start", ["run", "-a", "rsi", "-s", "AAPL", "--start", "notadate"],
     ["start", "notadate"]),
    ("one_bar_window", ["run", "-a", "rsi", "-s", "AAPL", "--start", "2013-03-01"],
     ["1 bar", "2013-03-01", "at least 2"]),
    ("config_seed_not_int", ["run", "seed_text.toml", "--no-record"],
     ["seed_text.toml", "[run] seed", "'x'"]),
]
SEED_TEXT_TOML = '[data]\nsymbols = ["AAPL"]\n[run]\nseed = "x"\n[[agents]]\nagent = "rsi"\n'


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """Every bad-input command, run in parallel in one folder with the fixture files."""
    cwd = tmp_path_factory.mktemp("bad_input")
    (cwd / "bad.csv").write_text(BAD_CSV)
    (cwd / "bad.toml").write_text(BAD_TOML)
    (cwd / "unknown_key.toml").write_text(UNKNOWN_KEY_TOML)
    (cwd / "seed_text.toml").write_text(SEED_TEXT_TOML)
    cases = {case: args for case, args, _ in BAD_INPUT}
    cases["debug"] = ["--debug", "run", "-a", "nope", "-s", "AAPL"]
    cases["runs_missing_folder"] = ["runs", "--run-dir", "runs"]
    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        results = pool.map(lambda args: arena(*args, cwd=cwd), cases.values())
        return dict(zip(cases, results, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize(("case", "names"),
                         [(c, n) for c, _, n in BAD_INPUT], ids=[c for c, *_ in BAD_INPUT])
def test_bad_input_exits_2_with_one_clear_paragraph(bad_runs, case, names):
    # Arrange / Act (in the fixture)
    result = bad_runs[case]
    # Assert
    assert_clean_error(result, *names)


@pytest.mark.slow
def test_debug_shows_the_traceback(bad_runs):
    # Arrange / Act (in the fixture): `arena --debug run -a nope -s AAPL`
    result = bad_runs["debug"]
    # Assert
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "AgentSpecError: unknown agent 'nope'" in result.stderr


@pytest.mark.slow
def test_runs_on_a_missing_folder_is_not_an_error(bad_runs):
    result = bad_runs["runs_missing_folder"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no recorded runs in runs/"


# ----------------------------------------------------------------------------- user agents


def test_run_on_a_full_disk_exits_2_naming_the_recording(tmp_path):
    # Arrange: files may not grow past 150 kB, so the recording's writes fail (prices and
    # equity take ~140 bytes a bar here: after about a third of the 3.3 s run)
    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    # Act
    result = subprocess.run([*ARENA, "run", "--agent", "sma_cross", "--agent", "random",
                             "--symbol", "AAPL", "--symbol", "MSFT", "--run-dir", "runs",
                             "--speed", "1000"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=180,
                            preexec_fn=small_files)
    # Assert
    assert_clean_error(result, "recording failed at bar", "arena.sqlite", "disk I/O error",
                       "the run stopped")


@pytest.mark.slow
def test_failing_user_agent_holds_and_the_others_are_unaffected(tmp_path):
    # Arrange: a package with the flaky agent, importable through PYTHONPATH
    pkg = tmp_path / "user_code" / "userpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "flaky.py").write_text(FLAKY_AGENT)
    env = {"PYTHONPATH": str(tmp_path / "user_code")}
    common = ("--format", "json", "--run-dir", "runs", *FLAKY_WINDOW)
    # Act
    with ThreadPoolExecutor(2) as pool:
        with_flaky, without = pool.map(lambda agents: arena(
            "run", *agents, *common, cwd=tmp_path, env=env), (
            ("-a", "userpkg.flaky:Flaky", "-a", "sma_cross", "-a", "buy_and_hold"),
            ("-a", "sma_cross", "-a", "buy_and_hold")))
    # Assert: the run completes
    assert with_flaky.returncode == 0, with_flaky.stderr
    assert without.returncode == 0, without.stderr
    board = {row["agent"]: row for row in json.loads(with_flaky.stdout)}
    # 504 bars (steps 0..503): steps ≡ 7, 13, 21 (mod 50) fail, 10 of each
    assert board["Flaky"]["errors"] == 30
    assert board["sma_cross"]["errors"] == board["buy_and_hold"]["errors"] == 0
    # the table's stderr names the errors, the escape written out, not sent to the terminal
    table = arena("run", "-a", "userpkg.flaky:Flaky", "--run-dir", "runs", *FLAKY_WINDOW,
                  cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "Flaky: 30 agent error(s); e.g. decide() raised RuntimeError: boom at step 7\\x1b[2J" \
        in table.stderr and "\x1b" not in table.stderr
    with recording_of(with_flaky, tmp_path) as rec, recording_of(without, tmp_path) as ref:
        assert rec.meta["n_bars"] == 504
        events = rec.events()
        errors = events[events["kind"] == "agent_error"]
        assert (errors["agent"] == "Flaky").all()
        assert len(errors) == 30
        by_bar = dict(zip(errors["bar"].astype(int), errors["message"], strict=True))
        assert sorted(by_bar) == sorted(t for t in range(504) if t % 50 in (7, 13, 21))
        assert "decide() raised RuntimeError: boom at step 57" in by_bar[57]
        assert "expected a Decision, got str" in by_bar[63]
        assert "weight for AAPL must be in -1..1, got 5.0" in by_bar[71]
        # it holds: one buy (bar 3's decision filled at bar 4's open), never another fill
        trades = rec.trades()
        mine = trades[trades["agent"] == "Flaky"]
        assert mine[["bar", "side", "action"]].values.tolist() == [[4, "buy", "entry"]]
        eq = rec.equity()
        assert eq[eq["agent"] == "Flaky"].set_index("bar")["invested"].loc[4:].all()
        # the others trade exactly as in a run without it (the recorded cash is rebuilt
        # backwards from block ends, so it may differ in the last bits between the
        # per-bar path taken here and the compiled-block path of the reference run)
        ref_eq, ref_trades = ref.equity(), ref.trades()
        for name in ("sma_cross", "buy_and_hold"):
            mine_eq = eq[eq["agent"] == name].reset_index(drop=True)
            theirs = ref_eq[ref_eq["agent"] == name].reset_index(drop=True)
            pd.testing.assert_frame_equal(mine_eq.drop(columns="cash"),
                                          theirs.drop(columns="cash"), check_exact=True)
            assert mine_eq["cash"].to_numpy() == pytest.approx(theirs["cash"].to_numpy(),
                                                                rel=1e-12, abs=1e-6)
            pd.testing.assert_frame_equal(
                trades[trades["agent"] == name].reset_index(drop=True),
                ref_trades[ref_trades["agent"] == name].reset_index(drop=True))


# ----------------------------------------------------------------------------- listings


@pytest.fixture(scope="module")
def listings(json_run):
    """`arena runs`, `arena data list` and `arena agents`, table and JSON, in parallel."""
    cwd, _ = json_run
    commands = {
        "runs": ["runs", "--run-dir", "RUNDIR"],
        "runs_json": ["runs", "--run-dir", "RUNDIR", "--format", "json"],
        "data": ["data", "list"],
        "data_json": ["data", "list", "--format", "json"],
        "agents": ["agents"],
        "agents_json": ["agents", "--format", "json"],
    }
    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        results = pool.map(lambda args: arena(*args, cwd=cwd), commands.values())
        return dict(zip(commands, results, strict=True))


@pytest.mark.slow
def test_runs_lists_the_recorded_run_as_table_and_json(json_run, listings):
    # Arrange
    board = json.loads(json_run[1].stdout)
    run_id = board[0]["run_id"]
    # Act (in the fixture)
    table, as_json = listings["runs"], listings["runs_json"]
    # Assert
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["run_id", "created", "agents", "data", "status", "leader"]
    assert len(rows) == 1 and rows[0].startswith(run_id)
    assert rows[0].split()[-2:] == ["finished", board[0]["agent"]]
    assert as_json.returncode == 0, as_json.stderr
    (run,) = json.loads(as_json.stdout)
    assert set(run) >= RUNS_KEYS
    assert run["run_id"] == run_id
    assert run["agents"] == ", ".join(FOUR)
    assert run["data"] == "AAPL"
    assert run["status"] == "finished"
    assert run["leader"] == board[0]["agent"]
    assert run["created"][:4].isdigit() and "T" in run["created"]


def test_runs_json_is_valid_json_with_an_unreadable_run(tmp_path):
    # Arrange
    (tmp_path / "runs" / "broken").mkdir(parents=True)
    (tmp_path / "runs" / "broken" / "arena.sqlite").write_text("not a database")

    def no_nan(name):
        raise ValueError(f"{name} is not JSON")

    # Act
    result = arena("runs", "--format", "json", cwd=tmp_path)
    # Assert
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout, parse_constant=no_nan)
    assert run["run_id"] == "broken" and run["status"] == "unreadable"


@pytest.mark.slow
def test_data_list_shows_the_bundled_symbols_with_date_ranges(listings):
    # Act (in the fixture)
    table, as_json = listings["data"], listings["data_json"]
    # Assert
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split()[1:4] for line in table.stdout.splitlines()[1:]}
    assert rows == {
        "AAPL": ["2000-03-01", "2013-03-01", "3270"],
        "GOOG": ["2004-08-19", "2013-03-01", "2148"],
        "IBM": ["2000-03-01", "2013-03-01", "3270"],
        "MSFT": ["2000-03-01", "2013-03-01", "3270"],
    }
    assert as_json.returncode == 0, as_json.stderr
    listed = {r["symbol"]: (r["start"], r["end"]) for r in json.loads(as_json.stdout)}
    assert listed["GOOG"] == ("2004-08-19", "2013-03-01")
    assert set(listed) == {"AAPL", "GOOG", "IBM", "MSFT"}


@pytest.mark.slow
def test_agents_lists_the_builtins(listings):
    # Act (in the fixture)
    table, as_json = listings["agents"], listings["agents_json"]
    # Assert
    assert table.returncode == 0, table.stderr
    names = {line.split()[0] for line in table.stdout.splitlines()[1:]}
    assert names == BUILTINS | {"llm"}
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert {r["name"] for r in rows} == BUILTINS | {"llm"}
    sma = next(r for r in rows if r["name"] == "sma_cross")
    assert "fast=10" in sma["parameters"] and "slow=20" in sma["parameters"]
    assert all(r["description"] for r in rows)


# ----------------------------------------------------------------------------- replay

def test_replay_of_a_missing_run_exits_2_naming_it_and_the_runs_there(json_run):
    cwd, result = json_run
    run_id = Path(json.loads(result.stdout)[0]["run_path"]).name

    missing = arena("replay", "no-such-run", "--run-dir", "RUNDIR", cwd=cwd)
    bad_at = arena("replay", run_id, "--run-dir", "RUNDIR", "--at", "soon", cwd=cwd)

    assert_clean_error(missing, "no-such-run", run_id)
    assert_clean_error(bad_at, "--at", "soon")
