"""Hub: the one competition that every session of a server shows.

A served app builds one Hub per process (``shared_hub``, cached in
``pn.state.cache``), never one per browser tab. Sessions hold it and read its
competition's streams; the control panel replaces the competition through
:meth:`Hub.replace` when an operator changes the settings.
"""

from __future__ import annotations

import os
import threading
import weakref

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


def build_competition(spec: RunSpec) -> Competition:
    return Competition(spec.load_data(), list(spec.agents), spec.config,
                       data_source=spec.data_source)


class Hub(param.Parameterized):
    """Holds the shared competition and the spec it was built from."""

    competition = param.ClassSelector(class_=Competition, doc="the competition on show")
    spec = param.ClassSelector(class_=RunSpec, doc="what the competition was built from")
    version = param.Integer(default=0, doc="bumps each time the competition is replaced")
    sessions = param.Integer(default=0, doc="browser sessions currently connected")

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
        with self._lock:
            old = self.competition
            old.stop()
            self.param.update(competition=new, spec=spec, version=self.version + 1)
        return new

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


def shared_hub() -> Hub:
    """The process-wide hub (created on first use, then cached)."""
    import panel as pn

    return pn.state.as_cached("trading-arena-hub", Hub)
