"""The ``arena`` command: run competitions, list and export runs, bundled data and agents.

Exit codes: 0 success, 2 bad input (a one-paragraph message on stderr names
it), 1 a failure while running. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from dataclasses import replace

import pandas as pd

from arena.config import ConfigError, RunSpec, load_config, with_flags
from arena.data.calendars import CALENDARS
from arena.server import add_replay_parser, add_serve_parser, cmd_replay, cmd_serve
from arena.sweep.parsers import add_parsers as add_sweep_parsers

JSON_FIELDS = ("rank", "agent", "equity", "pnl", "return_pct", "sharpe", "max_drawdown_pct",
               "win_rate", "trades", "fees", "exposure_pct", "errors", "tokens", "latency_ms",
               "cost_usd")


class UsageError(ValueError):
    """Bad input from the command line."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arena", description="Trading agents compete on market data.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a competition and print the leaderboard",
                       description="Run a competition from flags or a CONFIG.toml.")
    r.add_argument("config", nargs="?", help="a TOML run configuration (see arena/config.py)")
    r.add_argument("--agent", "-a", action="append", default=[], metavar="NAME[:p=v,...]",
                   help="an agent (repeatable); `arena agents` lists them")
    r.add_argument("--symbol", "-s", action="append", default=[], metavar="SYM",
                   help="a bundled symbol (repeatable); `arena data list` lists them")
    r.add_argument("--data", metavar="FILE", help="a CSV or Parquet file of OHLCV bars")
    r.add_argument("--start", help="first date (inclusive), e.g. 2005-01-01")
    r.add_argument("--end", help="last date (inclusive)")
    r.add_argument("--calendar", choices=CALENDARS,
                   help="the market's calendar, for annualised statistics (default: trading "
                        "days for bundled symbols, inferred for files; docs/metrics.md)")
    r.add_argument("--cash", type=float, help="starting cash per agent (default 100000)")
    r.add_argument("--fee-bps", type=float, help="fee per fill in basis points")
    r.add_argument("--slippage-bps", type=float, help="slippage per fill in basis points")
    r.add_argument("--leverage", type=float, help="leverage cap (default 1)")
    r.add_argument("--fractional", action="store_true", help="trade fractional units")
    r.add_argument("--seed", type=int, help="random seed (default 0)")
    r.add_argument("--speed", type=float, help="bars per second (default: as fast as possible)")
    r.add_argument("--run-dir", help="where recordings go (default ./runs)")
    r.add_argument("--no-record", action="store_true", help="do not write a recording")
    r.add_argument("--format", choices=("table", "json", "csv"), default="table")

    rs = sub.add_parser("runs", help="list recorded runs")
    rs.add_argument("--run-dir", default="runs")
    rs.add_argument("--format", choices=("table", "json"), default="table")

    d = sub.add_parser("data", help="market data")
    dsub = d.add_subparsers(dest="data_command", required=True)
    dl = dsub.add_parser("list", help="bundled symbols and cached exchange data with their date ranges")
    dl.add_argument("--format", choices=("table", "json"), default="table")
    dl.add_argument("--cache-dir", default="data", metavar="DIR",
                    help="where fetched exchange data is cached (default ./data)")
    _add_fetch_parser(dsub)

    _add_live_parser(sub)
    add_sweep_parsers(sub)

    ag = sub.add_parser("agents", help="list the built-in agents and their parameters")
    ag.add_argument("--format", choices=("table", "json"), default="table")
    _add_export_parser(sub)
    add_serve_parser(sub)
    add_replay_parser(sub)
    return p


