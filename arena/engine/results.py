"""What a competition has produced so far: leaderboard, equity, trades, statistics
and decimated histories for viewers that join late."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from arena.metrics import buy_and_hold_equity, buy_and_hold_return, compute_stats
from streams.decimate import envelope_indices


class Results:
    """Result accessors of :class:`~arena.engine.Competition` (a mixin)."""

    def leaderboard(self) -> pd.DataFrame:
        """Agents ranked by equity, with their live statistics."""
        df = self.streams.leaderboard.snapshot()
        if df.empty:
            return df
        return df.sort_values("rank").reset_index(drop=True)

    def equity_frame(self) -> pd.DataFrame:
        """Equity per agent (columns) at each processed bar's close (UTC index)."""
        idx = pd.DatetimeIndex(self.data.times[: self._t]).tz_localize("UTC")
        return pd.DataFrame(self._equity[:, : self._t].T, index=idx,
                            columns=[s.name for s in self._slots])

    def invested_frame(self) -> pd.DataFrame:
        """Whether each agent (columns) held a position at each processed bar's close
        (what the exposure statistic counts), as :meth:`equity_frame` is indexed."""
        idx = pd.DatetimeIndex(self.data.times[: self._t]).tz_localize("UTC")
        return pd.DataFrame(self._invested[:, : self._t].T.astype(bool), index=idx,
                            columns=[s.name for s in self._slots])

    def trades_frame(self) -> pd.DataFrame:
        """Every fill so far (from the in-memory log, not bounded like the stream)."""
        return self._pub.fills_frame()

    def history(self, name: str, max_points: int = 2000) -> tuple[pd.DataFrame, int]:
        """Rows of the ``equity``, ``benchmark`` or ``prices`` stream for every bar
        so far, decimated to about ``max_points`` bars (each line's extremes are
        kept; equity's bars keep the benchmark's too, the dashboard draws it with
        them), and the stream cursor they cover: a viewer that joins late draws
        these, then pulls ``since(cursor)`` for what comes next."""
        if name not in ("equity", "benchmark", "prices"):
            raise ValueError(f"no history for {name!r}; have equity, benchmark, prices")
        with self._cond:
            t = self._t
            cursor = getattr(self.streams, name).total
            if name == "equity":  # with the benchmark line, drawn on the same chart
                values = np.column_stack([self._equity[:, :t].T,
                                          buy_and_hold_equity(self.data.close, slice(0, t), 1.0)])
            elif name == "prices":
                values = self.data.close[:t]
            else:
                values = self.data.close[:t] / self.data.close[0]
            idx = envelope_indices(values, max_points)
            rows = self._history_rows(name, idx)
        return rows, cursor

    def _history_rows(self, name: str, idx: np.ndarray) -> pd.DataFrame:
        cash0 = self.config.portfolio.cash
        times = pd.DatetimeIndex(self.data.times[idx]).tz_localize("UTC")
        if name == "benchmark":
            eq = buy_and_hold_equity(self.data.close, idx, cash0)
            return pd.DataFrame({"bar": idx, "time": times, "equity": eq,
                                 "return_pct": (eq / cash0 - 1) * 100})
        if name == "prices":
            k = self.data.n_symbols
            cols = {f: getattr(self.data, f)[idx].ravel()
                    for f in ("open", "high", "low", "close", "volume")}
            return pd.DataFrame({"bar": np.repeat(idx, k), "time": np.repeat(times, k),
                                 "symbol": np.tile(self.data.symbols, len(idx)), **cols})
        t = self._t
        frames = []
        for s in self._slots:
            e_all = self._equity[s.index, :t]
            peak = np.maximum.accumulate(e_all)[idx]
            e = e_all[idx]
            frames.append(pd.DataFrame({
                "bar": idx, "time": times, "agent": s.name, "equity": e,
                "cash": self._cash[s.index, idx],
                "return_pct": (e / cash0 - 1) * 100, "drawdown_pct": (e / peak - 1) * 100}))
        out = pd.concat(frames) if frames else pd.DataFrame(columns=self.streams.equity.columns)
        return out.sort_values(["bar"], kind="stable").reset_index(drop=True)

    def stats(self, agent: str | None = None) -> pd.DataFrame | pd.Series:
        """Full statistics computed from scratch (see ``arena.metrics``)."""
        eq = self.equity_frame()
        trades = self.trades_frame()
        bench = buy_and_hold_return(self.data.close[: self._t]) if self._t else math.nan
        out = {}
        for s in self._slots:
            if agent is not None and s.name != agent:
                continue
            out[s.name] = compute_stats(
                eq[s.name], trades[trades["agent"] == s.name],
                invested=self._invested[s.index, : self._t], benchmark=bench,
                periods_per_year=self._periods)
        if agent is not None:
            if agent not in out:
                raise KeyError(f"unknown agent {agent!r}; have {', '.join(self.agent_names)}")
            return out[agent]
        return pd.DataFrame(out)
