"""SessionFeed: one session's reader of the shared competition's streams.

Each browser session (or notebook) has its own feed with its own cursors and
its own periodic callback. Every ``period`` ms the callback checks, cheaply,
whether the competition has anything new; if so (and the last pull is at least
``min_interval`` ms old while the engine runs, or the engine's state changed) it
pulls only the rows that are new since its last pull and hands them to the
components that subscribed. A single step therefore reaches the page within
about ``period`` ms (at once after a command through the API, which nudges every
session), while a fast run is delivered in batches a person can follow, at a
server cost per session that does not grow with the engine's speed. The pulls of
all sessions share a budget (``viewer_share`` of a core, from what pulls have
cost so far): with many sessions each pulls less often, so viewers never take
more of the server than that. A session with nothing new only sends its
heartbeat.
A session that opens late first gets the history so far (decimated for the
charts, the newest rows for the tables), then the live rows. Closing the
session stops its callback.

**One current bar.** Each pull reads the engine's status once, first, and every
view that shows "the current bar" takes it from that read: the charts' and the
trades' rows are delivered up to its bar (rows of later bars wait for the next
pull), and ``status`` (the summary bar's engine time and bar count, the control
panel's status line) is shown with them: whenever a chart got rows, when the
keyed tables are refreshed (once per ``table_period`` while the engine runs), and
at every pull when the engine's state changed or it is not running. Only the
keyed tables (leaderboard, positions: snapshots) may be a block of bars newer.

**Live runs** (a competition on a live feed): ``status["live"]`` has the feed's
state and times; ``ticker`` the exchange's latest prices between candles (for
display only, never a bar), delivered at the next pull after they change. A live
session's heartbeat is a pull, so the ages in the status keep moving.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pandas as pd
import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from arena.engine import State
from arena.ui.hub import Hub

CHART_STREAMS = ("equity", "benchmark", "prices")  # history comes decimated
TABLE_STREAMS = ("trades", "decisions", "events")  # the newest rows only
#: streams whose rows a pull delivers up to the status's bar only (one current bar)
AT_STATUS = ("equity", "benchmark", "prices", "trades")
KEYED = ("leaderboard", "positions")

Rows = Callable[[pd.DataFrame], None]


class PullCost:
    """CPU seconds a pull that brought news took, averaged over the recent pulls of
    every session of the process (exponentially weighted): the viewers' budget is
    the process's CPU, so all sessions share it."""

    def __init__(self, seconds: float = 0.01, weight: float = 0.05):
        self.seconds, self.weight = seconds, weight

    def add(self, seconds: float) -> None:
        self.seconds += self.weight * (seconds - self.seconds)


PULL_COST = PullCost()