def _add_fetch_parser(dsub) -> None:
    f = dsub.add_parser(
        "fetch", help="download exchange candles (ccxt) into the local cache",
        description="Download closed OHLCV candles from an exchange through ccxt into a "
                    "Parquet cache, by default DIR/EXCHANGE/SYMBOL-TF.parquet (BTC/USDT → "
                    "BTC-USDT). Fetching again adds only the candles new since the last "
                    "fetch; an interrupted fetch resumes. See docs/live.md.")
    f.add_argument("exchange", metavar="EXCHANGE", help="a ccxt exchange id, e.g. binance")
    f.add_argument("symbols", nargs="+", metavar="SYMBOL", help="markets, e.g. BTC/USDT ETH/USDT")
    f.add_argument("--timeframe", "-t", required=True, metavar="TF",
                   help="candle length as the exchange names it, e.g. 1m, 1h, 1d")
    f.add_argument("--since", metavar="DATE",
                   help="first candle (UTC), needed for symbols not cached yet; a cached "
                        "symbol continues after its last candle")
    f.add_argument("--until", metavar="DATE",
                   help="stop before this time (UTC, exclusive; default: the last closed candle)")
    f.add_argument("-o", "--output", metavar="FILE",
                   help="one Parquet file for all the symbols (what `arena run --data` "
                        "needs for several symbols)")
    f.add_argument("--cache-dir", default="data", metavar="DIR",
                   help="the cache's folder (default ./data)")
    f.add_argument("--exchange-config", metavar="JSON",
                   help="ccxt constructor arguments as a JSON object or a JSON file (urls, "
                        "options, timeout, proxies...); keys ending in _env name "
                        "environment variables, e.g. {\"apiKey_env\": \"BINANCE_KEY\"}")
    f.add_argument("--limit", type=int, metavar="N",
                   help="candles per request (default: the exchange's page size)")
    f.add_argument("--retries", type=int, default=5, metavar="N",
                   help="retries of a failing request (default 5)")
    f.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                   help="first wait before a retry, doubled each time up to 30 s (default 1); "
                        "a Retry-After from the exchange takes precedence")
    f.add_argument("--format", choices=("table", "json"), default="table")


def _add_live_parser(sub) -> None:
    lv = sub.add_parser(
        "live", help="a competition on live exchange candles (ccxt)",
        description="Agents start on the last --warmup closed candles, then each newly closed "
                    "candle is one bar (fills at the next candle's open, paper accounts). "
                    "Ctrl-C (or SIGTERM) stops the run and prints the leaderboard. "
                    "See docs/live.md.")
    lv.add_argument("config", nargs="?", help="a TOML configuration with a [live] table")
    lv.add_argument("--resume", metavar="RUN",
                    help="continue a stopped or interrupted live run (a run id under "
                         "--run-dir, or a run folder) into the same recording; its market, "
                         "agents and config come from the recording")
    lv.add_argument("--exchange", "-e", metavar="ID", help="a ccxt exchange id, e.g. binance")
    lv.add_argument("--symbol", "-s", action="append", default=[], metavar="SYM",
                    help="a market, e.g. BTC/USDT (repeatable)")
    lv.add_argument("--timeframe", "-t", metavar="TF", help="candle length, e.g. 1m (default 1m)")
    lv.add_argument("--agent", "-a", action="append", default=[], metavar="NAME[:p=v,...]",
                    help="an agent (repeatable); `arena agents` lists them")
    lv.add_argument("--warmup", type=int, metavar="N",
                    help="closed candles fetched first, on which the agents start (default 500)")
    lv.add_argument("--duration", metavar="D",
                    help="how long to run after the warm-up, e.g. 90m, 6h, 2d (default: "
                         "until stopped); with --resume, after the last recorded bar "
                         "(default: the run's own end)")
    lv.add_argument("--grace", type=float, metavar="SECONDS",
                    help="how long a slot waits for a silent symbol before filling it "
                         "forward (default 10 %% of the timeframe, at least 5 s)")
    lv.add_argument("--poll", type=float, metavar="SECONDS",
                    help="most seconds between polls (default a twelfth of the timeframe, "
                         "0.5 to 5 s)")
    lv.add_argument("--exchange-config", metavar="JSON",
                    help="ccxt constructor arguments as a JSON object or file, as for "
                         "`arena data fetch`")
    lv.add_argument("--decide-deadline", type=float, metavar="SECONDS",
                    help="seconds a bar waits for LLM agents (default half a candle)")
    lv.add_argument("--cash", type=float, help="starting cash per agent (default 100000)")
    lv.add_argument("--fee-bps", type=float, help="fee per fill in basis points")
    lv.add_argument("--slippage-bps", type=float, help="slippage per fill in basis points")
    lv.add_argument("--leverage", type=float, help="leverage cap (default 1)")
    lv.add_argument("--fractional", action="store_true", help="trade fractional units")
    lv.add_argument("--seed", type=int, help="random seed (default 0)")
    lv.add_argument("--run-dir", help="where recordings go (default ./runs)")
    lv.add_argument("--no-record", action="store_true", help="do not write a recording")
    lv.add_argument("--format", choices=("table", "json", "csv"), default="table")


