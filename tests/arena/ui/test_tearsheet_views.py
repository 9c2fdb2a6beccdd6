"""The tear sheet's views beyond the first eight (yearly bars, drawdown periods, rolling
beta, exposure, trade histograms, MAE/MFE, streaks, across agents) hold the data of
the arena.analysis tables they draw; a replay shows nothing later; long runs are
aggregated."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models import DataTable, HoverTool

from arena import synthetic
from arena.analysis.exposure import exposure
from arena.analysis.runs import benchmark_equity, run_frames
from arena.analysis.summary import stats_table
from arena.analysis.tables import drawdown_periods, rolling_stats, yearly_returns
from arena.analysis.trades import excursions, round_trips, streaks
from arena.engine import Competition, CompetitionConfig
from arena.recorder import Recording
from arena.replay import Replay
from arena.ui.analysis import tearsheet as ts
from arena.ui.analysis.base import MAX_SCATTER, _sample
from tests.arena.analysis_fixture import recorded_run

AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20,short=True", "random:trade_prob=0.2"]
WINDOW = 20


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    return recorded_run(tmp_path_factory.mktemp("runs"), AGENTS)


@pytest.fixture(scope="module")
def sheet(comp):
    """The sheet of the shorting sma_cross agent from the recording, with its frames."""
    agent = comp.agent_names[1]
    with Recording(comp.run_path) as rec:
        views = dict(zip(ts.VIEWS, ts.tear_sheet(rec, agent, window=WINDOW).values(),
                         strict=True))
        equity, fills, bars = run_frames(rec)
        table = stats_table(rec)
    return views, agent, equity, fills[fills["agent"] == agent], bars, table


def naive(index) -> np.ndarray:
    return pd.DatetimeIndex(index).tz_convert("UTC").tz_localize(None).to_numpy()


def column(element, dim) -> np.ndarray:
    return element.dimension_values(dim)


def test_yearly_bars_are_the_agent_and_buy_and_hold_per_year(sheet):
    views, agent, equity, _, bars, _ = sheet
    eq = equity[agent]
    want = yearly_returns(eq, benchmark_equity(bars, eq.iloc[0])) * 100
    got = {(y, s): v for y, s, v in zip(*(column(views["yearly_returns_bars"], d)
                                           for d in ("calendar_year", "series", "yearly_return")), strict=True)}
    assert len(got) == 4  # 2011 and 2012, agent and buy & hold
    for year in (2011, 2012):
        assert got[(str(year), "agent")] == pytest.approx(want.loc[year, "equity"])
        assert got[(str(year), "buy & hold")] == pytest.approx(want.loc[year, "benchmark"])
    # drawn: each bar coloured by its series (the agent blue, buy & hold gray)
    source = hv.render(views["yearly_returns_bars"]).renderers[0].data_source.data
    assert [c for c in source["color"]] == [s for _, s in source["xoffsets"]]


def test_worst_drawdowns_are_shaded_and_listed(sheet):
    views, agent, equity, *_ = sheet
    periods = drawdown_periods(equity[agent], top=5)
    assert len(periods) == 3  # this agent has only three
    area, spans = views["underwater"].values()
    assert isinstance(spans, hv.VSpans)
    ends = periods["recovery"].fillna(equity.index[-1])
    assert (column(spans, "start") == naive(periods["start"])).all()
    assert (column(spans, "end") == naive(ends)).all()
    table = views["drawdown_table"]
    assert isinstance(table, hv.Table) and len(table) == 3
    assert table.opts.get().kwargs["title"] == f"{agent}: the 3 worst drawdowns"
    np.testing.assert_allclose(column(table, "depth (%)"), (periods["depth"] * 100).round(2))
    assert list(column(table, "bars")) == list(periods["bars"])
    # daily bars: dates alone
    assert list(column(table, "start")) == list(periods["start"].dt.strftime("%Y-%m-%d"))
    assert list(column(table, "length")) == list(periods["length"].astype(str))


def test_rolling_beta_is_against_buy_and_hold(sheet, comp):
    views, agent, equity, _, bars, _ = sheet
    eq = equity[agent]
    beta = rolling_stats(eq, WINDOW, benchmark_equity(bars, eq.iloc[0]))["beta"]
    beta = beta.loc[beta.first_valid_index():]
    curve = views["rolling_beta"]
    np.testing.assert_allclose(column(curve, "beta"), beta)
    assert (column(curve, "time") == naive(beta.index)).all()
    # buy & hold of the same symbols moves one for one with the benchmark
    held = ts.rolling_beta(comp, "buy_and_hold", window=WINDOW)
    np.testing.assert_allclose(column(held, "beta")[5:], 1.0, atol=0.02)


def test_exposure_curves_are_gross_and_net(sheet):
    views, agent, equity, fills, bars, _ = sheet
    want = exposure(fills, bars, equity[agent])
    gross, net = views["exposure_plot"].values()
    np.testing.assert_allclose(column(gross, "exposure"), want["gross"])
    np.testing.assert_allclose(column(net, "exposure"), want["net"])
    assert (column(net, "exposure") < -0.5).any()  # the agent goes short


def test_trade_views_hold_the_round_trips(sheet):
    views, agent, equity, fills, bars, _ = sheet
    trips = excursions(round_trips(fills), bars)
    n = len(trips)
    assert n > 5
    holding = views["holding_histogram"]
    assert column(holding, "trades").sum() == n
    edges = holding.edges
    days = trips["holding"].dt.total_seconds() / 86400
    assert (edges[0], edges[-1]) == pytest.approx((days.min(), days.max()))
    pnl = views["pnl_histogram"].values()[0]
    assert column(pnl, "trades").sum() == n
    assert (pnl.edges[0], pnl.edges[-1]) == pytest.approx((trips["pnl"].min(),
                                                           trips["pnl"].max()))
    scatter = views["excursion_scatter"]
    np.testing.assert_allclose(column(scatter, "mae"), trips["mae"] * 100)
    np.testing.assert_allclose(column(scatter, "mfe"), trips["mfe"] * 100)
    outcome = np.where(trips["pnl"] > 0, "win", np.where(trips["pnl"] < 0, "loss", "even"))
    assert list(column(scatter, "outcome")) == list(outcome)


def runs_by_hand(pnl) -> dict[tuple[str, str], int]:
    """Streak lengths counted with a plain loop (independent of streak_runs)."""
    counts: dict[tuple[str, str], int] = {}
    kind, length = None, 0
    for p in [*pnl, 0.0]:  # a trailing break-even closes the last run
        k = "win" if p > 0 else "loss" if p < 0 else None
        if k == kind and k is not None:
            length += 1
            continue
        if kind is not None:
            counts[(str(length), kind)] = counts.get((str(length), kind), 0) + 1
        kind, length = k, 1
    return counts


def test_streak_bars_count_runs_of_each_length(sheet):
    views, agent, equity, fills, *_ = sheet
    pnl = round_trips(fills)["pnl"].to_numpy()
    bars = views["streak_bars"]
    got = {(length, kind): runs for length, kind, runs in zip(
        *(column(bars, d) for d in ("length", "kind", "runs")), strict=True)}
    assert got == runs_by_hand(pnl)
    longest = streaks(pnl)
    title = bars.opts.get().kwargs["title"]
    assert f"longest {longest['wins']} wins, {longest['losses']} losses" in title


def test_across_agents_sharpe_overlay_and_statistics_table(sheet):
    views, agent, equity, *_, table = sheet
    curves = views["rolling_sharpe_overlay"].values()
    assert [c.label for c in curves] == list(equity.columns)
    for curve, name in zip(curves, equity.columns, strict=True):
        s = rolling_stats(equity[name], WINDOW)["sharpe"]
        np.testing.assert_allclose(column(curve, "sharpe"), s.loc[s.first_valid_index():])
    shown = views["statistics_table"]
    assert list(column(shown, "agent")) == list(table["agent"])
    for key in ("equity_final", "sharpe", "var_pct", "beta", "trades"):
        np.testing.assert_allclose(column(shown, key).astype(float), table[key].astype(float),
                                   rtol=1e-5)
    assert list(column(shown, "max_drawdown_duration")) == list(
        table["max_drawdown_duration"].astype(str))


def test_the_sheet_renders_without_hover_and_with_sortable_tables(sheet, comp):
    with Recording(comp.run_path) as rec:
        fig = hv.render(ts.tear_sheet(rec, comp.agent_names[1]), backend="bokeh")
    assert list(fig.select({"type": HoverTool})) == []  # no agent text in tooltips
    tables = list(fig.select({"type": DataTable}))
    assert len(tables) == 2 and all(t.sortable for t in tables)
    # as a notebook or a Panel pane shows it (Panel links the axes of equal dimensions:
    # the yearly bars' years must not join the monthly heatmap's)
    with Recording(comp.run_path) as rec:
        pn.panel(ts.tear_sheet(rec, comp.agent_names[1])).get_root()


def test_a_replay_at_an_earlier_bar_shows_nothing_later(comp):
    t = 200
    agent = comp.agent_names[1]
    with Replay(comp.run_path, at=t) as replay:
        views = dict(zip(ts.VIEWS, ts.tear_sheet(replay, agent).values(), strict=True))
        bar_time = naive([replay.equity_frame().index[-1]])[0]
    assert bar_time == naive([comp.equity_frame().index[t - 1]])[0]
    for curve in (*views["exposure_plot"].values(), views["rolling_beta"],
                  *views["rolling_sharpe_overlay"].values()):
        assert column(curve, "time")[-1] == bar_time
    assert column(views["underwater"].values()[1], "end").max() <= bar_time
    trips = round_trips(comp.trades_frame().query("agent == @agent"))
    shown = int((trips["exit_bar"] < t).sum())
    assert 0 < shown < len(trips)
    assert column(views["pnl_histogram"].values()[0], "trades").sum() == shown
    assert column(views["streak_bars"], "runs").sum() == sum(
        runs_by_hand(trips.loc[trips["exit_bar"] < t, "pnl"]).values())
    assert set(column(views["statistics_table"], "bars")) == {t}
    assert set(column(views["yearly_returns_bars"], "calendar_year")) == {"2011"}  # bar 200: 2011-10


def test_views_pick_parts_of_the_sheet_and_unknown_names_are_clear(comp):
    only = ts.tear_sheet(comp, "buy_and_hold", views=["trades", "rolling_beta"])
    assert len(only) == len(ts.SECTIONS["trades"]) + 1
    with pytest.raises(ValueError, match=r"unknown tear-sheet view 'beta'.*'rolling_beta'"):
        ts.tear_sheet(comp, "buy_and_hold", views=["beta"])


def test_an_agent_without_closed_trades_gets_empty_trade_views(comp):
    views = dict(zip(ts.VIEWS, ts.tear_sheet(comp, "buy_and_hold").values(), strict=True))
    assert column(views["streak_bars"], "runs").sum() == 0
    assert column(views["holding_histogram"], "trades").sum() == 0
    assert len(views["excursion_scatter"]) == 0
    hv.render(hv.Layout(list(views.values())), backend="bokeh")


def test_a_long_run_is_aggregated_before_plotting(tmp_path):
    data = synthetic("SYN", bars=12_000, seed=2, freq="h")  # 500 days
    c = Competition(data, ["sma_cross:fast=3,slow=6", "buy_and_hold"],
                    CompetitionConfig(run_dir=str(tmp_path)))
    c.run()
    views = dict(zip(ts.VIEWS, ts.tear_sheet(c, c.agent_names[0]).values(), strict=True))
    days = 500
    for name in ("cumulative_returns", "exposure_plot", "rolling_sharpe_overlay"):
        for curve in views[name].values():
            assert len(curve) <= days + 1, name
    assert len(views["underwater"].values()[0]) <= days + 1
    for name in ("rolling_sharpe", "rolling_volatility", "rolling_beta"):
        assert len(views[name]) <= days + 1, name
    starts = column(views["drawdown_table"], "start")  # hourly bars: date and time
    assert len(starts) == 5 and all(len(t) == len("2020-01-01 13:00") for t in starts)
    trips = round_trips(c.trades_frame().query("agent == @c.agent_names[0]"))
    assert len(trips) > 1000
    assert column(views["pnl_histogram"].values()[0], "trades").sum() == len(trips)


def test_scatters_of_many_trades_draw_a_seeded_sample_and_say_so():
    frame = pd.DataFrame({"x": np.arange(MAX_SCATTER + 700)})
    drawn, title = _sample(frame, "t (5,700 closed")
    assert len(drawn) == MAX_SCATTER and drawn["x"].is_monotonic_increasing
    assert title == f"t (5,700 closed, {MAX_SCATTER:,} drawn"
    again, _ = _sample(frame, "t")
    assert drawn.equals(again)
    small = frame.iloc[:MAX_SCATTER]
    same, title = _sample(small, "t")
    assert same is small and title == "t"
