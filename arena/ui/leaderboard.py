"""Leaderboard: agents ranked by equity, re-ranked live, changes marked."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.theme import MEDALS

# what decides the ranking first, so that a narrow window still shows it
COLUMNS = {"place": "Rank", "move": "Δ", "agent": "Agent", "return_pct": "PnL %",
           "equity": "Equity", "pnl": "PnL", "sharpe": "Sharpe",
           "max_drawdown_pct": "Max DD %", "win_rate_pct": "Win %", "trades": "Trades",
           "last_action": "Last action", "tokens": "Tokens", "latency_ms": "Latency ms",
           "cost_usd": "Cost $"}
_NUM = {"type": "money", "decimal": ".", "thousand": ",", "precision": 2}
_WHOLE = {**_NUM, "precision": 0}


class Leaderboard(pn.viewable.Viewer):
    """Ranked table: medals for the top three, rank moves since the last update."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")

    def __init__(self, **params):
        super().__init__(**params)
        self._previous: dict[str, int] = {}
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=list(COLUMNS)), show_index=False, disabled=True,
            sizing_mode="stretch_width", titles=COLUMNS, selectable=False,
            header_align="center", layout="fit_data_stretch",
            formatters={"equity": _WHOLE, "pnl": _WHOLE, "return_pct": _NUM, "sharpe": _NUM,
                        "max_drawdown_pct": _NUM, "win_rate_pct": _NUM, "latency_ms": _NUM,
                        "cost_usd": {**_NUM, "precision": 4}},
            text_align={"place": "center", "move": "center"},
            css_classes=["arena-leaderboard"], name="leaderboard")
        self.feed.subscribe("leaderboard", self._on_board, self._on_reset)

    def _on_reset(self) -> None:
        self._previous = {}

    def _on_board(self, board: pd.DataFrame) -> None:
        if board.empty:
            self.table.value = pd.DataFrame(columns=list(COLUMNS))
            return
        df = board.sort_values("rank").reset_index(drop=True)
        moves = []
        for agent, rank in zip(df["agent"], df["rank"], strict=True):
            before = self._previous.get(agent)
            moves.append("" if before is None or before == rank else
                         ("▲" if rank < before else "▼") + str(abs(before - rank)))
        self._previous = dict(zip(df["agent"], df["rank"], strict=True))
        df["place"] = [f"{MEDALS.get(r, '')} {r}".strip() for r in df["rank"]]
        df["move"] = moves
        self.table.value = df[list(COLUMNS)]

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Leaderboard", margin=(0, 10)), self.table,
                         sizing_mode="stretch_width")