def _add_export_parser(sub) -> None:
    from arena.export import DEFAULT_SIZE, EXTENSIONS, FORMATS

    combos = "; ".join(f"{w}: {'|'.join(f)}" for w, f in FORMATS.items())
    e = sub.add_parser(
        "export", help="export a recorded run's charts, tables or report",
        description="Export a recorded run as a file. Formats per item: " + combos + ".")
    e.add_argument("run", metavar="RUN",
                   help="a run id under --runs-dir, a run folder or an arena.sqlite file")
    e.add_argument("--what", "-w", required=True, metavar="ITEM",
                   help="what to export: " + ", ".join(FORMATS))
    e.add_argument("--format", "-f", metavar="FORMAT",
                   help=f"{', '.join(EXTENSIONS)} (default: from -o's extension, else csv; "
                        "html for the report and tearsheet)")
    e.add_argument("-o", "--output", metavar="PATH",
                   help="file to write (default: RUNID-WHAT.EXT here)")
    e.add_argument("--runs-dir", "--run-dir", dest="runs_dir", default="runs", metavar="DIR",
                   help="where run ids are looked up (default ./runs)")
    e.add_argument("--width", type=int, default=DEFAULT_SIZE[0], metavar="PX",
                   help=f"chart width in pixels (default {DEFAULT_SIZE[0]})")
    e.add_argument("--height", type=int, default=DEFAULT_SIZE[1], metavar="PX",
                   help=f"chart height in pixels (default {DEFAULT_SIZE[1]})")
    e.add_argument("--symbol", metavar="SYM", help="the price chart's symbol (default: the run's first)")
    e.add_argument("--agent", metavar="NAME",
                   help="the tear sheet's agent (default: the leaderboard's leader)")


def _spec_from_args(args) -> RunSpec:
    if args.config:
        spec = load_config(args.config)
    else:
        if not args.agent:
            raise UsageError("no agents given: add --agent NAME (repeatable) or a CONFIG.toml; "
                             "`arena agents` lists the agents")
        if bool(args.symbol) == bool(args.data):
            raise UsageError("give bundled symbols with --symbol SYM (repeatable) or a file with "
                             "--data FILE, not both and not neither; `arena data list` lists "
                             "the bundled symbols")
        spec = RunSpec(symbols=tuple(s.upper() for s in args.symbol), file=args.data,
                       agents=tuple(args.agent))
    over = {}
    if args.agent and args.config:
        over["agents"] = tuple(args.agent)
    if args.symbol and args.config:
        over.update(symbols=tuple(s.upper() for s in args.symbol), file=None)
    if args.data and args.config:
        over.update(file=args.data, symbols=())
    for key in ("start", "end", "calendar"):
        if getattr(args, key):
            over[key] = getattr(args, key)
    config = with_flags(spec.config, args, seed=args.seed, speed=args.speed,
                        run_dir=args.run_dir, record=False if args.no_record else None)
    return replace(spec, config=config, **over)


def _progress_bar(total: int):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="bar", file=sys.stderr, disable=None, leave=False,
               dynamic_ncols=True)

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)
        if done >= _total:
            bar.close()

    return update, bar


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _json_value(v.item())
    return v


def cmd_run(args) -> int:
    from arena.engine import Competition

    spec = _spec_from_args(args)
    data = spec.load_data()
    comp = Competition(data, list(spec.agents), spec.config, data_source=spec.data_source)
    update, bar = _progress_bar(len(data))
    try:
        board = comp.run(progress=update)
    finally:
        bar.close()
    first, last = data.timestamp(0), data.timestamp(len(data) - 1)
    fmt = "%Y-%m-%d" if first == first.normalize() and last == last.normalize() else "%Y-%m-%d %H:%M"
    _print_board(comp, board, args.format,
                 f"{data.source}: {len(data)} bars, {first:{fmt}} to {last:{fmt}}")
    return 0


def _command(module: str, name: str):
    """A command whose code (and imports) load only when it runs."""
    def run(args) -> int:
        return getattr(importlib.import_module(module), name)(args)
    return run


