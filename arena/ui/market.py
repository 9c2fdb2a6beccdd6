"""Market cards (last price and change per symbol) and the summary bar (totals,
engine state, progress, throughput).

In a live run the market cards show the exchange's latest price between candles
(marked "forming": not a bar, nothing trades on it), and the summary bar shows the
feed's state and "live since …", the last candle's age and the time to the next
one instead of the progress (:mod:`arena.ui.livestatus`).

Both are rows of small cards drawn by :class:`StatStrip`, a tiny ESM component:
the page gets the cards' ``frame`` (labels, fixed text, classes) when it renders
or the cards' layout changes, and per update only the ``live`` fields that
differ from it (values, changes, progress: about half the bytes). The browser
writes the cards with ``textContent``, so nothing in a card can ever be read as
HTML.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.livestatus import LiveStatus, short_time
from arena.ui.theme import DOWN, FLAT, UP

_CSS = f"""
:host {{ width: 100%; }}
.s {{ display: flex; flex-wrap: wrap; gap: 6px; font-size: 13px; line-height: 1.25; }}
p {{ margin: 0; background: rgba(255,255,255,0.05); border: 1px solid rgba(255,255,255,0.10);
     border-radius: 6px; padding: 4px 10px; min-width: 92px; }}
i {{ display: block; font-style: normal; color: #9aa5ad; font-size: 11px;
     text-transform: uppercase; letter-spacing: .04em; }}
