"""The HoloViews tear sheet holds the data of the arena.analysis tables it draws."""

from __future__ import annotations

import html
import re

import holoviews as hv
import numpy as np
import pandas as pd
import param
import pytest
from bokeh.models import GridPlot

from arena.agents.rules import BuyAndHold
from arena.analysis.risk import tear_sheet_stats
from arena.analysis.runs import benchmark_equity, run_frames
from arena.analysis.tables import MONTHS, monthly_returns, return_correlations, rolling_stats
from arena.analysis.tables import underwater as underwater_table
from arena.analysis.trades import round_trips
from arena.data import load
from arena.engine import Competition, CompetitionConfig
from arena.recorder import Recording
from arena.replay import Replay
from arena.ui.analysis import tearsheet as ts
from tests.arena.analysis_fixture import recorded_run

AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20", "random:trade_prob=0.2"]


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    return recorded_run(tmp_path_factory.mktemp("runs"), AGENTS)


@pytest.fixture(scope="module")
def recorded(comp):
    with Recording(comp.run_path) as rec:
        equity, trades, bars = run_frames(rec)
        agent = comp.agent_names[1]  # sma_cross: trades
        sheet = ts.tear_sheet(rec, agent, window=20)
    return sheet, agent, equity, trades, bars


def title_of(model) -> str:
    """A plot's title, or a table's (HoloViews draws it as an HTML Div above it), as
    the text a reader sees."""
    if hasattr(model, "title"):
        return model.title.text
    div = model.children[0]
    return html.unescape(re.sub(r"<[^>]*>", "", div.text))


def layers(overlay) -> dict[str, object]:
    return {type(el).__name__ + ("" if i == 0 else str(i)): el
            for i, el in enumerate(overlay.values())}


def naive(index) -> np.ndarray:
    return pd.DatetimeIndex(index).tz_convert("UTC").tz_localize(None).to_numpy()


def test_each_element_holds_its_table(recorded):
    sheet, agent, equity, trades, bars = recorded
    eq = equity[agent]
    views = dict(zip(ts.VIEWS, sheet.values(), strict=True))
    cumulative, monthly, dist, scatter, corr = (views[v] for v in (
        "cumulative_returns", "monthly_heatmap", "return_distribution", "trade_scatter",
        "correlation_heatmap"))
    under, sharpe, vol = (views[v] for v in ("underwater", "rolling_sharpe", "rolling_volatility"))

    agent_curve, bench_curve = cumulative.values()
    np.testing.assert_allclose(agent_curve.dimension_values("growth"), eq / eq.iloc[0])
    assert (agent_curve.dimension_values("time") == naive(eq.index)).all()
    bench = benchmark_equity(bars, eq.iloc[0])
    np.testing.assert_allclose(bench_curve.dimension_values("growth"), bench / bench.iloc[0])

    heat = monthly.values()[0]
    table = monthly_returns(eq)
    got = {(m, y): v for m, y, v in zip(heat.dimension_values("month"),
                                        heat.dimension_values("year"),
                                        heat.dimension_values("return"), strict=True)}
    want = {(m, str(y)): 100 * table.loc[y, m] for y in table.index for m in MONTHS
            if not np.isnan(table.loc[y, m])}
    assert got.keys() == want.keys() and len(want) == 18  # 2011-01 .. 2012-06
    for key, value in want.items():
        assert got[key] == pytest.approx(value)

    area = under.values()[0]
    np.testing.assert_allclose(area.dimension_values("drawdown"), 100 * underwater_table(eq))

    hist, var_line, cvar_line = dist.values()
    stats = tear_sheet_stats(eq)
    assert var_line.data == pytest.approx(-stats["var_pct"])
    assert cvar_line.data == pytest.approx(-stats["cvar_pct"])
    assert stats["cvar_pct"] >= stats["var_pct"] > 0
    assert hist.dimension_values("bars").sum() == len(eq) - 1  # every bar return counted

    roll = rolling_stats(eq, 20).iloc[20:]  # the first 20 bars have no full window
    assert roll["volatility"].notna().all()
    # a flat window (not yet in the market) has no Sharpe: leading NaNs are cut
    roll_sharpe = roll["sharpe"].loc[roll["sharpe"].first_valid_index():]
    assert len(roll_sharpe) < len(roll)
    np.testing.assert_allclose(sharpe.dimension_values("sharpe"), roll_sharpe)
    np.testing.assert_allclose(vol.dimension_values("volatility"), 100 * roll["volatility"])
    assert "20 bars" in sharpe.opts.get().kwargs["title"]

    trips = round_trips(trades[trades["agent"] == agent])
    assert len(trips) > 5
    np.testing.assert_allclose(scatter.dimension_values("pnl"), trips["pnl"])
    np.testing.assert_allclose(scatter.dimension_values("holding"),
                               trips["holding"].dt.total_seconds() / 86400)

    rho = return_correlations(equity)
    cheat = corr.values()[0]
    for a, b, v in zip(cheat.dimension_values("a"), cheat.dimension_values("b"),
                       cheat.dimension_values("rho"), strict=True):
        assert v == pytest.approx(rho.loc[a, b])
    assert len(cheat) == len(equity.columns) ** 2


