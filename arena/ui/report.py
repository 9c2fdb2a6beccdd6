"""The run report: one HTML file with everything about a recorded run.

Configuration and data source, the agents and their parameters, the
leaderboard with every statistic of ``arena.metrics.compute_stats``, the equity
and drawdown charts (Bokeh, inline: the file opens offline), every agent's tear
sheet (``arena.ui.analysis.tearsheet``), every trade and
every decision with its reasoning. The page is a Jinja2 template with
autoescaping on, so agent and model text (names, reasoning, parameters) is
always shown as text, never run as HTML. Parameters whose names look like
secrets (api_key, token, password...) are masked.
"""

from __future__ import annotations

import json
import math
import re

import jinja2
import pandas as pd
from bokeh.embed import components
from bokeh.embed.bundle import bundle_for_objs_and_resources
from markupsafe import Markup

from arena.export import USAGE_KEYS, ExportError, leaderboard, models_answered, table
from arena.metrics import STAT_KEYS
from arena.recorder import Recording, status_text
from arena.ui.export import BACKGROUND, OFFLINE, benchmark, tear_sheet_model
from arena.ui.figures import agent_colours, dark_theme, drawdown_figure, equity_figure

MAX_ROWS = 20_000  # trades / decisions shown; the CSV export has them all
CHART_WIDTH = 1100
SECRET = re.compile(r"api[_-]?key|secret|token|password|passwd|credential|auth", re.I)
MASK = "•••• (hidden)"

STAT_LABELS = {
    "start": "Start", "end": "End", "duration": "Duration", "bars": "Bars",
    "equity_start": "Equity start", "equity_final": "Equity final", "equity_peak": "Equity peak",
    "return_pct": "Return %", "return_ann_pct": "Return (ann.) %",
    "volatility_ann_pct": "Volatility (ann.) %", "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio", "calmar": "Calmar ratio", "max_drawdown_pct": "Max drawdown %",
    "max_drawdown_duration": "Max drawdown duration", "max_drawdown_bars": "Max drawdown bars",
    "win_rate_pct": "Win rate %", "profit_factor": "Profit factor", "trades": "Closed trades",
    "avg_trade": "Avg trade", "best_trade": "Best trade", "worst_trade": "Worst trade",
    "exposure_pct": "Exposure %", "fees": "Fees", "buy_hold_return_pct": "Buy & hold return %",
    "skew": "Skew", "kurtosis": "Excess kurtosis", "omega": "Omega ratio",
    "ulcer_index": "Ulcer index %", "kelly": "Kelly fraction", "recovery_factor": "Recovery factor",
    "best_month_pct": "Best month %", "worst_month_pct": "Worst month %",
    "positive_months_pct": "Positive months %",
    "errors": "Agent errors", "tokens": "LLM tokens", "latency_ms": "LLM latency (ms)",
    "cost_usd": "LLM cost (USD)",
}
assert set(STAT_KEYS) <= set(STAT_LABELS), "a statistic without a label"

PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Trading Arena report · run {{ run_id }}</title>
{{ bokeh_resources }}
<style>
body { background: {{ background }}; color: #e6edf3; margin: 0 auto; padding: 16px 24px;
       max-width: 1200px; font: 14px/1.45 system-ui, sans-serif; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.2em; margin: 28px 0 8px; }
.muted { color: #9aa4ad; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #2d333b; text-align: left;
         vertical-align: top; }