cmd_sweep = _command("arena.sweep.command", "cmd_sweep")
cmd_walkforward = _command("arena.sweep.cli_walkforward", "cmd_walkforward")
cmd_tournament = _command("arena.sweep.cli_tournament", "cmd_tournament")


def _print_board(comp, board, fmt: str, header: str) -> None:
    """The final leaderboard as a table (after ``header``), JSON or CSV."""
    from arena.export import models_answered

    board = board.copy()
    board["win_rate"] = board["win_rate_pct"] / 100
    run_id, path = comp.run_id, str(comp.run_path) if comp.run_path else None
    if fmt == "json":
        out = [{**{k: _json_value(row[k]) for k in JSON_FIELDS}, "run_id": run_id,
                "run_path": path} for row in board.to_dict("records")]
        print(json.dumps(out, indent=2))
    elif fmt == "csv":
        board["run_id"], board["run_path"] = run_id, path
        print(board[list(JSON_FIELDS) + ["run_id", "run_path"]].to_csv(index=False), end="")
    else:
        show = board[["rank", "agent", "equity", "return_pct", "sharpe", "max_drawdown_pct",
                      "win_rate_pct", "trades", "fees"]].copy()
        if models_answered(board):
            show["tokens"] = [f"{int(n):,}" for n in board["tokens"]]
            show["latency_ms"] = board["latency_ms"]
            show["cost_usd"] = [f"{c:.4f}" for c in board["cost_usd"]]
        print(header)
        print(show.to_string(index=False, float_format=lambda x: f"{x:,.2f}"))
        print(f"run {run_id}" + (f" recorded in {path}" if path else " (not recorded)"))
        _note_errors(comp, board)


def _live_from_args(args):
    """(LiveConfig, agents, CompetitionConfig) from a CONFIG.toml and/or flags."""
    from arena.feeds.liverun import exchange_params, live_config

    if args.config:
        spec = load_config(args.config)
        if spec.live is None:
            raise UsageError(f"{args.config} has no [live] table (exchange, symbols, "
                             "timeframe...); see docs/live.md")
        live = dict(spec.live)
    else:
        spec, live = RunSpec(), {}
    for key, value in (("exchange", args.exchange), ("timeframe", args.timeframe),
                       ("warmup", args.warmup), ("duration", args.duration),
                       ("grace", args.grace), ("poll", args.poll)):
        if value is not None:
            live[key] = value
    if args.symbol:
        live["symbols"] = list(args.symbol)
    params = exchange_params(args.exchange_config)  # bad JSON first, as always
    if not live.get("exchange") or not live.get("symbols"):
        raise UsageError("give the market: --exchange ID and --symbol SYM (repeatable), or a "
                         "CONFIG.toml with a [live] table")
    agents = tuple(args.agent) or spec.agents
    if not agents:
        raise UsageError("no agents given: add --agent NAME (repeatable) or a CONFIG.toml; "
                         "`arena agents` lists the agents")
    live_cfg = live_config(live, params, decide_deadline=args.decide_deadline)
    config = with_flags(spec.config, args, seed=args.seed, run_dir=args.run_dir,
                        decide_deadline=args.decide_deadline,
                        record=False if args.no_record else None)
    return live_cfg, agents, config


#: `arena live` options that --resume takes from the recording instead
_RESUME_FIXED = ("config", "exchange", "symbol", "timeframe", "agent", "warmup", "grace", "poll",
                 "decide_deadline", "cash", "fee_bps", "slippage_bps", "leverage", "fractional",
                 "seed", "no_record")


def _resume_from_args(args):
    """(feed, competition, source) of ``arena live --resume RUN``."""
    from arena.feeds.liverun import resume_run

    given = [f"--{k.replace('_', '-')}" if k != "config" else "a CONFIG"
             for k in _RESUME_FIXED if getattr(args, k) not in (None, False, [])]
    if given:
        raise UsageError(f"--resume takes the market, agents and config from the recording; "
                         f"drop {', '.join(given)} (allowed: --run-dir, --exchange-config, "
                         "--duration, --format)")
    comp = resume_run(args.resume, args.run_dir or "runs", args.exchange_config, args.duration)
    feed = comp.feed
    return feed, comp, comp.data_source


