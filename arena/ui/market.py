"""Market cards (last price and change per symbol) and the summary bar (totals,
engine state, progress, throughput): two compact HTML strips.

All text is escaped (``theme.text``); styling lives in a stylesheet sent once,
so an update carries only the short markup of the strip that changed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.theme import DOWN, FLAT, UP, text

CSS = f"""
:host {{ width: 100%; }}
.strip {{ display: flex; flex-wrap: wrap; gap: 6px; font-size: 13px; line-height: 1.25; }}
.card {{ background: rgba(255,255,255,0.05); border: 1px solid rgba(255,255,255,0.10);
         border-radius: 6px; padding: 4px 10px; min-width: 92px; }}
.lbl {{ color: #9aa5ad; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }}
.val {{ font-size: 16px; font-weight: 600; color: #eceff1; white-space: nowrap; }}
.sub {{ font-size: 11px; white-space: nowrap; }}
.up {{ color: {UP}; }} .down {{ color: {DOWN}; }} .flat {{ color: {FLAT}; }}
.state {{ display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px;
          font-weight: 700; color: #111; }}
.s-running {{ background: {UP}; }} .s-paused {{ background: #ffb74d; }}
.s-idle {{ background: {FLAT}; }} .s-stopped {{ background: {DOWN}; }}
.s-finished {{ background: #56b4e9; }}
.bar {{ height: 4px; background: rgba(255,255,255,0.12); border-radius: 2px; margin-top: 3px; }}
.bar > div {{ height: 4px; background: #56b4e9; border-radius: 2px; }}
"""


def _sign_class(value: float | None) -> str:
    if value is None or not math.isfinite(value) or value == 0:
        return "flat"
    return "up" if value > 0 else "down"


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:+.2f}%"


def _num(value: float, fmt: str = ",.2f") -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


def _card(label: str, value: str, sub: str = "", cls: str = "") -> str:
    sub_html = f'<div class="sub {cls}">{sub}</div>' if sub else ""
    return (f'<div class="card"><div class="lbl">{text(label)}</div>'
            f'<div class="val {cls}">{value}</div>{sub_html}</div>')


class MarketCards(pn.viewable.Viewer):
    """Last close per symbol with its change vs the previous bar and vs the first bar."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    quotes = param.Dict(default={}, doc="symbol → {bar, close, previous, first}")

    def __init__(self, **params):
        super().__init__(**params)
        self._pane = pn.pane.HTML(self._html(), stylesheets=[CSS], sizing_mode="stretch_width",
                                  margin=(2, 5))
        self.feed.subscribe("prices", self._on_rows, self._on_reset)

    def _on_reset(self) -> None:
        self.quotes = {}

    def _on_rows(self, rows: pd.DataFrame) -> None:
        data = self.feed.competition.data
        symbols = rows["symbol"].to_numpy()
        bars = rows["bar"].to_numpy(dtype=np.int64)
        closes = rows["close"].to_numpy(dtype=float)
        quotes = dict(self.quotes)
        for sym in dict.fromkeys(symbols.tolist()):
            mask = symbols == sym
            b, c = bars[mask], closes[mask]
            j = data.column(sym)
            q = dict(quotes.get(sym, {}))
            if "first" not in q:
                q["first"] = float(c[0]) if b[0] == 0 else float(data.close[0, j])
            last = int(b[-1])
            if len(b) >= 2 and b[-2] == last - 1:
                prev = float(c[-2])
            elif q.get("bar") == last - 1:
                prev = q["close"]
            else:
                prev = float(data.close[last - 1, j]) if last >= 1 else math.nan
            q.update(bar=last, close=float(c[-1]), previous=prev)
            quotes[sym] = q
        self.quotes = quotes

    @param.depends("quotes", watch=True)
    def _render(self) -> None:
        self._pane.object = self._html()

    def _html(self) -> str:
        cards = []
        for sym in self.feed.competition.data.symbols:
            q = self.quotes.get(sym)
            if q is None:
                cards.append(_card(sym, "–"))
                continue
            d_bar = 100 * (q["close"] / q["previous"] - 1) if q["previous"] else math.nan
            d_all = 100 * (q["close"] / q["first"] - 1) if q["first"] else math.nan
            cls = _sign_class(d_bar)
            sub = (f'<span class="{cls}">{_pct(d_bar)}</span> bar · '
                   f'<span class="{_sign_class(d_all)}">{_pct(d_all)}</span> start')
            cards.append(_card(sym, _num(q["close"]), sub, cls))
        return f'<div class="strip">{"".join(cards)}</div>'

    def __panel__(self):
        return self._pane


class SummaryBar(pn.viewable.Viewer):
    """Totals across agents, engine state with bar time and progress, bars/s, updates."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    totals = param.Dict(default={}, doc="equity, pnl and trades summed over agents")
    open_positions = param.Integer(default=0, doc="positions with quantity ≠ 0")

    def __init__(self, **params):
        super().__init__(**params)
        self._pane = pn.pane.HTML(self._html(), stylesheets=[CSS], sizing_mode="stretch_width",
                                  margin=(2, 5))
        self.feed.subscribe("leaderboard", self._on_board, self._on_reset)
        self.feed.subscribe("positions", self._on_positions)
        self.feed.param.watch(self._render, "last_pull")

    def _on_reset(self) -> None:
        self.totals, self.open_positions = {}, 0

    def _on_board(self, board: pd.DataFrame) -> None:
        if board.empty:
            self.totals = {}
            return
        self.totals = {"equity": float(board["equity"].sum()), "pnl": float(board["pnl"].sum()),
                       "trades": int(board["trades"].sum()), "agents": len(board)}

    def _on_positions(self, table: pd.DataFrame) -> None:
        self.open_positions = int((table["quantity"].to_numpy(dtype=float) != 0).sum())

    def _render(self, *_) -> None:
        self._pane.object = self._html()

    def _html(self) -> str:
        st = self.feed.status or self.feed.competition.status()
        t = self.totals
        cash = float(self.feed.competition.config.portfolio.cash)
        n = t.get("agents", len(self.feed.competition.agent_names))
        pnl = t.get("pnl", 0.0)
        pnl_pct = 100 * pnl / (cash * n) if n else math.nan
        state = str(st.get("state", "idle"))
        progress = 100 * float(st.get("progress") or 0.0)
        bar_time = st.get("time") or "–"
        bar_time = bar_time[:16].replace("T", " ") if bar_time != "–" else bar_time
        bps = st.get("bars_per_second") or 0.0
        cls = _sign_class(pnl)
        cards = [
            _card("Total equity", _num(t.get("equity", cash * n), ",.0f"), f"{n} agents"),
            _card("Total PnL", _num(pnl, "+,.0f"), _pct(pnl_pct), cls),
            _card("Trades", str(t.get("trades", 0)), "closed"),
            _card("Open positions", str(self.open_positions)),
            _card("Engine", f'<span class="state s-{text(state)}">{text(state)}</span>',
                  text(bar_time)),
            _card("Progress", f"{progress:.1f}%",
                  f'{st.get("bar", 0)}/{st.get("bars", 0)} bars'
                  f'<div class="bar"><div style="width:{progress:.1f}%"></div></div>'),
            _card("Speed", f"{bps:,.0f}", "bars/s"),
            _card("Updates", str(self.feed.updates), "this session"),
        ]
        return f'<div class="strip">{"".join(cards)}</div>'

    def __panel__(self):
        return self._pane
