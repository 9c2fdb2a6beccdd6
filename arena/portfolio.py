"""Accounting: cash, positions, fills, fees, slippage and buying power.

One compiled kernel (:func:`run_block`) does the accounting for every agent of a
competition; the per-bar engine path and the vectorised path both go through it,
so there is a single set of rules:

* A decision made at bar ``t``'s close fills at bar ``t+1``'s open. Buys pay
  ``open × (1 + slippage)``, sells receive ``open × (1 − slippage)``; every fill
  pays ``fee = |quantity| × fill price × fee rate`` in cash.
* A target weight ``w`` becomes a target quantity
  ``w × equity_at_open / (open × (1 + slippage) × (1 + fee))`` (truncated toward
  zero with whole units), so that a fully invested account can pay its costs.
* Only targets that changed since the agent's previous target are traded
  (or all of them when the decision asks to ``rebalance``).
* Exposure: a rebalance never takes gross exposure (Σ|quantity| × open) above
  ``leverage × equity_at_open`` (or above what price drift already made it);
  growing legs are scaled down to fit. Positions are never force-liquidated.
* Sells go first, then buys. Buying power: buys never take cash below
  ``−(leverage − 1) × equity_at_open``; a buy beyond that is cut to what fits.
* Equity is marked at every close: ``cash + Σ quantity × close``.
* A fill that reduces a position is an *exit*: its net PnL is
  ``closed × (price − average price) × side − exit fee − entry fees of the
  closed part``. A fill that opens or adds is an *entry*; a reversal is split
  into an exit and an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

# Columns of the fills buffer written by the kernel.
F_AGENT, F_BAR, F_SYMBOL, F_SIDE, F_QTY, F_PRICE, F_FEE, F_EXIT, F_PNL, F_POS = range(10)
FILL_COLUMNS = 10
_EPS = 1e-9


@dataclass(frozen=True)
class PortfolioConfig:
    """Costs and limits shared by every account in a competition.

    fee_bps: commission per fill, in basis points of the traded value.
    slippage_bps: price concession per fill, basis points of the open.
    max_leverage: cap on Σ|weight| of a decision and on buying power.
    whole_units: trade whole shares/contracts (True) or fractions (False).
    """

    cash: float = 100_000.0
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    max_leverage: float = 1.0
    whole_units: bool = True

    def __post_init__(self):
        if not self.cash > 0:
            raise ValueError(f"cash must be positive, got {self.cash!r}")
        for name in ("fee_bps", "slippage_bps"):
            v = getattr(self, name)
            if not 0 <= v < 10_000:
                raise ValueError(f"{name} must be in 0..10000 basis points, got {v!r}")
        if not 0 < self.max_leverage <= 100:
            raise ValueError(f"max_leverage must be in (0, 100], got {self.max_leverage!r}")


@nb.njit(cache=True)
def _fill(a, j, dq, px, fee_rate, bar, cash, qty, avg, entry_fee, realised, fills, nf):
    """Book one fill of signed quantity ``dq`` at ``px``; returns (cash, fee, nf)."""
    fee = abs(dq) * px * fee_rate
    cash -= dq * px + fee
    q = qty[a, j]
    side = 1.0 if dq > 0 else -1.0
    if q == 0.0 or (q > 0) == (dq > 0):
        new_q = q + dq
        avg[a, j] = (avg[a, j] * abs(q) + px * abs(dq)) / abs(new_q)
        entry_fee[a, j] += fee
        qty[a, j] = new_q
        fills[nf, F_AGENT] = a
        fills[nf, F_BAR] = bar
        fills[nf, F_SYMBOL] = j
        fills[nf, F_SIDE] = side
        fills[nf, F_QTY] = abs(dq)
        fills[nf, F_PRICE] = px
        fills[nf, F_FEE] = fee
        fills[nf, F_EXIT] = 0.0
        fills[nf, F_PNL] = np.nan
        fills[nf, F_POS] = new_q
        return cash, fee, nf + 1
    closed = min(abs(dq), abs(q))
    fee_close = fee * closed / abs(dq)
    fee_share = entry_fee[a, j] * closed / abs(q)
    pos_sign = 1.0 if q > 0 else -1.0
    pnl = closed * (px - avg[a, j]) * pos_sign - fee_close - fee_share
    entry_fee[a, j] -= fee_share
    realised[a, j] += pnl
    rest = q - pos_sign * closed
    if abs(rest) <= _EPS * max(1.0, abs(q)):
        rest = 0.0
        avg[a, j] = 0.0
        entry_fee[a, j] = 0.0
    qty[a, j] = rest
    fills[nf, F_AGENT] = a
    fills[nf, F_BAR] = bar
    fills[nf, F_SYMBOL] = j
    fills[nf, F_SIDE] = side
    fills[nf, F_QTY] = closed
    fills[nf, F_PRICE] = px
    fills[nf, F_FEE] = fee_close
    fills[nf, F_EXIT] = 1.0
    fills[nf, F_PNL] = pnl
    fills[nf, F_POS] = rest
    nf += 1
    opened = abs(dq) - closed
    if opened > _EPS * max(1.0, abs(dq)):
        qty[a, j] = side * opened
        avg[a, j] = px
        entry_fee[a, j] = fee - fee_close
        fills[nf, F_AGENT] = a
        fills[nf, F_BAR] = bar
        fills[nf, F_SYMBOL] = j
        fills[nf, F_SIDE] = side
        fills[nf, F_QTY] = opened
        fills[nf, F_PRICE] = px
        fills[nf, F_FEE] = fee - fee_close
        fills[nf, F_EXIT] = 0.0
        fills[nf, F_PNL] = np.nan
        fills[nf, F_POS] = side * opened
        nf += 1
    return cash, fee, nf


@nb.njit(cache=True)
def _rebalance(a, bar, open_row, want, force, cash, qty, avg, entry_fee, realised,
               target, fees, fee_rate, slip, leverage, whole, fills, nf):
    """Trade agent ``a`` toward the weights ``want`` (NaN = keep) at ``open_row``."""
    k = open_row.shape[0]
    equity = cash[a]
    for j in range(k):
        equity += qty[a, j] * open_row[j]
    new_q = qty[a].copy()
    for j in range(k):
        w = want[j]
        if np.isnan(w):
            continue
        if not force and w == target[a, j]:
            continue
        target[a, j] = w
        q = w * equity / (open_row[j] * (1.0 + slip) * (1.0 + fee_rate))
        if whole:
            q = np.floor(q + _EPS) if q >= 0 else -np.floor(-q + _EPS)
        new_q[j] = q
    # exposure: a rebalance may not take gross exposure above the cap (or above
    # what drift already made it): the legs that grow are scaled down to fit
    gross_before = 0.0
    gross_after = 0.0
    grow = 0.0
    for j in range(k):
        gross_before += abs(qty[a, j]) * open_row[j]
        gross_after += abs(new_q[j]) * open_row[j]
        if abs(new_q[j]) > abs(qty[a, j]):
            grow += (abs(new_q[j]) - abs(qty[a, j])) * open_row[j]
    allowed = max(leverage * equity, gross_before)
    if gross_after > allowed and grow > 0:
        f = max(0.0, 1.0 - (gross_after - allowed) / grow)
        for j in range(k):
            old = abs(qty[a, j])
            if abs(new_q[j]) > old:
                size = old + f * (abs(new_q[j]) - old)
                if whole:
                    size = np.floor(size + _EPS)
                new_q[j] = size if new_q[j] > 0 else -size
    c = cash[a]
    # sells first: they raise the cash the buys spend
    for j in range(k):
        dq = new_q[j] - qty[a, j]
        if dq < 0:
            c, fee, nf = _fill(a, j, dq, open_row[j] * (1.0 - slip), fee_rate, bar,
                               c, qty, avg, entry_fee, realised, fills, nf)
            fees[a] += fee
    floor_cash = -(leverage - 1.0) * equity
    for j in range(k):
        dq = new_q[j] - qty[a, j]
        if dq > 0:
            px = open_row[j] * (1.0 + slip)
            room = (c - floor_cash) / (px * (1.0 + fee_rate))
            if dq > room:
                dq = max(room, 0.0)
                if whole:
                    dq = np.floor(dq + _EPS)
            if dq > 0:
                c, fee, nf = _fill(a, j, dq, px, fee_rate, bar,
                                   c, qty, avg, entry_fee, realised, fills, nf)
                fees[a] += fee
    cash[a] = c
    return nf


@nb.njit(cache=True)
def run_block(t0, t1, open_, close, decisions, use_decisions, pending, pending_force,
              cash, qty, avg, entry_fee, realised, target, fees,
              fee_rate, slip, leverage, whole, out_equity, out_invested, out_cash, fills):
    """Run bars ``t0..t1-1`` for all agents.

    Per bar: fill each agent's pending targets at the open, mark equity at the
    close, then (if ``use_decisions``) take the agent's row ``t`` of
    ``decisions`` (shape ``(agents, bars, symbols)``, NaN = keep) as the new
    pending targets. Stops early when the fills buffer could overflow.
    Returns ``(bars_done, n_fills)``; equity, invested and cash at each close go
    to ``out_equity[:, t - t0]``, ``out_invested`` and ``out_cash``.
    """
    n_agents, k = qty.shape
    nf = 0
    cap = fills.shape[0]
    for t in range(t0, t1):
        if nf + n_agents * 2 * k > cap:
            return t - t0, nf
        for a in range(n_agents):
            has = pending_force[a]
            if not has:
                for j in range(k):
                    if not np.isnan(pending[a, j]):
                        has = True
                        break
            if has:
                nf = _rebalance(a, t, open_[t], pending[a], pending_force[a], cash, qty,
                                avg, entry_fee, realised, target, fees, fee_rate, slip,
                                leverage, whole, fills, nf)
                for j in range(k):
                    pending[a, j] = np.nan
                pending_force[a] = False
            e = cash[a]
            inv = False
            for j in range(k):
                e += qty[a, j] * close[t, j]
                if qty[a, j] != 0.0:
                    inv = True
            out_equity[a, t - t0] = e
            out_invested[a, t - t0] = inv
            out_cash[a, t - t0] = cash[a]
            if use_decisions:
                for j in range(k):
                    pending[a, j] = decisions[a, t, j]
    return t1 - t0, nf


class Accounts:
    """The accounts of every agent in one competition, as numpy arrays.

    Agents never see this object; they get a :class:`PortfolioView`.
    """

    def __init__(self, n_agents: int, symbols: tuple[str, ...], config: PortfolioConfig):
        self.config = config
        self.symbols = symbols
        k = len(symbols)
        self.cash = np.full(n_agents, float(config.cash))
        self.qty = np.zeros((n_agents, k))
        self.avg = np.zeros((n_agents, k))
        self.entry_fee = np.zeros((n_agents, k))
        self.realised = np.zeros((n_agents, k))
        self.target = np.zeros((n_agents, k))
        self.fees = np.zeros(n_agents)
        self.pending = np.full((n_agents, k), np.nan)
        self.pending_force = np.zeros(n_agents, dtype=np.bool_)
        self.last_close = np.full(k, np.nan)

    def run(self, t0, t1, open_, close, decisions, use_decisions, out_equity, out_invested,
            fills, out_cash=None):
        """Run the kernel over bars ``t0..t1-1``; see :func:`run_block`."""
        c = self.config
        if out_cash is None:
            out_cash = np.empty_like(out_equity)
        done, nf = run_block(
            t0, t1, open_, close, decisions, use_decisions, self.pending, self.pending_force,
            self.cash, self.qty, self.avg, self.entry_fee, self.realised, self.target,
            self.fees, c.fee_bps / 1e4, c.slippage_bps / 1e4, c.max_leverage, c.whole_units,
            out_equity, out_invested, out_cash, fills,
        )
        if done:
            self.last_close = np.asarray(close[t0 + done - 1], dtype=float)
        return done, nf

    def frozen(self) -> Accounts:
        """A copy of the accounts as they are now (for agents deciding in other threads)."""
        out = object.__new__(Accounts)
        for k, v in vars(self).items():
            setattr(out, k, v.copy() if isinstance(v, np.ndarray) else v)
        return out

    def equity(self, a: int, prices: np.ndarray | None = None) -> float:
        p = self.last_close if prices is None else prices
        held = self.qty[a] != 0
        return float(self.cash[a] + np.dot(self.qty[a][held], p[held]))

    def unrealised(self, a: int, prices: np.ndarray | None = None) -> np.ndarray:
        p = self.last_close if prices is None else prices
        return np.where(self.qty[a] != 0, self.qty[a] * (p - self.avg[a]), 0.0)


class PortfolioView:
    """Read-only view of one agent's account, as of the current close."""

    __slots__ = ("_acc", "_a")

    def __init__(self, accounts: Accounts, agent_index: int):
        self._acc = accounts
        self._a = agent_index

    @property
    def cash(self) -> float:
        return float(self._acc.cash[self._a])

    @property
    def equity(self) -> float:
        return self._acc.equity(self._a)

    @property
    def positions(self) -> dict[str, float]:
        """Quantity held per symbol (non-zero only); negative is short."""
        q = self._acc.qty[self._a]
        return {s: float(q[j]) for j, s in enumerate(self._acc.symbols) if q[j] != 0}

    def position(self, symbol: str) -> float:
        return float(self._acc.qty[self._a, self._acc.symbols.index(symbol)])

    def average_price(self, symbol: str) -> float:
        return float(self._acc.avg[self._a, self._acc.symbols.index(symbol)])

    def weight(self, symbol: str) -> float:
        """Market value of the position over equity (at the last close)."""
        j = self._acc.symbols.index(symbol)
        eq = self.equity
        return float(self._acc.qty[self._a, j] * self._acc.last_close[j] / eq) if eq else 0.0

    def target(self, symbol: str) -> float:
        """The last target weight traded for ``symbol``."""
        return float(self._acc.target[self._a, self._acc.symbols.index(symbol)])

    @property
    def fees_paid(self) -> float:
        return float(self._acc.fees[self._a])

    @property
    def realised_pnl(self) -> float:
        return float(self._acc.realised[self._a].sum())

    @property
    def unrealised_pnl(self) -> float:
        return float(self._acc.unrealised(self._a).sum())

    def __repr__(self) -> str:
        return f"PortfolioView(cash={self.cash:.2f}, equity={self.equity:.2f}, positions={self.positions})"
