"""CompareView: two or more recordings side by side — the chosen agents' equity
overlaid on one time axis (absolute or % of each run's starting cash) and the runs'
leaderboards in one table (:mod:`arena.compare` does the reading)."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter
from bokeh.plotting import figure

from arena.compare import Comparison
from arena.recorder import RecordingError
from arena.ui.runs import run_options
from arena.ui.safe import MultiChoice, text
from arena.ui.theme import PALETTE

BOARD_COLUMNS = ["run_id", "rank", "agent", "equity", "return_pct", "sharpe",
                 "max_drawdown_pct", "win_rate_pct", "trades", "fees"]
_NUM = {"type": "money", "decimal": ".", "thousand": ",", "precision": 2}


class CompareView(pn.viewable.Viewer):
    """Pick runs and agents, press Compare: an overlay chart and the leaderboards."""

    run_dir = param.String(default="runs", doc="where the recordings are")
    relative = param.Boolean(default=True, doc="% return on each run's starting cash")

    def __init__(self, **params):
        super().__init__(**params)
        self.runs = MultiChoice(label="Runs (two or more)", sizing_mode="stretch_width")
        self.agents = MultiChoice(label="Agents (empty: all)",
                                             sizing_mode="stretch_width")
        self.mode = pn.widgets.RadioButtonGroup.from_param(
            self.param.relative, options={"Return %": True, "Equity": False}, name="")
        self.button = pn.widgets.Button(label="Compare", color="primary", width=110)
        self.note = pn.pane.HTML("", sizing_mode="stretch_width")
        self.chart = pn.pane.Bokeh(sizing_mode="stretch_width", height=360)
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=BOARD_COLUMNS), show_index=False, disabled=True,
            sizing_mode="stretch_width", layout="fit_data_stretch", selectable=False,
            formatters={c: _NUM for c in ("equity", "return_pct", "sharpe",
                                          "max_drawdown_pct", "win_rate_pct", "fees")})
        self.comparison: Comparison | None = None
        self.button.on_click(lambda e: self.compare())
        self.runs.param.watch(self._on_runs, "value")
        self.refresh()

    def refresh(self) -> None:
        """List the recordings again."""
        self.runs.options = run_options(self.run_dir)

    def _on_runs(self, event) -> None:
        names: list[str] = []
        for path in event.new:
            try:
                names += Comparison([path]).agents
            except (RecordingError, ValueError):
                continue
        self.agents.options = list(dict.fromkeys(names))
        self.agents.value = [a for a in self.agents.value if a in self.agents.options]

    def compare(self) -> bool:
        """Read the chosen runs and draw them; False (and a message) if it cannot."""
        if len(self.runs.value) < 2:
            self._say("choose at least two recordings")
            return False
        try:
            cmp = Comparison(self.runs.value, self.agents.value or None)
            equity = cmp.equity(relative=self.relative)
            board = cmp.leaderboard()
        except (RecordingError, ValueError, OSError) as exc:
            self._say(str(exc))
            return False
        self.comparison = cmp
        self.chart.object = self._figure(equity)
        self.table.value = board[BOARD_COLUMNS].reset_index(drop=True)
        self._say("")
        return True

    @param.depends("relative", watch=True)
    def _redraw(self) -> None:
        if self.comparison is not None:
            self.chart.object = self._figure(self.comparison.equity(relative=self.relative))

    def _figure(self, equity: pd.DataFrame):
        fig = figure(x_axis_type="datetime", sizing_mode="stretch_width", height=340,
                     title="Equity across runs", background_fill_color="#15202b",
                     border_fill_color="#15202b", toolbar_location="above")
        fig.yaxis.formatter = NumeralTickFormatter(format="0.0" if self.relative else "0,0")
        fig.yaxis.axis_label = "return %" if self.relative else "equity"
        times = pd.DatetimeIndex(equity.index).tz_localize(None)
        for i, col in enumerate(equity.columns):
            values = equity[col]
            ok = values.notna().to_numpy()
            src = ColumnDataSource({"time": times[ok], "value": values.to_numpy()[ok],
                                    "label": [col] * int(ok.sum())})
            fig.line("time", "value", source=src, color=PALETTE[i % len(PALETTE)],
                     line_width=1.6, legend_label=col)
        fig.add_tools(HoverTool(tooltips=[("run / agent", "@label"), ("value", "@value{0,0.00}"),
                                          ("time", "@time{%F}")], formatters={"@time": "datetime"}))
        if fig.legend:
            fig.legend.location, fig.legend.click_policy = "top_left", "hide"
            fig.legend.label_text_font_size = "8pt"
        return fig

    def _say(self, message: str) -> None:
        self.note.object = (f'<div style="color:#ef5350;font-size:0.85em">{text(message)}</div>'
                            if message else "")

    def __panel__(self):
        return pn.Card(
            pn.Row(self.runs, self.agents, sizing_mode="stretch_width"),
            pn.Row(self.mode, self.button), self.note, self.chart, self.table,
            title="Compare recordings", collapsed=False, sizing_mode="stretch_width")