def cmd_live(args) -> int:
    import signal

    from arena.feeds.liverun import open_live

    def note(message: str) -> None:
        print(_printable(f"arena: {message}"), file=sys.stderr, flush=True)

    if args.resume:
        feed, comp, source = _resume_from_args(args)
        live, data, n0 = feed.config, feed.data, feed.warmup
        t0 = comp.bar
        missed = int(feed.status()["last_candle_age"] * 1000 // feed.timeframe.ms)
        note(f"resuming run {comp.run_id} on {source} at bar {t0:,} "
             f"({data.timestamp(t0 - 1):%Y-%m-%d %H:%M} UTC); {missed} missed candle(s) "
             "first, then live "
             + ("until stopped (Ctrl-C)" if not live.duration else
                f"until bar {len(data):,}"))
    else:
        live, agents, config = _live_from_args(args)
        comp = open_live(live, agents, config)  # what `arena serve` does too
        feed, data, source = comp.feed, comp.data, comp.data_source
        n0 = feed.available()
        note(f"live on {source}: warm-up of {n0} candles, {data.timestamp(0):%Y-%m-%d %H:%M} "
             f"to {data.timestamp(n0 - 1):%Y-%m-%d %H:%M} UTC; "
             + (f"for {live.duration:g} s" if live.duration else "until stopped (Ctrl-C)"))

    def terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    cursor, stopped = 0, False
    try:
        comp.start()
        note(f"run {comp.run_id}" + (f" recording in {comp.run_path}" if comp.run_path else ""))
        while not comp.wait(0.25):
            cursor = _live_notes(comp, cursor, note)
    except KeyboardInterrupt:
        stopped = True
        comp.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
        feed.stop()
    _live_notes(comp, cursor, note)
    status = comp.status()
    if status["error"]:
        note(f"failed: {status['error']}")
        return 1
    t = comp.bar
    header = (f"{source}: {t} bars ({t - min(t, n0)} live), {data.timestamp(0):%Y-%m-%d %H:%M} "
              f"to {data.timestamp(max(0, t - 1)):%Y-%m-%d %H:%M} UTC"
              + (", stopped" if stopped else ""))
    _print_board(comp, comp.leaderboard(), args.format, header)
    return 0


#: events worth a line on stderr while a live run goes
_LIVE_NOTES = ("feed_error", "feed_recovered", "feed_gap_filled", "feed_candle_revised",
               "feed_late_candle", "feed_bad_candle", "feed_finished", "engine_error",
               "recording_error")


def _live_notes(comp, cursor: int, note) -> int:
    events, cursor = comp.streams.events.since(cursor)
    for kind, message in zip(events["kind"], events["message"], strict=True):
        if kind in _LIVE_NOTES:
            note(f"{kind}: {message}")
    return cursor


def _note_errors(comp, board) -> None:
    """One stderr line per agent that had errors: how many, and a reason."""
    failing = board[board["errors"] > 0]
    if failing.empty:
        return
    events, _ = comp.streams.events.since(0)
    errors = events[events["kind"] == "agent_error"]
    for name, n in zip(failing["agent"], failing["errors"], strict=True):
        mine = errors[errors["agent"] == name]["message"]
        first = f"; e.g. {mine.iloc[0]}" if len(mine) else ""
        print(_printable(f"arena: {name}: {n} agent error(s){first}"), file=sys.stderr)


def _printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``...): an error message may
    quote what an endpoint sent, which must not drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def cmd_runs(args) -> int:
    from arena.recorder import list_runs, status_text

    runs = list_runs(args.run_dir)
    if args.format == "json":
        records = runs.astype(object).where(runs.notna(), None).to_dict("records")
        print(json.dumps(records, indent=2))
    elif runs.empty:
        print(f"no recorded runs in {args.run_dir}/")
    else:  # an interrupted run's status says its last bar: "interrupted at bar 1,234 (...)"
        text = [status_text(*r) for r in runs[["status", "last_bar", "last_bar_time"]]
                .itertuples(index=False)]
        table = runs.assign(status=text).drop(columns=["path", "last_bar", "last_bar_time"])
        print(table.to_string(index=False))
    return 0


