"""ReplayControls: the control panel of replay mode.

Play/pause, step, speed (0.5x to 100x of the recording's pace, or as fast as
possible) and a scrubber that seeks anywhere in the recording. They act on the
hub's :class:`~arena.replay.Replay`, which every session shows; the scrubber
follows the position while it plays. With authentication on, only operators may
use them (checked again in every handler).
"""

from __future__ import annotations

import panel as pn
import param

from arena.engine import StateError
from arena.ui.controls import STATE_COLOURS
from arena.ui.feed import SessionFeed
from arena.ui.roles import current_user, is_operator, read_only_note
from arena.ui.safe import text

#: label → multiple of the recording's pace (0 = as fast as possible)
RATES = {"0.5x": 0.5, "1x": 1.0, "2x": 2.0, "5x": 5.0, "10x": 10.0, "25x": 25.0,
         "100x": 100.0, "max": 0.0}


class ReplayControls(pn.viewable.Viewer):
    """Play/pause, step, speed and a time scrubber for the replay on show."""

    feed = param.ClassSelector(class_=SessionFeed, doc="this session's reader of the hub")
    user = param.String(default=None, allow_None=True,
                        doc="who is signed in (default: the session's user)")

    def __init__(self, **params):
        if "user" not in params:
            params["user"] = current_user()
        super().__init__(**params)
        self._syncing = False
        w = {"sizing_mode": "stretch_width", "min_width": 60}
        self.play_button = pn.widgets.Button(label="Play", color="success", **w)
        self.step_button = pn.widgets.Button(label="Step", color="primary", **w)
        self.rate = pn.widgets.Select(label="Speed", options=dict(RATES), value=1.0,
                                      sizing_mode="stretch_width")
        self.scrubber = pn.widgets.IntSlider(label="Position (bars shown)", start=0, end=1,
                                             value=0, step=1, sizing_mode="stretch_width",
                                             css_classes=["arena-scrubber"])
        self.state_pane = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10),
                                       css_classes=["arena-replay-state"])
        self.note = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.play_button.on_click(lambda e: self.toggle_play())
        self.step_button.on_click(lambda e: self.step())
        self.rate.param.watch(self._on_rate, "value")
        self.scrubber.param.watch(self._on_scrub, "value_throttled")
        self.feed.param.watch(lambda e: self._refresh(e.new), "status")
        self._refresh(self.feed.status or self.replay.status())

    @property
    def replay(self):
        return self.feed.competition

    @property
    def operator(self) -> bool:
        return is_operator(self.user)

    # -- commands ---------------------------------------------------------------------
    def toggle_play(self) -> bool:
        if self.replay.status()["state"] == "running":
            return self._command(lambda r: r.pause())
        return self._command(lambda r: r.start())

    def step(self) -> bool:
        return self._command(lambda r: r.step())

    def seek(self, bar: int) -> bool:
        """Show the state after ``bar`` bars."""
        return self._command(lambda r: r.seek(bar))

    def _on_scrub(self, event) -> None:
        if not self._syncing and event.new is not None:
            self.seek(int(event.new))

    def _on_rate(self, event) -> None:
        if self._syncing or event.new is None:
            return
        self._command(lambda r: setattr(r, "speed", float(event.new) * r.base_speed))

    def _command(self, act) -> bool:
        replay = self.replay
        if not self.operator:
            self._say(read_only_note(self.user), "#ef5350")
            self._refresh(replay.status())
            return False
        self._say("")
        try:
            act(replay)
        except (StateError, ValueError) as exc:
            self._say(str(exc), "#ef5350")
            return False
        finally:
            self._refresh(replay.status())
        return True

    def _say(self, message: str, colour: str = "#9e9e9e") -> None:
        self.note.object = (f'<div style="color:{colour};font-size:0.85em">{text(message)}</div>'
                            if message else "")

    # -- status -----------------------------------------------------------------------
    def _refresh(self, status: dict) -> None:
        if not status:
            return
        state, bar, bars = status.get("state", "paused"), status.get("bar", 0), status.get("bars", 0)
        when = (status.get("time") or "")[:16].replace("T", " ") or "—"
        colour = STATE_COLOURS.get(state, "#9e9e9e")
        shown = "playing" if state == "running" else state
        live = " · recording still running" if status.get("recording") == "running" else ""
        self.state_pane.object = (
            f'<b style="color:{colour};text-transform:uppercase">{text(shown)}</b>'
            f" &nbsp;{text(when)} &nbsp;<span style='opacity:0.7'>bar {bar:,} / {bars:,}"
            f"{text(live)}</span>")
        base = float(status.get("base_speed") or 1.0)
        speed = float(status.get("speed") or 0.0)
        self._syncing = True
        try:
            self.scrubber.end = max(1, bars)
            self.scrubber.value = bar
            rate = speed / base if base else 0.0
            options = dict(RATES)
            if rate not in options.values():
                options[f"{rate:g}x"] = rate
            if options != self.rate.options:
                self.rate.options = options
            self.rate.value = rate
        finally:
            self._syncing = False
        ok = self.operator
        self.play_button.label = "Pause" if state == "running" else "Play"
        self.play_button.color = "warning" if state == "running" else "success"
        self.play_button.disabled = not ok or state == "stopped"
        self.step_button.disabled = not ok or state not in ("paused",)
        self.scrubber.disabled = self.rate.disabled = not ok

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("#### Replay", margin=(0, 10)), self.state_pane,
            pn.Row(self.play_button, self.step_button, sizing_mode="stretch_width", margin=0),
            self.rate, self.scrubber, self.note, sizing_mode="stretch_width")
