"""ControlPanel: run controls, status and settings of the shared competition.

Run controls (start, pause/resume, step, stop, reset, speed) act on the
competition on show; "Apply" builds a new one from the settings through
:meth:`Hub.replace`, and every session switches to it. Settings that cannot be
used are refused with a one-line message next to the control at fault; the
current competition stays. The "Live exchange" data source starts a live run on an
exchange's candles as ``arena live`` does (exchange id, symbols, timeframe,
warm-up; the exchange config, e.g. its URLs, is the server's ``--exchange-config``
or its config's, never typed here); its warm-up is fetched in the background
(:meth:`Hub.build_later`) while the run on show goes on; for a live run the status line shows the feed's
state, "live since …", the last candle's age and the time to the next one instead
of the progress bar. With authentication on, only operators
(:mod:`arena.ui.roles`) may use any of it, checked again in every handler.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pandas as pd
import panel as pn
import param

from arena.agents import AgentSpecError, available, create_agent
from arena.config import ConfigError, RunSpec, spec_from_dict
from arena.data import DataError, bundled_symbols
from arena.engine import StateError
from arena.feeds.errors import FeedError, FetchError
from arena.ui.feed import SessionFeed
from arena.ui.hub import Busy, Hub, build_competition, in_session
from arena.ui.livestatus import LiveStatus
from arena.ui.roles import current_user, is_operator, read_only_note
from arena.ui.runs import LiveRunPicker
from arena.ui.safe import MultiChoice, text

SPEEDS = {"1 bar/s": 1.0, "5 bars/s": 5.0, "20 bars/s": 20.0, "100 bars/s": 100.0,
          "1000 bars/s": 1000.0, "max": 0.0}
STATE_COLOURS = {"idle": "#9e9e9e", "running": "#26a69a", "paused": "#e69f00",
                 "stopped": "#ef5350", "finished": "#56b4e9"}
_NOTE_COLOURS = {"error": "#ef5350", "info": "#9e9e9e", "ok": "#26a69a"}


class Refused(ValueError):
    """A setting that cannot be used; ``where`` names the note it belongs next to."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where


def _note() -> pn.pane.HTML:
    return pn.pane.HTML("", visible=False, margin=(0, 10), sizing_mode="stretch_width",
                        css_classes=["arena-note"])


def _say(note: pn.pane.HTML, message: str, kind: str = "error") -> None:
    """Show ``message`` (plain text, escaped here) in ``note``; empty hides it."""
    first_line = " ".join(str(message).split())
    note.object = (f'<div style="color:{_NOTE_COLOURS[kind]};font-size:0.85em">'
                   f"{text(first_line)}</div>") if first_line else ""
    note.visible = bool(first_line)


def _head(spec: str) -> str:
    return spec.partition(":")[0].strip()