class SessionFeed(param.Parameterized):
    """Pulls new rows for one session and hands them to subscribers."""

    hub = param.ClassSelector(class_=Hub, doc="the shared competition holder")
    period = param.Integer(default=100, bounds=(20, 10_000),
                           doc="ms between checks for news (the latency of a single step)")
    min_interval = param.Integer(default=250, bounds=(0, 60_000),
                                 doc="least ms between two pulls while the engine runs")
    heartbeat = param.Integer(default=1000, bounds=(100, 60_000),
                              doc="ms between pulls of an idle session (its heartbeat)")
    chart_points = param.Integer(default=1500, bounds=(100, 20_000),
                                 doc="bars a chart's history is decimated to")
    table_rows = param.Integer(default=500, bounds=(10, 10_000),
                               doc="newest rows a table starts with")
    resync_rows = param.Integer(default=50_000, doc="a backlog larger than this reloads "
                                                    "the history instead of streaming it")
    table_period = param.Integer(default=1000, bounds=(0, 60_000),
                                 doc="ms between refreshes of the keyed tables (leaderboard, "
                                     "positions): they change every bar, a person reads them "
                                     "about once a second")
    viewer_share = param.Number(default=0.5, bounds=(0.01, None),
                                doc="share of a core that the pulls of all sessions of the "
                                    "process may take while the engine runs: with many "
                                    "sessions each pulls less often than min_interval (its "
                                    "updates carry more rows), so that viewers never take "
                                    "more of the server than that however many there are")
    updates = param.Integer(default=0, doc="pulls that brought something new")
    status = param.Dict(default={}, doc="the engine's status, as the views show it (see the "
                                        "module doc: one current bar)")
    ticker = param.Dict(default={}, doc="a live run's latest prices: symbol → {price, time}")
    last_pull = param.Number(default=0.0, doc="wall time of the last pull")

    def __init__(self, **params):
        super().__init__(**params)
        self._subs: dict[str, list[tuple[Rows, Callable[[], None] | None]]] = defaultdict(list)
        self._cursor: dict[str, int] = {}
        self._epoch: dict[str, int] = {}
        self._hub_version = -1
        self._callback = None
        self._doc = None  # the session's document while the callback runs
        self._keyed_at = 0.0  # monotonic time the keyed tables and the status were shown
        self._signature: tuple | None = None  # what the last pull saw
        self._pulled_at = 0.0  # monotonic time of the last pull
        self._news_at = 0.0  # ... and of the last one that brought something new
        self._held = False  # a keyed table waits for its table_period
        self._ticker_version = -1
        self._reloads = 0  # streams reloaded (new run, reset, first pull)

    @property
    def competition(self):
        return self.hub.competition

    def subscribe(self, stream: str, on_rows: Rows, on_reset: Callable[[], None] | None = None):
        """Call ``on_rows(new_rows)`` when ``stream`` has new rows (for the keyed
        ``leaderboard`` and ``positions``: the whole table when it changed), and
        ``on_reset()`` before a reload (new run, reset, or too large a backlog; for
        the keyed tables: before the first table of a run)."""
        if stream not in CHART_STREAMS + TABLE_STREAMS + KEYED:
            raise ValueError(f"unknown stream {stream!r}")
        self._subs[stream].append((on_rows, on_reset))

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> SessionFeed:
        """Pull now, then every ``period`` ms in this session; stop when it closes."""
        self.pull()
        if pn.state.curdoc is not None and self._callback is None:
            self._doc = pn.state.curdoc
            # a background callback: Panel's busy state (one for the whole process,
            # shown by every session's template) is not toggled ten times a second by
            # every session, which would update every session's busy indicator
            self._callback = PeriodicCallback(callback=self.tick, period=self.period,
                                              background=True)
            self._callback.start()
            self.hub.session_opened(self)
            pn.state.on_session_destroyed(self._destroyed)
        return self

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
            self.hub.session_closed(self)
            self._doc = None

    def nudge(self) -> None:
        """Tick on this session's next turn instead of waiting for the periodic
        callback (safe from any thread: Bokeh schedules it on the session's loop)."""
        doc = self._doc
        if doc is not None and self._callback is not None:
            doc.add_next_tick_callback(self.tick)

    def _destroyed(self, session_context) -> None:
        self.stop()

    @param.depends("period", watch=True)
    def _new_period(self) -> None:
        if self._callback is not None:
            self._callback.period = self.period

    # -- pulling -----------------------------------------------------------------
    def _now_signature(self) -> tuple:
        """Cheap to compute; changes whenever a pull would find something new."""
        comp = self.hub.competition
        st = comp.streams
        return (self.hub.version, comp.state, comp.bar, comp.speed,
                getattr(getattr(comp, "feed", None), "ticker_version", 0),
                *((s.epoch, s.total) for s in (getattr(st, n) for n in CHART_STREAMS
                                                + TABLE_STREAMS)),
                *((t.epoch, t.version) for t in (getattr(st, n) for n in KEYED)))

    def tick(self) -> bool:
        """The periodic callback: pull when there is news and the last pull that
        brought any is :meth:`interval` old while the engine runs (``period`` old when
        it does not: a step shows at once) or the engine's state changed; when a
        held-back keyed table is due. After ``heartbeat`` ms of quiet, only the
        connection indicator's heartbeat. True if it pulled or sent the heartbeat."""
        now = time.monotonic()
        sig = self._now_signature()
        if sig == self._signature:
            due = self._held and (now - self._keyed_at) * 1000 >= self.table_period
            if due:
                self.pull()
                return True
            if (now - self._pulled_at) * 1000 < self.heartbeat:
                return False
            if getattr(self.hub.competition, "feed", None) is not None:
                self.pull()  # live: the feed's state and the candle ages move on
            else:
                self._beat(now)  # nothing new: only the heartbeat, not a pull
            return True
        if self._signature is not None and sig[:2] == self._signature[:2] \
                and (now - self._news_at) * 1000 < (
                    self.interval() if sig[1] is State.RUNNING else self.period):
            return False  # the next tick delivers it
        self.pull()
        return True

    def interval(self) -> float:
        """Least ms between two pulls of this session while the engine runs:
        ``min_interval``, or longer when every session pulling that often would take
        more than ``viewer_share`` of a core (at what a pull has cost lately)."""
        return max(self.min_interval,
                   1000.0 * self.hub.sessions * PULL_COST.seconds / self.viewer_share)

    def _beat(self, now: float) -> None:
        """A heartbeat without news: what a pull would tell the session's views when
        nothing changed (its time), without asking the streams."""
        self._pulled_at = now
        self.last_pull = time.time()

    def pull(self) -> bool:
        """Hand new rows to the subscribers; True if anything was new."""
        comp = self.hub.competition
        st = comp.streams
        news = False
        cpu, reloads = time.thread_time(), self._reloads
        self._signature = self._now_signature()
        self._pulled_at = time.monotonic()
        self._held = False
        status = comp.status()  # the one read of this pull: every view's current bar
        refresh = self._refresh_due(status, self._pulled_at)
        charted = False  # whether a chart got rows: then the status goes with them
        if self.hub.version != self._hub_version:
            self._hub_version = self.hub.version
            self._reload_all()
            news = True
        with pn.io.hold():
            for name in CHART_STREAMS + TABLE_STREAMS:
                stream = getattr(st, name)
                if stream.epoch != self._epoch.get(name):
                    self._reload(name)
                    news = True
                    continue
                if not self._subs[name]:
                    continue
                backlog = stream.total - self._cursor[name]
                if name in CHART_STREAMS and backlog > self.resync_rows:
                    self._reload(name)
                    news = True
                    continue
                if name in TABLE_STREAMS and backlog > self.table_rows:
                    self._cursor[name] = stream.total - self.table_rows
                rows, self._cursor[name] = stream.since(self._cursor[name])
                if name in AT_STATUS and len(rows):
                    rows = self._upto(name, rows, status.get("bar"))
                if len(rows):
                    news = True
                    charted = charted or name in CHART_STREAMS
                    self._deliver(name, rows)
            for name in KEYED:
                table = getattr(st, name)
                if not self._subs[name]:
                    continue
                key = (table.epoch, table.version)
                fresh = self._epoch.get(name) is None or key[0] != self._epoch[name][0]
                if key != self._epoch.get(name):
                    if not (refresh or fresh):
                        self._held = True
                        continue
                    self._epoch[name] = key
                    news = True
                    if fresh:  # a new run, a reset or a new session: start afresh
                        for _, on_reset in self._subs[name]:
                            if on_reset is not None:
                                on_reset()
                    self._deliver(name, table.snapshot())
            if news:
                self.updates += 1
                self._news_at = self._pulled_at
            self._show_ticker(status)
            if refresh:
                self._keyed_at = self._pulled_at
            if refresh or charted or status.get("state") != State.RUNNING.value:
                self.status = status
            self.last_pull = time.time()
        if news and self._reloads == reloads:  # (a reload is a page's first pull)
            PULL_COST.add(time.thread_time() - cpu)
        return news

    def _refresh_due(self, status: dict, now: float) -> bool:
        """Whether this pull refreshes the keyed tables (and shows ``status`` with
        them): when the run or its state changed, else once per ``table_period`` (a
        person reads them about once a second). One decision for both, so the views
        that show them agree."""
        old, keys = self.status or {}, ("state", "run_id")
        return (any(old.get(k) != status.get(k) for k in keys)
                or (now - self._keyed_at) * 1000 >= self.table_period)

    def _show_ticker(self, status: dict) -> None:
        """A live run's latest prices, when they changed (at once: they are the live
        view between candles)."""
        version = self._signature[4]  # read before the status: never newer than it
        if version != self._ticker_version:
            self._ticker_version = version
            self.ticker = dict((status.get("live") or {}).get("ticker") or {})

    def _upto(self, name: str, rows: pd.DataFrame, bar) -> pd.DataFrame:
        """``rows`` of the bars before ``bar`` (the status's), the rest left for the
        next pull. The engine publishes a block's rows and its bar count at once, so the
        rows past the status are the newest ones: a tail."""
        if bar is None:
            return rows
        keep = rows["bar"].to_numpy() < bar
        if keep.all():
            return rows
        k = int(np.argmin(keep))
        self._cursor[name] -= len(rows) - k
        return rows.iloc[:k]

    def _deliver(self, name: str, rows: pd.DataFrame) -> None:
        for on_rows, _ in self._subs[name]:
            on_rows(rows)

    def _reload_all(self) -> None:
        self._ticker_version = -1
        for name in CHART_STREAMS + TABLE_STREAMS:
            self._reload(name)
        for name in KEYED:
            self._epoch.pop(name, None)

    def _reload(self, name: str) -> None:
        self._reloads += 1
        comp = self.hub.competition
        stream = getattr(comp.streams, name)
        self._epoch[name] = stream.epoch
        for _, on_reset in self._subs[name]:
            if on_reset is not None:
                on_reset()
        if not self._subs[name]:  # (the dashboard draws the benchmark from the closes)
            self._cursor[name] = stream.total
            return
        if name in CHART_STREAMS:
            rows, self._cursor[name] = comp.history(name, self.chart_points)
        else:
            rows, self._cursor[name] = stream.since(max(stream.first_id,
                                                        stream.total - self.table_rows))
        if len(rows) and self._subs[name]:
            self._deliver(name, rows)