b {{ display: block; font-size: 16px; font-weight: 600; color: #eceff1; white-space: nowrap; }}
small {{ display: block; font-size: 11px; color: #b0bec5; white-space: nowrap; }}
.u {{ color: {UP}; }} .d {{ color: {DOWN}; }} .f {{ color: {FLAT}; }}
b.state {{ display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px;
           font-weight: 700; color: #111; background: {FLAT}; }}
b.running {{ background: {UP}; }} b.paused {{ background: #ffb74d; }}
b.stopped {{ background: {DOWN}; }} b.finished {{ background: #56b4e9; }}
b.connected {{ background: {UP}; }} b.reconnecting {{ background: {DOWN}; }}
b.stale {{ background: #ffb74d; }} b.connecting {{ background: {FLAT}; }}
progress {{ display: block; width: 100%; height: 4px; margin-top: 3px; border: 0;
            appearance: none; background: rgba(255,255,255,0.12); }}
progress::-webkit-progress-bar {{ background: rgba(255,255,255,0.12); border-radius: 2px; }}
progress::-webkit-progress-value {{ background: #56b4e9; border-radius: 2px; }}
progress::-moz-progress-bar {{ background: #56b4e9; }}
"""


class StatStrip(pn.custom.JSComponent):
    """A row of cards ``[label, value, sub, class, progress]``: ``sub`` is text or a
    list of ``[text, class]`` pieces, ``class`` colours the value (u up, d down,
    f flat, or ``state <name>`` for a badge), ``progress`` is 0..1 or None.

    ``cards`` stays on the server; the page gets each card as flat fields
    ``[label, value, class, progress, text, class, text, class, ...]`` in ``frame``
    and, per card, ``[field, value, ...]`` for those that differ from it in ``live``.
    """

    cards = param.List(default=[], doc="the cards, left to right")
    frame = param.List(default=[], doc="the cards as flat fields, when their layout was set")
    live = param.List(default=[], doc="per card: [field, value, ...] that differ from frame")

    _rename = {"cards": None}

    _esm = """
export function render({ model, el }) {
  const strip = document.createElement("div")
  strip.className = "s"
  el.append(strip)
  const draw = () => {
    const frame = model.frame || [], live = model.live || []
    while (strip.children.length > frame.length) strip.lastChild.remove()
    frame.forEach((fields, n) => {
      const card = fields.slice(), diff = live[n] || []
      for (let k = 0; k + 1 < diff.length; k += 2) card[diff[k]] = diff[k + 1]
      let p = strip.children[n]
      if (!p) {
        p = document.createElement("p")
        for (const tag of ["i", "b", "small", "progress"]) p.append(document.createElement(tag))
        strip.append(p)
      }
      const [label, value, cls, frac, ...sub] = card
      const [i, b, small, bar] = p.children
      i.textContent = label
      b.textContent = value
      b.className = cls || ""
      small.replaceChildren()
      for (let k = 0; k + 1 < sub.length; k += 2) {
        const span = document.createElement("span")
        span.textContent = sub[k]
        if (sub[k + 1]) span.className = sub[k + 1]
        small.append(span)
      }
      bar.style.display = frac == null ? "none" : "block"
      if (frac != null) bar.value = frac
    })
  }
  draw()
  model.on(["frame", "live"], draw)
}
"""
    _stylesheets = [_CSS]

    def __init__(self, **params):
        super().__init__(**params)
        self._send()

    @param.depends("cards", watch=True)
    def _send(self) -> None:
        flat = [flat_card(c) for c in self.cards]
        if [(f[0], len(f)) for f in flat] != [(f[0], len(f)) for f in self.frame]:
            self.param.update(frame=flat, live=[[] for _ in flat])
            return
        self.live = [[k for i, (v, was) in enumerate(zip(f, shown, strict=True)) if v != was
                      for k in (i, v)] for f, shown in zip(flat, self.frame, strict=True)]

    def shown(self) -> list:
        """The cards as the page draws them from ``frame`` and ``live`` (flat fields)."""
        out = []
        for fields, diff in zip(self.frame, self.live, strict=True):
            card = list(fields)
            for k in range(0, len(diff), 2):
                card[diff[k]] = diff[k + 1]
            out.append(card)
        return out


def flat_card(card) -> list:
    """``[label, value, sub, class, progress]`` as the page's flat fields."""
    label, value, sub, cls, frac = card
    pieces = sub if isinstance(sub, list) else [[sub or "", ""]]
    return [label, value, cls or "", frac, *(x for text, c in pieces for x in (text, c or ""))]


def sign_class(value: float | None) -> str:
    """u(p), d(own) or f(lat): the colour class of a change."""
    if value is None or not math.isfinite(value) or value == 0:
        return "f"
    return "u" if value > 0 else "d"


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:+.2f}%"


def _num(value: float | None, fmt: str = ",.2f") -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


class MarketCards(pn.viewable.Viewer):
    """Last close per symbol with its change vs the previous bar and vs the first bar."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    quotes = param.Dict(default={}, doc="symbol → {bar, close, previous, first}")

    def __init__(self, **params):
        super().__init__(**params)
        self._latest: dict | None = None  # quotes not yet on show
        self.strip = StatStrip(cards=self._cards(), sizing_mode="stretch_width", margin=(2, 5))
        self.feed.subscribe("prices", self._on_rows, self._on_reset)
        # shown with the status: the bar the rest of the page shows (one current bar)
        self.feed.param.watch(self._show, "status")
        self.feed.param.watch(self._render, "ticker")  # a live run's forming prices

    def _on_reset(self) -> None:
        self._latest = None
        self.quotes = {}

    def _show(self, _board=None) -> None:
        if self._latest is not None:
            self.quotes, self._latest = self._latest, None

    def _on_rows(self, rows: pd.DataFrame) -> None:
        data = self.feed.competition.data
        symbols = rows["symbol"].to_numpy()
        bars = rows["bar"].to_numpy(dtype=np.int64)
        closes = rows["close"].to_numpy(dtype=float)
        quotes = dict(self._latest if self._latest is not None else self.quotes)
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
            else:  # a decimated history skipped the bar before: read it from the data
                prev = float(data.close[last - 1, j]) if last >= 1 else math.nan
            q.update(bar=last, close=float(c[-1]), previous=prev)
            quotes[sym] = q
        self._latest = quotes

    @param.depends("quotes", watch=True)
    def _render(self, *_) -> None:
        self.strip.cards = self._cards()

    def _cards(self) -> list:
        cards = []
        ticker = self.feed.ticker or {}
        for sym in self.feed.competition.data.symbols:
            q = self.quotes.get(sym)
            tick = ticker.get(sym)
            if tick is not None and q is not None:  # live: the candle still forming
                d_close = 100 * (tick["price"] / q["close"] - 1) if q["close"] else math.nan
                sub = [["forming ", ""], [_pct(d_close), sign_class(d_close)],
                       [f" vs close {_num(q['close'])}", ""]]
                cards.append([sym, _num(tick["price"]), sub, sign_class(d_close), None])
                continue
            if q is None:
                cards.append([sym, "–", "", "", None])
                continue
            d_bar = 100 * (q["close"] / q["previous"] - 1) if q["previous"] else math.nan
            d_all = 100 * (q["close"] / q["first"] - 1) if q["first"] else math.nan
            sub = [[_pct(d_bar), sign_class(d_bar)], [" bar · ", ""],
                   [_pct(d_all), sign_class(d_all)], [" start", ""]]
            cards.append([sym, _num(q["close"]), sub, sign_class(d_bar), None])
        return cards

    def __panel__(self):
        return self.strip


class SummaryBar(pn.viewable.Viewer):
    """Totals across agents, engine state with bar time and progress, bars/s, updates."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    totals = param.Dict(default={}, doc="equity, pnl and trades summed over agents")
    open_positions = param.Integer(default=0, doc="positions with quantity ≠ 0")

    def __init__(self, **params):
        super().__init__(**params)
        self._due, self._shown = False, None  # tables delivered; the status drawn
        self.strip = StatStrip(cards=self._cards(), sizing_mode="stretch_width", margin=(2, 5))
        self.feed.subscribe("leaderboard", self._on_board, self._on_reset)
        self.feed.subscribe("positions", self._on_positions)
        self.feed.param.watch(self._render, "last_pull")

    def _on_reset(self) -> None:
        self.totals, self.open_positions, self._due = {}, 0, True

    def _on_board(self, board: pd.DataFrame) -> None:
        self._due = True
        if board.empty:
            self.totals = {}
            return
        self.totals = {"equity": float(board["equity"].sum()), "pnl": float(board["pnl"].sum()),
                       "trades": int(board["trades"].sum()), "agents": len(board)}

    def _on_positions(self, table: pd.DataFrame) -> None:
        self._due = True
        self.open_positions = int((table["quantity"].to_numpy(dtype=float) != 0).sum())

    def _render(self, *_) -> None:
        """After a pull that showed a new status or delivered the tables. The bar and
        its time are the status's, as in the control panel (one current bar)."""
        if self._due or self._shown is not self.feed.status:
            self._due, self._shown = False, self.feed.status
            self.strip.cards = self._cards()

    def _cards(self) -> list:
        comp = self.feed.competition
        st = self.feed.status or comp.status()
        t = self.totals
        cash = float(comp.config.portfolio.cash)
        n = t.get("agents", len(comp.agent_names))
        pnl = t.get("pnl", 0.0)
        pnl_pct = 100 * pnl / (cash * n) if n else math.nan
        state = str(st.get("state", "idle"))
        frac = float(st.get("progress") or 0.0)
        bar_time = short_time(st.get("time"))
        bps = st.get("bars_per_second") or 0.0
        live = st.get("live")
        if live:
            ls = LiveStatus.of(live)
            progress = ["Live", f"{st.get('bar', 0):,} bars", f"since {ls.live_since} · "
                        f"{ls.timing}", "", None]
            feed_card = ["Feed", ls.state, ls.since and f"since {ls.since}" or ls.exchange,
                         f"state {ls.state}", None]
        else:
            progress = ["Progress", f"{100 * frac:.1f}%",
                        f"{st.get('bar', 0)}/{st.get('bars', 0)} bars", "", round(frac, 4)]
            feed_card = None
        return [
            ["Total equity", _num(t.get("equity", cash * n), ",.0f"), f"{n} agents", "", None],
            ["Total PnL", _num(pnl, "+,.0f"), [[_pct(pnl_pct), sign_class(pnl)]],
             sign_class(pnl), None],
            ["Trades", str(t.get("trades", 0)), "closed", "", None],
            ["Open positions", str(self.open_positions), "", "", None],
            ["Engine", state, bar_time, f"state {state}", None],
            *([feed_card] if feed_card else []),
            progress,
            ["Speed", f"{bps:,.0f}", "bars/s", "", None],
            ["Updates", str(self.feed.updates), "this session", "", None],
        ]

    def __panel__(self):
        return self.strip