class ControlPanel(pn.viewable.Viewer):
    """Start/pause/step/stop/reset, speed, status and the competition's settings."""

    feed = param.ClassSelector(class_=SessionFeed, doc="this session's reader of the hub")
    hub = param.ClassSelector(class_=Hub, doc="the shared competition holder (default: the feed's)")
    user = param.String(default=None, allow_None=True,
                        doc="who is signed in (default: the session's user; None without auth)")

    def __init__(self, **params):
        if "user" not in params:
            params["user"] = current_user()
        super().__init__(**params)
        if self.hub is None:
            self.hub = self.feed.hub
        self._syncing = False
        self._shown_state: tuple | None = None  # (state, operator) the buttons show
        self._version = -1
        self.pending = None  # the thread building a live run Apply started, if any
        self._build_run_widgets()
        self._build_settings_widgets()
        self._load_spec(self.hub.spec)
        self._version = self.hub.version
        self.feed.param.watch(self._on_status, "status")
        self._refresh(self.feed.status or self.feed.competition.status())

    @property
    def operator(self) -> bool:
        return is_operator(self.user)

    # -- widgets -----------------------------------------------------------------
    def _build_run_widgets(self) -> None:
        b = {"sizing_mode": "stretch_width", "min_width": 60}
        self.start_button = pn.widgets.Button(label="Start", color="success", **b)
        self.pause_button = pn.widgets.Button(label="Pause", color="warning", **b)
        self.step_button = pn.widgets.Button(label="Step", color="primary", **b)
        self.stop_button = pn.widgets.Button(label="Stop", color="danger", **b)
        self.reset_button = pn.widgets.Button(label="Reset", color="light", **b)
        self.speed = pn.widgets.Select(label="Speed", options=dict(SPEEDS),
                                       sizing_mode="stretch_width")
        self.state_pane = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="info",
                                               sizing_mode="stretch_width", height=12)
        self.run_note = _note()
        self.role_note = _note()
        self.start_button.on_click(lambda e: self._command("start", lambda c: c.start()))
        self.pause_button.on_click(self._on_pause_resume)
        self.step_button.on_click(lambda e: self._command("step", lambda c: c.step(wait=False)))
        self.stop_button.on_click(lambda e: self._command("stop", lambda c: c.stop()))
        self.reset_button.on_click(lambda e: self._command("reset", lambda c: c.reset()))
        self.speed.param.watch(self._on_speed, "value")

    def _build_settings_widgets(self) -> None:
        w = {"sizing_mode": "stretch_width"}
        self.source = pn.widgets.RadioButtonGroup(
            label="Data", options={"Bundled": "bundled", "File": "file",
                                   "Live exchange": "live"}, value="bundled", **w)
        self.exchange = pn.widgets.TextInput(label="Exchange (ccxt id)", placeholder="binance",
                                             **w)
        self.live_symbols = pn.widgets.TextInput(label="Symbols (comma-separated)",
                                                 placeholder="BTC/USDT, ETH/USDT", **w)
        self.timeframe = pn.widgets.TextInput(label="Timeframe", value="1m", width=90)
        self.warmup = pn.widgets.IntInput(label="Warm-up (candles)", value=500, start=2,
                                          width=120)
        self.symbols = MultiChoice(
            label="Bundled symbols", options=list(bundled_symbols()["symbol"]), **w)
        self.file = pn.widgets.TextInput(label="CSV/Parquet file (on the server)",
                                         placeholder="data/prices.csv", **w)
        self.start = pn.widgets.TextInput(label="Start", placeholder="YYYY-MM-DD", width=120)
        self.end = pn.widgets.TextInput(label="End", placeholder="YYYY-MM-DD", width=120)
        self.agent_names = MultiChoice(label="Agents", options=list(available()), **w)
        self.agent_rows = pn.Column(sizing_mode="stretch_width", margin=0)
        self._agent_inputs: list[pn.widgets.TextInput] = []
        self.new_agent = pn.widgets.TextInput(
            label="Add an agent spec", placeholder="sma_cross:fast=5,slow=30 or pkg.mod:Class", **w)
        self.add_agent = pn.widgets.Button(label="Add", width=55, align="end")
        self.cash = pn.widgets.FloatInput(label="Starting cash", step=10_000, **w)
        self.fee_bps = pn.widgets.FloatInput(label="Fee (bps)", step=0.5, width=90)
        self.slippage_bps = pn.widgets.FloatInput(label="Slippage (bps)", step=0.5, width=90)
        self.leverage = pn.widgets.FloatInput(label="Leverage", step=0.5, width=90)
        self.seed = pn.widgets.IntInput(label="Seed", width=90)
        self.upload = pn.widgets.FileInput(accept=".toml", multiple=False, **w)
        self.apply_button = pn.widgets.Button(label="Apply", color="primary", **w)
        self.data_note, self.agents_note, self.costs_note = _note(), _note(), _note()
        self.toml_note, self.apply_note = _note(), _note()
        self.source.param.watch(self._on_source, "value")
        self.agent_names.param.watch(self._on_agent_names, "value")
        self.add_agent.on_click(self._on_add_agent)
        self.upload.param.watch(self._on_upload, "value")
        self.apply_button.on_click(self._on_apply)

    @property
    def _settings_widgets(self):
        return (self.source, self.symbols, self.file, self.start, self.end, self.exchange,
                self.live_symbols, self.timeframe, self.warmup, self.agent_names,
                self.new_agent, self.add_agent, self.cash, self.fee_bps, self.slippage_bps,
                self.leverage, self.seed, self.upload, self.apply_button, *self._agent_inputs,
                *self._remove_buttons())

    def _remove_buttons(self):
        return [row[1] for row in self.agent_rows]

    # -- the agents list ---------------------------------------------------------
    @property
    def agent_specs(self) -> list[str]:
        """The agent specs as currently entered, one per competitor."""
        return [i.value.strip() for i in self._agent_inputs if i.value.strip()]

    def _set_agents(self, specs) -> None:
        self._agent_inputs = []
        rows = []
        for spec in specs:
            box = pn.widgets.TextInput(value=spec, sizing_mode="stretch_width", margin=(2, 5))
            box.param.watch(lambda e: self._sync_names(), "value")
            remove = pn.widgets.Button(label="✕", width=32, margin=(2, 10, 2, 0), color="light",
                                       disabled=not self.operator)
            remove.on_click(lambda e, box=box: self._remove_agent(box))
            box.disabled = not self.operator
            self._agent_inputs.append(box)
            rows.append(pn.Row(box, remove, sizing_mode="stretch_width", margin=0))
        self.agent_rows.objects = rows
        self._sync_names()

    def _sync_names(self) -> None:
        """The MultiChoice shows which registered agents are in the list."""
        names = [n for n in dict.fromkeys(_head(s) for s in self.agent_specs)
                 if n in self.agent_names.options]
        self._syncing = True
        try:
            self.agent_names.value = names
        finally:
            self._syncing = False

    def _on_agent_names(self, event) -> None:
        if self._syncing:
            return
        if not self._may_operate(self.agents_note):
            self._sync_names()
            return
        added = [n for n in event.new if n not in event.old]
        removed = {n for n in event.old if n not in event.new}
        specs = [s for s in self.agent_specs if _head(s) not in removed] + added
        self._set_agents(specs)

    def _on_add_agent(self, event=None) -> None:
        if not self._may_operate(self.agents_note):
            return
        spec = self.new_agent.value.strip()
        if not spec:
            _say(self.agents_note, "type an agent spec first, e.g. sma_cross:fast=5,slow=30")
            return
        try:
            create_agent(spec)
        except AgentSpecError as exc:
            _say(self.agents_note, str(exc))
            return
        self._set_agents([*self.agent_specs, spec])
        self.new_agent.value = ""
        _say(self.agents_note, "")

    def _remove_agent(self, box) -> None:
        if not self._may_operate(self.agents_note):
            return
        self._set_agents([i.value for i in self._agent_inputs if i is not box])

    # -- settings ----------------------------------------------------------------
    def _load_spec(self, spec: RunSpec) -> None:
        """Fill the form from ``spec`` (what is on show, or an uploaded config)."""
        self._base_config = spec.config
        pf = spec.config.portfolio
        self.source.value = "live" if spec.live else "file" if spec.file else "bundled"
        live = spec.live or {}
        if live:
            self.exchange.value = str(live.get("exchange", ""))
            self.live_symbols.value = ", ".join(live.get("symbols", []))
            self.timeframe.value = str(live.get("timeframe", "1m"))
            self.warmup.value = int(live.get("warmup", 500))
        self.symbols.value = list(spec.symbols)
        self.file.value = spec.file or ""
        self.start.value = "" if spec.start is None else str(spec.start)
        self.end.value = "" if spec.end is None else str(spec.end)
        self.cash.value, self.fee_bps.value = pf.cash, pf.fee_bps
        self.slippage_bps.value, self.leverage.value = pf.slippage_bps, pf.max_leverage
        self.seed.value = spec.config.seed
        self._set_agents(spec.agents)
        self._on_source()

    def _on_source(self, event=None) -> None:
        source = self.source.value
        self.symbols.visible, self.file.visible = source == "bundled", source == "file"
        for w in (self.start, self.end):
            w.visible = source != "live"
        for w in (self.exchange, self.live_symbols, self.timeframe, self.warmup):
            w.visible = source == "live"

    def _live_table(self) -> dict:
        """The ``[live]`` table the form describes (the exchange config: the served
        config's for the same exchange; the server's --exchange-config replaces it)."""
        exchange = self.exchange.value.strip().lower()
        if not exchange:
            raise Refused("data", "enter the exchange's ccxt id, e.g. binance")
        symbols = [s.strip() for s in self.live_symbols.value.split(",") if s.strip()]
        if not symbols:
            raise Refused("data", "enter at least one symbol, e.g. BTC/USDT")
        timeframe = self.timeframe.value.strip() or "1m"
        if self.warmup.value is None or self.warmup.value < 2:
            raise Refused("data", f"the warm-up must be at least 2 candles, got "
                                  f"{self.warmup.value}")
        table = {"exchange": exchange, "symbols": symbols, "timeframe": timeframe,
                 "warmup": int(self.warmup.value)}
        served = self.hub.spec.live or {}
        if served.get("exchange") == exchange and served.get("exchange_config"):
            table["exchange_config"] = dict(served["exchange_config"])
        for key in ("grace", "poll"):  # the served run's timing, for the same timeframe
            if key in served and served.get("timeframe") == timeframe:
                table[key] = served[key]
        try:  # the same checks as arena live, before any request
            from arena.feeds.liverun import live_config
            live_config(table)
        except FeedError as exc:
            raise Refused("data", str(exc)) from None
        return table

    def build_spec(self) -> RunSpec:
        """The RunSpec the form describes; :class:`Refused` names what is wrong."""
        live = self._live_table() if self.source.value == "live" else None
        if live is not None:
            symbols, file = (), None
        elif self.source.value == "bundled":
            symbols, file = tuple(self.symbols.value), None
            if not symbols:
                raise Refused("data", "choose at least one bundled symbol")
        else:
            symbols, file = (), self.file.value.strip()
            if not file:
                raise Refused("data", "enter the path of a CSV or Parquet file on the server")
        dates = {}
        for label, box in (("start", self.start), ("end", self.end)):
            value = "" if live else box.value.strip()
            if value:
                try:
                    pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise Refused("data", f"{label}: {value!r} is not a date "
                                          "(use YYYY-MM-DD)") from None
            dates[label] = value or None
        if dates["start"] and dates["end"] and pd.Timestamp(dates["start"]) > pd.Timestamp(dates["end"]):
            raise Refused("data", f"start {dates['start']} is after end {dates['end']}")
        agents = tuple(self.agent_specs)
        if not agents:
            raise Refused("agents", "choose at least one agent")
        for spec in agents:
            try:
                create_agent(spec)
            except AgentSpecError as exc:
                raise Refused("agents", str(exc)) from None
        values = {"starting cash": self.cash.value, "fee": self.fee_bps.value,
                  "slippage": self.slippage_bps.value, "leverage": self.leverage.value,
                  "seed": self.seed.value}
        for label, value in values.items():
            if value is None:
                raise Refused("costs", f"{label} is empty")
        if self.seed.value < 0:
            raise Refused("costs", f"seed must be a whole number >= 0, got {self.seed.value}")
        try:
            portfolio = replace(self._base_config.portfolio, cash=float(self.cash.value),
                                fee_bps=float(self.fee_bps.value),
                                slippage_bps=float(self.slippage_bps.value),
                                max_leverage=float(self.leverage.value))
        except ValueError as exc:
            raise Refused("costs", str(exc)) from None
        config = replace(self._base_config, portfolio=portfolio, seed=int(self.seed.value),
                         speed=self.feed.competition.speed, run_id=None,
                         run_dir=self.hub.spec.config.run_dir)
        return RunSpec(symbols=symbols, file=file, start=dates["start"], end=dates["end"],
                       agents=agents, config=config, live=live)

    def _notes(self):
        return {"data": self.data_note, "agents": self.agents_note, "costs": self.costs_note,
                "apply": self.apply_note}

    def _on_apply(self, event=None) -> bool:
        """Build a new competition from the form; True if it is now on show or, for a
        live run, being built (:attr:`pending`, in the background: the warm-up fetch
        takes seconds and the server goes on answering; the run on show stays until
        the new one is ready). A second Apply while one is built is refused."""
        if not self._may_operate(self.apply_note):
            return False
        for note in (*self._notes().values(), self.toml_note):
            _say(note, "")
        try:
            spec = self.build_spec()
        except Refused as exc:
            _say(self._notes()[exc.where], str(exc))
            return False
        if spec.live is not None:
            return self._apply_later(spec)
        try:
            comp = self.hub.replace(spec)
        except Exception as exc:  # noqa: BLE001 - a message next to its control
            self._show_failure(exc)
            return False
        self._applied(comp)
        return True

    def _apply_later(self, spec: RunSpec) -> bool:
        """Fetch a live run's warm-up in the background; the outcome is shown in this
        session when it is there (through its document, from the build's thread)."""

        live = spec.live
        what = (f"the warm-up of {live['exchange']} {', '.join(live['symbols'])} "
                f"{live.get('timeframe', '1m')} ({live.get('warmup', 500)} candles)")
        _say(self.apply_note, f"fetching {what}…; the run on show goes on meanwhile", "info")
        try:
            self.pending = self.hub.build_later(
                f"fetching {what}", lambda: build_competition(spec),
                in_session(self._built), spec)
        except Busy as exc:
            _say(self.apply_note, str(exc))
            return False
        return True

    def _built(self, comp, error) -> None:
        _say(self.apply_note, "")  # no longer fetching
        if error is not None:
            self._show_failure(error)
        else:
            self._applied(comp)

    def _show_failure(self, exc: BaseException) -> None:
        """Why a competition could not be built, next to the control at fault."""
        if isinstance(exc, DataError | FeedError):
            _say(self.data_note, str(exc))
        elif isinstance(exc, FetchError):  # the exchange kept failing during the warm-up
            _say(self.apply_note, f"the exchange did not answer: {exc}")
        elif isinstance(exc, AgentSpecError):
            _say(self.agents_note, str(exc))
        elif isinstance(exc, ConfigError | ValueError | OSError):
            _say(self.apply_note, str(exc))
        else:
            _say(self.apply_note, f"could not build the competition: {type(exc).__name__}: {exc}")

    def _applied(self, comp) -> None:
        _say(self.apply_note, f"applied: new run {comp.run_id} ({comp.data_source}, "
                              f"{len(comp.agent_names)} agents)", "ok")
        self._version = self.hub.version
        self._refresh(comp.status())

    def _on_upload(self, event) -> None:
        if not event.new:
            return
        try:
            self._load_upload(event.new)
        finally:
            self.upload.clear()  # in a browser: the same file can be chosen again

    def _load_upload(self, content: bytes) -> None:
        if not self._may_operate(self.toml_note):
            return
        name = self.upload.filename or "uploaded file"
        try:
            if not name.lower().endswith(".toml"):
                raise ConfigError(f"{name}: not a .toml file")
            try:
                raw = tomllib.loads(content.decode("utf-8"))
            except UnicodeDecodeError:
                raise ConfigError(f"{name}: not UTF-8 text") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{name}: not valid TOML: {exc}") from None
            spec = spec_from_dict(raw, name)
            unknown = [s for s in spec.symbols if s not in self.symbols.options]
            if unknown:
                raise ConfigError(f"{name}: unknown bundled symbol(s) {', '.join(unknown)}; "
                                  f"bundled: {', '.join(self.symbols.options)}")
        except ConfigError as exc:
            _say(self.toml_note, str(exc))
            return
        self._load_spec(spec)
        _say(self.toml_note, f"loaded {name}: review the settings and press Apply", "info")

    # -- run controls ------------------------------------------------------------
    def _may_operate(self, note: pn.pane.HTML) -> bool:
        """Server-side role check for every handler (widgets alone are not enough)."""
        if self.operator:
            return True
        _say(note, read_only_note(self.user))
        return False

    def _command(self, name: str, act) -> bool:
        """Run ``act(competition)``; a refused or racing command shows its message."""
        if not self._may_operate(self.run_note):
            return False
        comp = self.feed.competition
        _say(self.run_note, "")
        try:
            act(comp)
        except (StateError, ValueError) as exc:
            _say(self.run_note, str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a message, never a traceback
            _say(self.run_note, f"{name} failed: {type(exc).__name__}: {exc}")
            return False
        finally:
            self._refresh(comp.status())
        return True

    def _on_pause_resume(self, event=None) -> bool:
        if self.pause_button.label == "Resume":
            return self._command("resume", lambda c: c.resume())
        return self._command("pause", lambda c: c.pause())

    def _on_speed(self, event) -> None:
        if self._syncing or event.new is None:
            return
        comp = self.feed.competition
        if not self._may_operate(self.run_note):
            self._show_speed(comp.speed)
            return
        try:
            comp.speed = event.new
        except ValueError as exc:
            _say(self.run_note, str(exc))

    def _show_speed(self, speed: float) -> None:
        options = dict(self.speed.options)
        if speed not in options.values():
            options[f"{speed:g} bars/s"] = speed
        self._syncing = True
        try:
            if options != self.speed.options:
                self.speed.options = options
            self.speed.value = speed
        finally:
            self._syncing = False

    # -- status --------------------------------------------------------------------
    def _on_status(self, event) -> None:
        if self.hub.version != self._version:  # another session applied new settings
            self._version = self.hub.version
            self._load_spec(self.hub.spec)
        self._refresh(event.new)

    def _refresh(self, status: dict) -> None:
        if not status:
            return
        state = status.get("state", "idle")
        bar, bars = status.get("bar", 0), status.get("bars", 0)
        when = (status.get("time") or "")[:10] or "—"
        colour = STATE_COLOURS.get(state, "#9e9e9e")
        bps = status.get("bars_per_second") or 0.0
        head = f'<b style="color:{colour};text-transform:uppercase">{text(state)}</b>'
        live = status.get("live")
        if live:  # no progress to tell: where live began, the candles' timing, the feed
            ls = LiveStatus.of(live)
            when = (status.get("time") or "")[:16].replace("T", " ") or "—"
            self.state_pane.object = (
                f"{head} &nbsp;{text(when)} &nbsp;<span style='opacity:0.7'>bar {bar:,}</span>"
                f"<div class='arena-live-status' style='font-size:0.85em;opacity:0.85'>"
                f"live since {text(ls.live_since)} · {text(ls.timing)}<br>"
                f"feed: <span class='arena-feed-state'>{text(ls.feed_text)}</span></div>")
        else:
            self.state_pane.object = (
                f"{head} &nbsp;{text(when)} &nbsp;<span style='opacity:0.7'>bar {bar:,} / "
                f"{bars:,} · {bps:,.0f} bars/s</span>")
        self.progress.visible = not live
        self.progress.value = int(round(1000 * (status.get("progress") or 0.0)))
        if status.get("error"):
            _say(self.run_note, f"engine error: {status['error']}")
        self._show_speed(float(status.get("speed", self.speed.value or 0.0)))
        ok = self.operator
        if (state, ok) == self._shown_state:
            return  # the buttons and notes already fit this state
        self._shown_state = (state, ok)
        self.start_button.disabled = not (ok and state == "idle")
        self.pause_button.label = "Resume" if state == "paused" else "Pause"
        self.pause_button.color = "success" if state == "paused" else "warning"
        self.pause_button.disabled = not (ok and state in ("running", "paused"))
        self.step_button.disabled = not (ok and state in ("idle", "paused"))
        self.stop_button.disabled = not (ok and state in ("running", "paused"))
        self.reset_button.disabled = not (ok and state in ("running", "paused", "stopped",
                                                           "finished"))
        self.speed.disabled = not ok
        for widget in self._settings_widgets:
            widget.disabled = not ok
        if ok:
            _say(self.role_note, "")
        else:
            _say(self.role_note, read_only_note(self.user), "info")

    def __panel__(self):
        run = pn.Column(
            self.role_note, self.state_pane, self.progress,
            pn.Row(self.start_button, self.pause_button, self.step_button,
                   sizing_mode="stretch_width", margin=0),
            pn.Row(self.stop_button, self.reset_button, sizing_mode="stretch_width", margin=0),
            self.speed, self.run_note, sizing_mode="stretch_width")
        form = [
            self.source, self.symbols, self.file, pn.Row(self.start, self.end),
            self.exchange, self.live_symbols, pn.Row(self.timeframe, self.warmup),
            self.data_note,
            self.agent_names, self.agent_rows,
            pn.Row(self.new_agent, self.add_agent, sizing_mode="stretch_width"), self.agents_note,
            self.cash, pn.Row(self.fee_bps, self.slippage_bps),
            pn.Row(self.leverage, self.seed), self.costs_note,
            pn.pane.Markdown("Load a run config (.toml):", margin=(0, 10)), self.upload,
            self.toml_note, self.apply_button, self.apply_note]
        settings = pn.Card(title="Settings", collapsed=True, sizing_mode="stretch_width",
                           css_classes=["arena-settings"])
        _fill_when_opened(settings, form)
        resume = pn.Card(title="Resume a live run", collapsed=True, sizing_mode="stretch_width",
                         css_classes=["arena-resume"])  # the recordings read when opened
        _fill_when_opened(resume, lambda: [LiveRunPicker(hub=self.hub, user=self.user)])
        return pn.Column(run, settings, resume, sizing_mode="stretch_width")


def _fill_when_opened(card: pn.Card, objects) -> None:
    """Put ``objects`` (a list, or a function making it) into the collapsed ``card``
    the first time it is opened. The form's widgets exist (and follow the competition)
    from the start, but only a page that opens the card gets their models: most
    viewers never do, and the form is a fifth of the cost of building a session's page."""
    if not card.collapsed:
        card.objects = objects() if callable(objects) else objects
        return

    def fill(event) -> None:
        if not event.new and not card.objects:
            card.objects = objects() if callable(objects) else objects

    card.param.watch(fill, "collapsed")
