"""Grids of vectorisable agents in one compiled pass: :func:`run_grid`.

A parameter grid of an agent with ``signals()`` (the rule agents) needs no streams,
events or live leaderboard, only each combination's final statistics. ``run_grid``
computes every agent's signals with shared indicators (:func:`arena.agents.indicators.shared`:
each SMA window once, not once per agent), steps all the accounts through the bars in
one call of the engine's own accounting kernel (:func:`arena.portfolio.run_block`, so
the fills and equity are those of a :class:`~arena.engine.Competition`, bit for bit),
and reduces the equity curves and fills to statistics in one more compiled pass over
the agents (the definitions of :func:`arena.metrics.compute_stats`; sums are taken in
bar order, so moment-based figures can differ from it in the last bits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd

from arena.agents import indicators
from arena.agents.base import Agent
from arena.analysis.risk import month_keys
from arena.data.market import MarketData
from arena.engine.competition import agent_params, slot_names
from arena.engine.config import CompetitionConfig
from arena.engine.signals import signal_fault
from arena.metrics import STAT_KEYS, _assemble, buy_and_hold_return, infer_periods_per_year
from arena.portfolio import F_AGENT, F_EXIT, F_FEE, F_PNL, FILL_COLUMNS, Accounts

__all__ = ["GridResult", "run_grid", "run_param_grid"]

#: most decision cells (agents × bars × symbols) held at once; larger grids run in chunks
CHUNK_CELLS = 8_000_000

# columns of the per-agent totals of _curve_totals
(_OK, _MEAN, _VAR, _DOWN, _M2, _M3, _M4, _GAIN, _LOSS, _PEAK, _MAXDD, _DDSQ, _DDNS, _DDBARS,
 _NMONTHS, _UPMONTHS, _BESTM, _WORSTM, _INV) = range(19)
_NT = 19
# columns of the per-agent totals of _fill_totals
_TRADES, _WINS, _GP, _GL, _BEST, _WORST, _FEES = range(7)


@dataclass
class GridResult:
    """What :func:`run_grid` returns.

    ``stats``: one row per agent, in the order given: ``agent`` (the name a
    competition gives it), ``spec``, ``rank`` (by final equity, as the leaderboard),
    ``pnl`` and every key of :data:`arena.metrics.STAT_KEYS`. ``params``: one row per
    agent, its parameters. With ``keep_paths``: ``equity`` (agents × bars, at each
    close) and ``trades`` (every fill, in ``Competition.trades_frame()``'s columns);
    else None.
    """

    stats: pd.DataFrame
    params: pd.DataFrame
    equity: np.ndarray | None = None
    trades: pd.DataFrame | None = None


def run_grid(data: MarketData, agents: Sequence[Agent | str],
             config: CompetitionConfig | None = None, keep_paths: bool = False) -> GridResult:
    """Run ``agents`` (specs or instances; every one must have ``signals()``) over all
    of ``data`` as a competition with ``config`` would (its portfolio rules and seed;
    recording, speed and streams do not apply), each with its own account.

    Each agent's fills, equity and statistics are those of a one-agent
    :class:`~arena.engine.Competition` of the same agent, data, config and seed
    (the seed an agent gets depends on its place, as in a competition).
    """
    from arena.agents import create_agent  # the registry imports the built-ins

    cfg = config or CompetitionConfig()
    _check_sizes(data, agents)
    specs = [a if isinstance(a, str) else getattr(type(a), "registered_name", type(a).__name__)
             for a in agents]
    objs = [create_agent(a) if isinstance(a, str) else a for a in agents]
    names = slot_names([a.label() if hasattr(a, "label") else s for a, s in zip(objs, specs,
                                                                             strict=True)])
    seeds = np.random.SeedSequence(cfg.seed).generate_state(len(objs))

    def signals():
        for agent, name, seed in zip(objs, names, seeds, strict=True):
            agent.reset(data, int(seed))
            yield _checked(agent.signals(data), name, data, cfg)

    return _run(data, cfg, names, specs, [agent_params(a) for a in objs], signals(), keep_paths)


def run_param_grid(data: MarketData, agent: str | type[Agent], params: Sequence[dict],
                   config: CompetitionConfig | None = None,
                   keep_paths: bool = False) -> GridResult:
    """:func:`run_grid` of one agent (a registered name or an Agent class) with each
    parameter set of ``params`` (dicts; text values are parsed as in a spec). A rule
    agent (:class:`arena.agents.rules.RuleAgent`) that keeps its ``__init__``, ``reset``
    and ``signals`` computes its signals for every set without building an agent per
    set (``grid_signals``); other agents are built, one per set.
    A set the agent rejects raises :class:`arena.agents.AgentSpecError` naming it."""
    from arena.agents import AgentSpecError, create_agent
    from arena.agents.registry import available, typed_params
    from arena.agents.rules import RuleAgent

    if isinstance(agent, str):
        cls = available().get(agent)
        if cls is None:
            raise AgentSpecError(f"unknown agent {agent!r}; known agents: "
                                 f"{', '.join(available())}")
    else:
        cls = agent
    fast = (isinstance(cls, type) and issubclass(cls, RuleAgent)  # signals from params only
            and all(getattr(cls, m) is getattr(RuleAgent, m)
                    for m in ("__init__", "reset", "signals")))
    if not fast:
        return run_grid(data, [create_agent(cls, **p) for p in params], config, keep_paths)
    cfg = config or CompetitionConfig()
    _check_sizes(data, params)
    typed = [typed_params(cls, dict(p), validate=True) for p in params]
    declared = cls.param
    order = [k for k in cls().param.values() if k != "name"]  # label()'s order
    base = getattr(cls, "registered_name", cls.__name__)
    labels = []
    for p in typed:
        changed = [(k, p[k]) for k in order if k in p and p[k] != declared[k].default]
        labels.append(base + "(" + ",".join(f"{k}={v}" for k, v in changed) + ")"
                      if changed else base)
    names = slot_names(labels)
    defaults = {k: declared[k].default for k in order}

    def signals():
        sets = cls.grid_signals(data, typed)
        for i, name in enumerate(names):
            try:
                sig = next(sets)
            except ValueError as e:
                raise AgentSpecError(" ".join(str(e).split()) + f" (parameter set {i})") from None
            yield _checked(sig, name, data, cfg)

    specs = [base + (":" + ",".join(f"{k}={v}" for k, v in p.items()) if p else "")
             for p in typed]
    return _run(data, cfg, names, specs, [{**defaults, **p} for p in typed], signals(),
                keep_paths)


def _check_sizes(data: MarketData, agents) -> None:
    if len(data) < 2:
        raise ValueError(f"need at least 2 bars to compete, the data has {len(data)}")
    if not len(agents):
        raise ValueError("a grid needs at least one agent")


def _run(data: MarketData, cfg: CompetitionConfig, names: list[str], specs: list[str],
         params: list[dict], signals, keep_paths: bool) -> GridResult:
    """Signals (an iterator, in agent order) → accounts in chunks → statistics."""
    n, k, a = len(data), data.n_symbols, len(names)
    periods = infer_periods_per_year(
        pd.DatetimeIndex(data.times[: min(n, 500)]).tz_localize("UTC"), calendar=data.calendar)
    times = np.asarray(data.times, dtype="datetime64[ns]")
    ns = times.astype(np.int64)
    months = np.asarray(month_keys(pd.DatetimeIndex(times).tz_localize("UTC")), dtype=np.int64)
    totals = np.empty((a, _NT))
    fill_totals = np.zeros((a, 7))
    fill_totals[:, _BEST] = fill_totals[:, _WORST] = np.nan
    equity_final = np.empty(a)
    keep_eq = np.empty((a, n)) if keep_paths else None
    fill_blocks: list[np.ndarray] = []
    chunk = max(1, CHUNK_CELLS // (n * k))
    decisions = np.empty((min(chunk, a), n, k))
    with indicators.shared():  # e.g. each SMA window once for a grid of crossovers
        for c0 in range(0, a, chunk):
            c1 = min(a, c0 + chunk)
            for i in range(c1 - c0):
                decisions[i] = next(signals)
            eq, inv = _run_chunk(data, decisions[: c1 - c0], cfg, c0, fill_totals,
                                 fill_blocks if keep_paths else None)
            _curve_totals(eq, inv, months, ns, totals[c0:c1])
            equity_final[c0:c1] = eq[:, -1]
            if keep_eq is not None:
                keep_eq[c0:c1] = eq
    bench = buy_and_hold_return(np.asarray(data.close))
    start = pd.Timestamp(times[0]).tz_localize("UTC")
    end = pd.Timestamp(times[-1]).tz_localize("UTC")
    cash0 = float(cfg.portfolio.cash)
    rows = [_stats_row(totals[i], fill_totals[i], n, cash0, float(equity_final[i]), periods,
                       start, end, bench) for i in range(a)]
    stats = pd.DataFrame(rows, columns=list(STAT_KEYS))
    stats.insert(0, "agent", names)
    stats.insert(1, "spec", specs)
    rank = np.empty(a, dtype=int)
    rank[np.argsort(-equity_final, kind="stable")] = np.arange(1, a + 1)
    stats.insert(2, "rank", rank)
    stats.insert(3, "pnl", equity_final - cash0)
    trades = _trades(fill_blocks, data, names) if keep_paths else None
    return GridResult(stats, pd.DataFrame(params, index=range(a)), keep_eq, trades)


def _checked(sig, name: str, data: MarketData, cfg: CompetitionConfig) -> np.ndarray:
    """``signals()`` as the compiled path takes it, or ValueError naming the agent."""
    if sig is None:
        raise ValueError(f"agent {name} has no signals(): a grid runs only vectorisable "
                         "agents; run it in a Competition")
    sig = np.asarray(sig, dtype=float)
    shape = (len(data), data.n_symbols)
    if sig.shape != shape:
        raise ValueError(f"agent {name}: signals() returned shape {sig.shape}, expected {shape}")
    fault = signal_fault(sig, cfg.portfolio.max_leverage)
    if fault is not None:
        raise ValueError(f"agent {name}: {fault[1].split(';')[0]} (a competition would "
                         "decide bar by bar)")
    return sig


def _run_chunk(data: MarketData, decisions: np.ndarray, cfg: CompetitionConfig, offset: int,
               fill_totals: np.ndarray, keep: list | None) -> tuple[np.ndarray, np.ndarray]:
    """The accounting kernel over every bar for a chunk of agents; equity, invested."""
    a, n = decisions.shape[0], decisions.shape[1]
    acc = Accounts(a, data.symbols, cfg.portfolio)
    eq = np.empty((a, n))
    inv = np.empty((a, n), dtype=np.bool_)
    cash = np.empty((a, n))
    fills = np.zeros((max(65536, a * data.n_symbols * 4), FILL_COLUMNS))
    t = 0
    while t < n:
        done, nf = acc.run(t, n, data.open, data.close, decisions, True, eq[:, t:], inv[:, t:],
                           fills, out_cash=cash[:, t:])
        _fill_totals(fills, nf, offset, fill_totals)
        if keep is not None and nf:
            block = fills[:nf].copy()
            block[:, F_AGENT] += offset
            keep.append(block)
        t += done
    return eq, inv


@nb.njit(cache=True)
def _fill_totals(fills, nf, offset, out):
    """Closed trades (count, winners, gross profit and loss, best, worst) and fees per
    agent, added in fill order (as the running statistics add them)."""
    for i in range(nf):
        a = int(fills[i, F_AGENT]) + offset
        out[a, _FEES] += fills[i, F_FEE]
        if fills[i, F_EXIT] > 0:
            p = fills[i, F_PNL]
            out[a, _TRADES] += 1
            if p > 0:
                out[a, _WINS] += 1
                out[a, _GP] += p
            elif p < 0:
                out[a, _GL] += p
            if np.isnan(out[a, _BEST]) or p > out[a, _BEST]:
                out[a, _BEST] = p
            if np.isnan(out[a, _WORST]) or p < out[a, _WORST]:
                out[a, _WORST] = p


@nb.njit(cache=True)
def _curve_totals(equity, invested, months, ns, out):
    """Per agent (row of ``equity``): the totals :func:`arena.metrics.compute_stats`
    reduces an equity curve to (returns' moments, drawdowns, months, exposure)."""
    n_agents, n = equity.shape
    for a in range(n_agents):
        v = equity[a]
        ok = n >= 2
        for i in range(n - 1):
            if not v[i] > 0:
                ok = False
                break
        o = out[a]
        for c in range(_NT):
            o[c] = np.nan
        o[_OK] = 1.0 if ok else 0.0
        o[_NMONTHS] = 0.0
        o[_UPMONTHS] = 0.0
        if ok:
            m = n - 1
            total = 0.0
            for i in range(1, n):
                total += v[i] / v[i - 1] - 1.0
            mean = total / m
            m2 = m3 = m4 = down = gain = loss = 0.0
            for i in range(1, n):
                r = v[i] / v[i - 1] - 1.0
                d = r - mean
                m2 += d * d
                m3 += d * d * d
                m4 += d * d * d * d
                e = min(r, 0.0)
                down += e * e
                gain += max(r, 0.0)
                loss += max(-r, 0.0)
            o[_MEAN] = mean
            o[_VAR] = m2 / (m - 1) if m >= 2 else np.nan
            o[_DOWN] = down / m
            o[_M2], o[_M3], o[_M4], o[_GAIN], o[_LOSS] = m2, m3, m4, gain, loss
            # months: last equity of each month of bars 1..n-1 over the one before it
            base = v[0]
            n_months = up = 0
            best = worst = np.nan
            for i in range(1, n):
                if i == n - 1 or months[i + 1] != months[i]:
                    ret = v[i] / base - 1.0
                    n_months += 1
                    if ret > 0:
                        up += 1
                    if n_months == 1 or ret > best:
                        best = ret
                    if n_months == 1 or ret < worst:
                        worst = ret
                    base = v[i]
            o[_NMONTHS], o[_UPMONTHS], o[_BESTM], o[_WORSTM] = n_months, up, best, worst
        # drawdowns: from the last bar at the running peak to the first back at it
        peak = v[0]
        last_peak = 0
        prev_at = True
        max_dd = 0.0
        dd_sq = 0.0
        dd_ns = 0
        dd_bars = 0
        for i in range(1, n):
            x = v[i]
            at = x >= peak
            if at:
                peak = x
            dd = x / peak - 1.0
            if dd < max_dd:
                max_dd = dd
            dd_sq += dd * dd
            if not at or not prev_at:
                dd_ns = max(dd_ns, ns[i] - ns[last_peak])
                dd_bars = max(dd_bars, i - last_peak)
            if at:
                last_peak = i
            prev_at = at
        o[_PEAK], o[_MAXDD], o[_DDSQ], o[_DDNS], o[_DDBARS] = peak, max_dd, dd_sq, dd_ns, dd_bars
        count = 0
        for i in range(n):
            if invested[a, i]:
                count += 1
        o[_INV] = count / n


def _stats_row(t: np.ndarray, f: np.ndarray, n: int, cash0: float, final: float,
               periods: float, start, end, bench: float) -> dict:
    ok = bool(t[_OK])
    nan = math.nan
    return _assemble(
        start=start, end=end, bars=n, equity_start=cash0, equity_final=final,
        equity_peak=float(t[_PEAK]), periods=periods, risk_free=0.0,
        mean_r=float(t[_MEAN]) if ok else nan, var_r=float(t[_VAR]) if ok else nan,
        downside_sq=float(t[_DOWN]) if ok else nan, max_drawdown=float(t[_MAXDD]),
        max_dd_duration=pd.Timedelta(int(t[_DDNS])), max_dd_bars=int(t[_DDBARS]),
        n_trades=int(f[_TRADES]), winners=int(f[_WINS]), gross_profit=float(f[_GP]),
        gross_loss=float(f[_GL]), best=float(f[_BEST]), worst=float(f[_WORST]),
        fees=float(f[_FEES]), exposure=float(t[_INV]), benchmark=bench,
        m2=float(t[_M2]), m3=float(t[_M3]), m4=float(t[_M4]), gain=float(t[_GAIN]),
        loss=float(t[_LOSS]), drawdown_sq=float(t[_DDSQ]), n_months=int(t[_NMONTHS]),
        positive_months=int(t[_UPMONTHS]), best_month=float(t[_BESTM]),
        worst_month=float(t[_WORSTM]))


def _trades(blocks: list[np.ndarray], data: MarketData, names: list[str]) -> pd.DataFrame:
    """Every fill in ``Competition.trades_frame()``'s columns, agent by agent in bar order."""
    from arena.portfolio import F_BAR, F_POS, F_PRICE, F_QTY, F_SIDE, F_SYMBOL

    cols = ["bar", "time", "agent", "symbol", "side", "quantity", "price", "fee", "action",
            "pnl", "position"]
    if not blocks:
        return pd.DataFrame(columns=cols)
    f = np.concatenate(blocks)
    f = f[np.argsort(f[:, F_AGENT], kind="stable")]  # chunks and blocks: bar order per agent
    bar = f[:, F_BAR].astype(np.int64)
    return pd.DataFrame({
        "bar": bar, "time": pd.DatetimeIndex(data.times[bar]).tz_localize("UTC"),
        "agent": np.array(names, dtype=object)[f[:, F_AGENT].astype(int)],
        "symbol": np.array(data.symbols, dtype=object)[f[:, F_SYMBOL].astype(int)],
        "side": np.where(f[:, F_SIDE] > 0, "buy", "sell").astype(object),
        "quantity": f[:, F_QTY], "price": f[:, F_PRICE], "fee": f[:, F_FEE],
        "action": np.where(f[:, F_EXIT] > 0, "exit", "entry").astype(object),
        "pnl": f[:, F_PNL], "position": f[:, F_POS]})