def cmd_data(args) -> int:
    from arena.data import bundled_symbols
    from arena.feeds import list_caches

    if args.data_command == "fetch":
        return cmd_fetch(args)
    df = bundled_symbols()
    for col in ("start", "end"):
        df[col] = df[col].dt.strftime("%Y-%m-%d")
    cached = list_caches(args.cache_dir)
    if args.format == "json":
        records = df.astype(str).to_dict("records") + [{
            "symbol": r["symbol"], "start": r["first"].isoformat(), "end": r["last"].isoformat(),
            "bars": int(r["candles"]), "source": f"{r['exchange']} {r['timeframe']} (cached)",
            "exchange": r["exchange"], "timeframe": r["timeframe"], "path": r["path"],
        } for r in cached.to_dict("records")]
        print(json.dumps(records, indent=2))
    else:
        print(df.to_string(index=False))
        if not cached.empty:
            for col in ("first", "last"):
                cached[col] = cached[col].dt.strftime("%Y-%m-%d %H:%M")
            print(f"\ncached in {args.cache_dir}/ (times UTC):")
            print(cached.to_string(index=False))
    return 0


def cmd_fetch(args) -> int:
    from tqdm import tqdm

    from arena.feeds import RetryPolicy, fetch_history

    if args.retries < 0 or args.backoff < 0:
        raise UsageError("--retries and --backoff must not be negative")

    def note(message: str) -> None:
        tqdm.write(_printable(f"arena: {message}"), file=sys.stderr)

    results = fetch_history(
        args.exchange, args.symbols, args.timeframe, args.since, args.until,
        output=args.output, cache_dir=args.cache_dir, exchange_config=args.exchange_config,
        limit=args.limit, progress=True, on_retry=note,
        retry=RetryPolicy(attempts=args.retries + 1, backoff=args.backoff,
                          max_backoff=max(30.0, args.backoff)))
    if args.format == "json":
        print(json.dumps([{
            "exchange": r.exchange, "symbol": r.symbol, "timeframe": r.timeframe,
            "added": r.added, "candles": r.candles, "requests": r.requests,
            "first": r.first.isoformat() if r.first is not None else None,
            "last": r.last.isoformat() if r.last is not None else None, "path": str(r.path),
        } for r in results], indent=2))
        return 0
    for r in results:
        span = (f"{r.first:%Y-%m-%d %H:%M} to {r.last:%Y-%m-%d %H:%M} UTC"
                if r.first is not None else "none yet")
        print(f"{r.exchange} {r.symbol} {r.timeframe}: +{r.added} candles, {r.candles} cached "
              f"({span}) in {r.path}")
    return 0


def cmd_agents(args) -> int:
    from arena.agents import describe

    df = describe()
    if args.format == "json":
        print(df.to_json(orient="records", indent=2, default_handler=str))
    else:
        with pd.option_context("display.max_colwidth", 80):
            print(df.to_string(index=False))
    return 0


def cmd_export(args) -> int:
    from arena.export import export

    path = export(args.run, args.what, args.format, args.output, runs_dir=args.runs_dir,
                  width=args.width, height=args.height, symbol=args.symbol, agent=args.agent)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"run": cmd_run, "live": cmd_live, "sweep": cmd_sweep, "runs": cmd_runs,
               "data": cmd_data, "agents": cmd_agents, "serve": cmd_serve,
               "export": cmd_export, "replay": cmd_replay, "walkforward": cmd_walkforward,
               "tournament": cmd_tournament}
    try:
        return handler[args.command](args)
    except KeyboardInterrupt:
        print("arena: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one paragraph unless --debug
        if args.debug:
            raise
        from arena.agents import AgentSpecError
        from arena.data import DataError
        from arena.export import ExportError
        from arena.feeds.errors import FeedError, FetchError
        from arena.recorder import RecordingError

        if isinstance(exc, FetchError):  # the exchange kept failing: say so, no traceback
            print(_printable(f"arena: failed: {exc}"), file=sys.stderr)
            return 1
        user_errors = (UsageError, ConfigError, DataError, AgentSpecError, RecordingError,
                       ExportError, FeedError)
        kind = "error" if isinstance(exc, user_errors) else f"failed ({type(exc).__name__})"
        print(f"arena: {kind}: {exc}", file=sys.stderr)
        if not isinstance(exc, user_errors):
            print("arena: run again with --debug for the traceback", file=sys.stderr)
        return 2 if isinstance(exc, user_errors) else 1


if __name__ == "__main__":
    sys.exit(main())