def test_renders_with_bokeh_composes_and_takes_opts(comp, recorded):
    sheet, agent, *_ = recorded
    fig = hv.render(sheet, backend="bokeh")
    assert isinstance(fig, GridPlot)
    titles = [title_of(p) for p, *_ in fig.children]
    assert f"{agent}: monthly returns (%)" in titles and len(titles) == len(ts.VIEWS) == 18
    with Recording(comp.run_path) as rec:
        extra = ts.underwater(rec, comp.agent_names[0], worst=0)
    bigger = sheet + extra
    assert len(bigger) == 19
    styled = extra.opts(color="navy")
    assert styled.opts.get().kwargs["color"] == "navy"
    assert sheet.opts(shared_axes=False).opts.get().kwargs["shared_axes"] is False
    hv.render(bigger.cols(3), backend="bokeh")


def test_a_replay_gives_a_sheet_with_nothing_later(comp):
    t = 150
    agent = comp.agent_names[1]
    with Replay(comp.run_path, at=t) as replay:
        sheet = ts.tear_sheet(replay, agent)
        bar_time = replay.equity_frame().index[-1]
    full = comp.equity_frame()
    assert bar_time == full.index[t - 1]
    views = dict(zip(ts.VIEWS, sheet.values(), strict=True))
    cumulative, scatter = views["cumulative_returns"], views["trade_scatter"]
    agent_curve, bench_curve = cumulative.values()
    for curve in (agent_curve, bench_curve):
        assert curve.dimension_values("time")[-1] == naive([bar_time])[0]
    trips = round_trips(comp.trades_frame().query("agent == @agent"))
    assert len(scatter) == (trips["exit_bar"] < t).sum() < len(trips)


def test_long_histories_are_thinned_to_days():
    index = pd.date_range("2024-01-01", periods=6000, freq="h", tz="UTC")
    s = pd.Series(np.sin(np.arange(6000) / 7.0), index=index)
    last = ts._thin(s)
    assert len(last) == 250 and (last.index == index[23::24]).all()  # each day's last hour
    low = ts._thin(s, how="min")
    assert len(low) == 250
    assert (low.to_numpy() == s.groupby(index.floor("D")).min().to_numpy()).all()
    short = s.iloc[:ts.MAX_POINTS]
    assert ts._thin(short).equals(short)
    gappy = short.copy()
    gappy.iloc[:10] = gappy.iloc[100:110] = np.nan
    thinned = ts._thin(gappy)  # leading NaNs cut, later ones kept (drawn as a gap)
    assert thinned.index[0] == index[10] and thinned.isna().sum() == 10


def test_unknown_agent_is_a_clear_error(comp):
    with pytest.raises(ValueError, match="no agent named 'nobody'.*buy_and_hold"):
        ts.tear_sheet(comp, "nobody")


class Braces(BuyAndHold):
    """Buy and hold, with a text parameter that shows in the agent's name."""

    note = param.String(default="")


def test_an_agent_name_is_plain_text_in_titles_and_legends(tmp_path):
    data = load("AAPL", start="2011-01-01", end="2011-06-30")
    c = Competition(data, [Braces(note="a{x}<b>&")], CompetitionConfig(run_dir=str(tmp_path)))
    c.run()
    name = c.agent_names[0]
    assert "{x}<b>&" in name  # HoloViews formats titles: braces must not be read as fields
    fig = hv.render(ts.tear_sheet(c, name), backend="bokeh")
    plots = [p for p, *_ in fig.children]
    assert plots[0].title.text == f"{name}: cumulative returns"
    assert plots[0].legend[0].items[0].label.value == name
    titles = {title_of(p) for p in plots}
    assert titles >= {f"{name}: monthly returns (%)", f"{name}: underwater"}
    assert any(t.startswith(f"{name}: the ") and t.endswith(" worst drawdowns") for t in titles)
    # a table's title is HTML: the name's markup arrives escaped, as text
    divs = [p.children[0].text for p in plots if not hasattr(p, "title")]
    assert len(divs) == 2 and "<b>" not in divs[0] and "a{x}&lt;b&gt;&amp;" in divs[0]
