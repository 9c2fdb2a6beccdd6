"""Hub: the one competition that every session of a server shows.

A served app builds one Hub per process (``shared_hub``, cached in
``pn.state.cache``), never one per browser tab. Sessions hold it and read its
competition's streams; the control panel replaces the competition through
:meth:`Hub.replace` when an operator changes the settings, or builds a live run in
the background (:meth:`Hub.build_later`: the warm-up fetch takes seconds, and the
server must go on answering meanwhile) and then shows it (:meth:`Hub.show`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable

import param

from arena.config import RunSpec, load_config
from arena.engine import Competition, CompetitionConfig
from arena.portfolio import PortfolioConfig

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG")
DEFAULT_AGENTS = ("buy_and_hold", "sma_cross", "sma_cross:fast=20,slow=50", "momentum",
                  "mean_reversion", "rsi", "macd", "ml", "random")


def default_spec(run_dir: str = "runs", speed: float = 20.0) -> RunSpec:
    """Nine built-in agents (rules, ML, random) on the four bundled symbols, costs of 1 + 2 bps."""
    return RunSpec(
        symbols=DEFAULT_SYMBOLS, agents=DEFAULT_AGENTS,
        config=CompetitionConfig(portfolio=PortfolioConfig(fee_bps=1.0, slippage_bps=2.0),
                                 speed=speed, run_dir=run_dir))


def spec_from_env() -> RunSpec:
    """``ARENA_CONFIG`` (a TOML run config) or the default; ``ARENA_RUN_DIR`` and
    ``ARENA_SPEED`` override where runs are recorded and the starting speed."""
    from dataclasses import replace

    path = os.environ.get("ARENA_CONFIG")
    spec = load_config(path) if path else default_spec()
    over = {}
    if os.environ.get("ARENA_RUN_DIR"):
        over["run_dir"] = os.environ["ARENA_RUN_DIR"]
    if os.environ.get("ARENA_SPEED"):
        over["speed"] = float(os.environ["ARENA_SPEED"])
    return replace(spec, config=replace(spec.config, **over)) if over else spec


#: the exchange config (JSON text or file) of the server's live runs (``arena serve
#: --exchange-config``); it replaces a ``[live]`` table's ``exchange_config``
EXCHANGE_CONFIG_ENV = "ARENA_EXCHANGE_CONFIG"


def build_competition(spec: RunSpec) -> Competition:
    """The competition ``spec`` describes. A live one (``spec.live``) is built as
    ``arena live`` builds it: the warm-up is fetched here (FeedError, FetchError) and
    it starts at once, since its market does not wait."""
    if spec.live is not None:
        from arena.feeds.liverun import live_config, open_live

        cfg = live_config(spec.live, os.environ.get(EXCHANGE_CONFIG_ENV) or None)
        comp = open_live(cfg, spec.agents, spec.config)
        comp.start()
        return comp
    return Competition(spec.load_data(), list(spec.agents), spec.config,
                       data_source=spec.data_source)


def resume_competition(run, run_dir, exchange_config=None,
                       before_start: Callable[[Competition], None] | None = None) -> Competition:
    """The stopped or interrupted live run ``run`` continued, as ``arena live --resume``
    does (same run id, recording, agents and accounts; the missed candles first), and
    started (``before_start(comp)`` first, e.g. to note the bar it resumes at).
    ``exchange_config``: the server's ``--exchange-config`` (JSON text or file) if None.
    ``ResumeError`` says why a run cannot go on."""
    from arena.feeds.liverun import resume_run

    if exchange_config is None:
        exchange_config = os.environ.get(EXCHANGE_CONFIG_ENV) or None
    comp = resume_run(run, run_dir, exchange_config)
    try:
        if before_start is not None:
            before_start(comp)
        comp.start()
    except BaseException:
        comp.stop()  # releases its claim on the run
        raise
    return comp


class Busy(RuntimeError):
    """A run is already being built in the background."""


class Hub(param.Parameterized):
    """Holds the shared competition and the spec it was built from."""

    competition = param.ClassSelector(class_=Competition, doc="the competition on show")
    spec = param.ClassSelector(class_=RunSpec, doc="what the competition was built from")
    version = param.Integer(default=0, doc="bumps each time the competition is replaced")
    sessions = param.Integer(default=0, doc="browser sessions currently connected")
    building = param.String(default=None, allow_None=True,
                            doc="what is being built in the background (build_later), if any")

    def __init__(self, spec: RunSpec | None = None, competition: Competition | None = None,
                 **params):
        """Show ``competition`` (e.g. one built in a notebook; ``spec`` should describe
        it, for the control panel), or else a new one built from ``spec``."""
        spec = spec or spec_from_env()
        super().__init__(spec=spec, competition=competition or build_competition(spec),
                         **params)
        self._open_registry()

    def _open_registry(self) -> None:
        """The lock and the registry of open sessions' feeds (every hub needs them)."""
        self._lock = threading.Lock()
        self._feeds: weakref.WeakSet = weakref.WeakSet()  # open sessions' feeds

    def replace(self, spec: RunSpec) -> Competition:
        """Stop the current competition and show a new one built from ``spec``."""
        new = build_competition(spec)  # may raise: the old one stays on show
        self.show(new, spec)
        return new

    def show(self, new, spec: RunSpec | None = None) -> None:
        """Stop the competition on show and show ``new`` (built from ``spec``) instead;
        every session switches to it at its next pull (nudged now)."""
        with self._lock:
            old = self.competition
            old.stop()
            self.param.update(competition=new, spec=spec or self.spec,
                              version=self.version + 1)
        self.nudge()

    def build_later(self, what: str, build: Callable[[], Competition],
                    done: Callable[[Competition | None, BaseException | None], None],
                    spec: RunSpec | None = None) -> threading.Thread:
        """Run ``build()`` (a warm-up fetch, a resume: seconds) in a thread of its own
        while the competition on show goes on; on success show what it returns (with
        ``spec``). Then ``done(competition, None)`` or ``done(None, error)``, in that
        thread. One build at a time per hub: :class:`Busy` while one runs. ``what``
        says what is being built (for the refusal)."""
        with self._lock:
            if self.building is not None:
                raise Busy(f"{self.building} is still under way; wait for it to finish")
            self.building = what

        def work() -> None:
            new = error = None
            try:
                new = build()
                self.show(new, spec)
            except BaseException as exc:  # noqa: BLE001 - handed to done(), never lost
                error = exc
            finally:
                with self._lock:
                    self.building = None
            done(new, error)

        thread = threading.Thread(target=work, name="arena-build", daemon=True)
        thread.start()
        return thread

    def session_opened(self, feed=None) -> None:
        """Count a session; ``feed`` (its SessionFeed) is then nudged by :meth:`nudge`."""
        with self._lock:
            self.sessions += 1
            if feed is not None:
                self._feeds.add(feed)

    def session_closed(self, feed=None) -> None:
        with self._lock:
            self.sessions = max(0, self.sessions - 1)
            if feed is not None:
                self._feeds.discard(feed)

    def nudge(self) -> None:
        """Have every open session check for news now rather than at its next tick:
        after a command that changed the competition (a step through the API), every
        page shows it one pull later. Each session only gets a callback scheduled
        on its own document, so a slow one holds up nobody."""
        with self._lock:
            feeds = list(self._feeds)
        for feed in feeds:
            try:
                feed.nudge()
            except Exception:  # noqa: BLE001 - a session closing meanwhile: nothing to show
                with self._lock:
                    self._feeds.discard(feed)


def in_session(act: Callable) -> Callable:
    """``act`` made callable from any thread (a background build's): it runs on the
    current session's next turn, under its document's lock, as SessionFeed.nudge
    schedules its pulls; at once when there is no session (a notebook, a test)."""
    import panel as pn

    doc = pn.state.curdoc

    def later(*args) -> None:
        if doc is None or doc.session_context is None:
            act(*args)
            return
        with contextlib.suppress(Exception):  # the session closed meanwhile: nobody to tell
            doc.add_next_tick_callback(lambda: act(*args))

    return later


def shared_hub() -> Hub:
    """The process-wide hub (created on first use, then cached)."""
    import panel as pn

    return pn.state.as_cached("trading-arena-hub", Hub)