th { color: #9aa4ad; font-weight: 600; position: sticky; top: 0; background: #212121; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.up { color: #26a69a; } td.down { color: #ef5350; }
td.text { white-space: pre-wrap; max-width: 560px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 6px; }
.scroll { max-height: 560px; overflow: auto; }
.chart { margin: 8px 0 16px; }
</style>
</head>
<body>
<h1>Trading Arena · run {{ run_id }}</h1>
<div class="muted">{{ summary }}</div>

<h2>Data</h2>
<table>{% for k, v in data_rows %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>

<h2>Configuration</h2>
<table>{% for k, v in config_rows %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>

<h2>Agents</h2>
<table><tr><th>Agent</th><th>Spec</th><th>Parameters</th></tr>
{% for a in agents %}<tr><td><span class="swatch" style="background: {{ a.colour }}"></span>{{ a.name }}</td>
<td>{{ a.spec }}</td><td class="text">{{ a.params }}</td></tr>{% endfor %}</table>

<h2>Leaderboard</h2>
<table class="leaderboard"><tr><th>Statistic</th>{% for a in board_agents %}<th>{{ a }}</th>{% endfor %}</tr>
{% for label, cells in board_rows %}<tr><th>{{ label }}</th>{% for c in cells %}<td class="num {{ c.cls }}">{{ c.text }}</td>{% endfor %}</tr>
{% endfor %}</table>

<h2>Equity</h2>
<div class="chart">{{ equity_div }}</div>
<div class="chart">{{ drawdown_div }}</div>
<h2>Tear sheets</h2>
<p class="muted">{% for s in sheets %}<a href="#tearsheet-{{ loop.index }}">{{ s.title }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</p>
{% for s in sheets %}<h3 id="tearsheet-{{ loop.index }}" class="tearsheet">{{ s.title }}</h3>
{% if s.note %}<p class="muted">{{ s.note }}</p>{% else %}<div class="chart">{{ s.div }}</div>{% endif %}
{% endfor %}

<h2>Trades ({{ n_trades }}{% if trades_cut %}, the first {{ trades|length }} shown{% endif %})</h2>
<div class="scroll"><table class="trades"><tr>{% for c in trade_columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in trades %}<tr>{% for c in row %}<td class="{{ c.cls }}">{{ c.text }}</td>{% endfor %}</tr>
{% endfor %}</table></div>

<h2>Decisions ({{ n_decisions }}{% if decisions_cut %}, the first {{ decisions|length }} shown{% endif %})</h2>
<div class="scroll"><table class="decisions"><tr><th>Time</th><th>Agent</th><th>Targets</th><th>Confidence</th><th>Reasoning</th></tr>
{% for d in decisions %}<tr><td>{{ d.time }}</td><td>{{ d.agent }}</td><td>{{ d.targets }}</td>
<td class="num">{{ d.confidence }}</td><td class="text">{{ d.reasoning }}</td></tr>
{% endfor %}</table></div>
<p class="muted">Exported by Trading Arena. Times are UTC.</p>
{{ bokeh_script }}
</body>
</html>
""")


def redact(value):
    """``value`` with every entry whose key looks like a secret masked (recursively)."""
    if isinstance(value, dict):
        return {k: MASK if SECRET.search(str(k)) and v not in (None, "") else redact(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _flat(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            rows.extend(_flat(v, key + "."))
        else:
            rows.append((key, _plain(v)))
    return rows


def _plain(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return _number(v)
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _number(v, decimals: int = 2) -> str:
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if isinstance(v, int | bool):
        return f"{v:,}"
    return f"{v:,.{decimals}f}"


def _stat(key: str, v) -> dict:
    if isinstance(v, pd.Timestamp):
        return {"text": f"{v:%Y-%m-%d %H:%M}".removesuffix(" 00:00"), "cls": ""}
    if isinstance(v, pd.Timedelta):
        return {"text": str(v).removesuffix(" 00:00:00"), "cls": ""}
    cls = ""
    if key in ("return_pct", "return_ann_pct", "avg_trade") and isinstance(v, float) \
            and not math.isnan(v):
        cls = "up" if v > 0 else "down" if v < 0 else ""
    return {"text": _number(v, 4 if key == "cost_usd" else 2), "cls": cls}


def _time(t) -> str:
    if pd.isna(t):
        return ""
    return f"{pd.Timestamp(t):%Y-%m-%d %H:%M}".removesuffix(" 00:00")


#: each agent's part of the report's tear sheets; the views across agents come once
AGENT_VIEWS = ("returns", "risk", "trades")


def _charts(rec: Recording, agents: list[str], cash: float) -> tuple[str, str, list]:
    """Bokeh resources, the script, and the charts' divs: ``equity``, ``drawdown``, and the
    tear sheets as ``{"title", "div", "note"}`` (``note`` when one cannot be drawn yet):
    each agent's (``AGENT_VIEWS``), then the comparison across agents."""
    equity = rec.equity()
    eq = equity_figure(equity, benchmark(rec, cash), agents, width=CHART_WIDTH, height=420)
    dd = drawdown_figure(equity, agents, width=CHART_WIDTH, height=220)
    dd.x_range = eq.x_range  # linked, as on the dashboard
    sheets, models = [], [eq, dd]
    parts = [(name, name, AGENT_VIEWS) for name in agents]
    if len(agents) > 1:
        parts.append(("Across agents", agents[0], "across"))
    for title, agent, views in parts:
        try:
            models.append(tear_sheet_model(rec, agent, views=views, dark=True))
        except ExportError as exc:  # e.g. fewer than 2 bars recorded
            sheets.append({"title": title, "div": None, "note": str(exc)})
        else:
            sheets.append({"title": title, "div": None, "note": None})
    bundle = bundle_for_objs_and_resources(models, OFFLINE)
    script, (eq_div, dd_div, *divs) = components(models, theme=dark_theme())
    drawn = iter(divs)
    for sheet in sheets:
        if sheet["note"] is None:
            sheet["div"] = Markup(next(drawn))
    return "".join(bundle), script, {"equity": eq_div, "drawdown": dd_div, "sheets": sheets}


def report_html(rec: Recording, max_rows: int = MAX_ROWS) -> str:
    """The report page of a recording, as one self-contained HTML string."""
    meta = rec.meta
    run_id = meta.get("run_id", rec.run_path.name)
    config = redact(meta.get("config", {}))
    cash = float(config.get("portfolio", {}).get("cash", 100_000))
    agents_df = rec.agents()
    names = agents_df["name"].tolist()
    colours = agent_colours(names)
    agents = [{"name": r.name, "spec": r.spec, "colour": colours[r.name],
               "params": json.dumps(redact(json.loads(r.params)), indent=1, default=str)}
              for r in agents_df.itertuples()]
    board = leaderboard(rec)
    # the LLM rows once a model has answered (as on the dashboard's leaderboard)
    usage = USAGE_KEYS if models_answered(board) else ()
    board_rows = [(STAT_LABELS[k], [_stat(k, v) for v in board[k]])
                  for k in (*STAT_KEYS, "errors", *usage)]
    trades = table(rec, "trades")
    trade_columns = ["Time", "Agent", "Symbol", "Side", "Qty", "Price", "Fee", "Action", "PnL",
                     "Position"]
    trade_rows = [[
        {"text": _time(t.time), "cls": ""}, {"text": t.agent, "cls": ""},
        {"text": t.symbol, "cls": ""},
        {"text": t.side, "cls": "up" if t.side == "buy" else "down"},
        {"text": f"{t.quantity:,.6g}", "cls": "num"}, {"text": _number(t.price, 4), "cls": "num"},
        {"text": _number(t.fee), "cls": "num"}, {"text": t.action, "cls": ""},
        {"text": _number(t.pnl), "cls": "num " + ("up" if t.pnl > 0 else "down" if t.pnl < 0
                                                  else "")},
        {"text": f"{t.position:,.6g}", "cls": "num"}] for t in trades.head(max_rows).itertuples()]
    decisions = table(rec, "decisions")
    decision_rows = [{"time": _time(d.time), "agent": d.agent,
                      "targets": "hold" if d.targets is None or pd.isna(d.targets) else d.targets,
                      "confidence": _number(d.confidence), "reasoning": d.reasoning}
                     for d in decisions.head(max_rows).itertuples()]
    resources, script, charts = _charts(rec, names, cash)
    summary = " · ".join(str(x) for x in (
        status_text(meta.get("status", "running?"), meta.get("last_bar"),
                    meta.get("last_bar_time")), f"created {meta.get('created', '?')}",
        f"finished {meta['finished']}" if meta.get("finished") else "not finished",
        f"leader {meta['leader']}" if meta.get("leader") else "") if x)
    data_rows = [("Source", _plain(meta.get("data_source"))),
                 ("Symbols", ", ".join(meta.get("symbols", []))),
                 ("From", _plain(meta.get("start"))), ("To", _plain(meta.get("end"))),
                 ("Bars", _plain(meta.get("n_bars"))),
                 ("Bars processed", _plain(meta.get("bars_processed", len(rec.times())))),
                 ("Bars per year", _plain(meta.get("periods_per_year")))]
    return PAGE.render(
        run_id=run_id, summary=summary, background=BACKGROUND, data_rows=data_rows,
        config_rows=_flat(config), agents=agents, board_agents=board["agent"].tolist(),
        board_rows=board_rows, trade_columns=trade_columns, trades=trade_rows,
        n_trades=len(trades), trades_cut=len(trades) > max_rows, decisions=decision_rows,
        n_decisions=len(decisions), decisions_cut=len(decisions) > max_rows,
        bokeh_resources=Markup(resources), bokeh_script=Markup(script),
        equity_div=Markup(charts["equity"]), drawdown_div=Markup(charts["drawdown"]),
        sheets=charts["sheets"])
