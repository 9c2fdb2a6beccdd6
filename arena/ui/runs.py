"""Replay mode's hub and run picker: which recording every session of the server shows.

:class:`ReplayHub` is a :class:`~arena.ui.hub.Hub` whose "competition" is an
:class:`arena.replay.Replay`; the session feeds, the dashboard's components and the
HTTP API read it exactly as they read a live competition. :class:`RunPicker` lists
the recordings under the hub's run directory and opens the one chosen (every
session switches to it, as they do when an operator applies new settings live).
:class:`LiveRunPicker` (in a served competition's control panel) lists the recorded
live runs that were stopped or interrupted and resumes the one chosen, as ``arena
live --resume`` does, in the background; it becomes the competition every session
shows.
"""

from __future__ import annotations

from pathlib import Path

import panel as pn
import param

from arena.engine import Competition
from arena.feeds.errors import FetchError
from arena.recorder import RecordingError, list_runs
from arena.replay import Replay
from arena.ui.hub import Busy, Hub, in_session, resume_competition
from arena.ui.roles import current_user, is_operator, read_only_note
from arena.ui.safe import text


class ReplayHub(Hub):
    """Holds the replay every session shows; :meth:`open` switches to another run."""

    competition = param.ClassSelector(class_=(Competition, Replay),
                                      doc="the replay on show (read like a competition)")
    run_dir = param.String(default="runs", doc="where the recordings are")

    def __init__(self, run: str | Path, run_dir: str | Path = "runs", **params):
        replay = Replay(run, run_dir=run_dir)  # a bad run fails here, before serving
        param.Parameterized.__init__(self, competition=replay, run_dir=str(run_dir), **params)
        self._open_registry()

    def open(self, run: str | Path) -> Replay:
        """Show the recording ``run`` instead (the old replay is closed)."""
        new = Replay(run, run_dir=self.run_dir)  # may raise: the old one stays on show
        with self._lock:
            old = self.competition
            self.param.update(competition=new, version=self.version + 1)
        old.stop()
        return new

    def replace(self, spec) -> Replay:
        raise ValueError("a replay shows a recording; open another run instead of applying "
                         "settings")


def run_options(run_dir: str | Path) -> dict[str, str]:
    """Label → run path for every readable recording under ``run_dir``, newest first;
    a label says the status, e.g. ``interrupted at bar 1,234 (2005-03-01)`` for a run
    whose writer died without finishing."""
    from arena.recorder import status_text  # noqa: PLC0415

    runs = list_runs(run_dir)
    if runs.empty:
        return {}
    runs = runs[runs["status"] != "unreadable"].sort_values("created", ascending=False)
    return {f"{r.run_id} · {status_text(r.status, r.last_bar, r.last_bar_time)} · "
            f"{r.agents}"[:120]: r.path for r in runs.itertuples(index=False)}


class RunPicker(pn.viewable.Viewer):
    """A list of the recordings and an Open button (operators only, with auth on)."""

    hub = param.ClassSelector(class_=ReplayHub, doc="the replay holder")
    user = param.String(default=None, allow_None=True, doc="who is signed in")

    def __init__(self, **params):
        if "user" not in params:
            params["user"] = current_user()
        super().__init__(**params)
        self.select = pn.widgets.Select(label="Recording", sizing_mode="stretch_width")
        self.refresh_button = pn.widgets.Button(label="↻", width=40, align="end",
                                                description="list the recordings again")
        self.open_button = pn.widgets.Button(label="Open", color="primary",
                                             sizing_mode="stretch_width")
        self.note = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.refresh_button.on_click(lambda e: self.refresh())
        self.open_button.on_click(lambda e: self.open_selected())
        self.refresh()

    def refresh(self) -> None:
        options = run_options(self.hub.run_dir)
        current = str(self.hub.competition.path.parent)
        if current not in options.values():
            options = {f"{self.hub.competition.run_id} (open)": current, **options}
        self.select.options = options
        self.select.value = current
        ok = is_operator(self.user)
        self.select.disabled = self.open_button.disabled = not ok
        self._say("" if ok else read_only_note(self.user), "#9e9e9e")

    def open_selected(self) -> bool:
        """Open the chosen recording; True if it is now on show."""
        if not is_operator(self.user):
            self._say(read_only_note(self.user), "#ef5350")
            return False
        path = self.select.value
        if not path:
            self._say("choose a recording first", "#ef5350")
            return False
        try:
            replay = self.hub.open(path)
        except (RecordingError, OSError, ValueError) as exc:
            self._say(str(exc), "#ef5350")
            return False
        self._say(f"opened {replay.run_id}: {replay.n_bars:,} bars, "
                  f"{len(replay.agent_names)} agents", "#26a69a")
        return True

    def _say(self, message: str, colour: str) -> None:
        self.note.object = (f'<div style="color:{colour};font-size:0.85em">{text(message)}</div>'
                            if message else "")

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Recording", margin=(0, 10)),
                         pn.Row(self.select, self.refresh_button, sizing_mode="stretch_width"),
                         self.open_button, self.note, sizing_mode="stretch_width")



#: statuses a live run can be resumed from (arena.engine.resume.load_saved_run)
RESUMABLE = ("stopped", "interrupted")


def resumable_runs(run_dir: str | Path) -> dict[str, str]:
    """Label → run path of the live runs under ``run_dir`` that were stopped or
    interrupted, newest first (a live run's data source ends in "(live)",
    ``arena.feeds.liverun.live_source``)."""
    from arena.recorder import status_text  # noqa: PLC0415

    runs = list_runs(run_dir)
    if runs.empty:
        return {}
    runs = runs[runs["status"].isin(RESUMABLE) & runs["data"].fillna("").str.endswith("(live)")]
    runs = runs.sort_values("created", ascending=False)
    return {f"{r.run_id} · {status_text(r.status, r.last_bar, r.last_bar_time)} · "
            f"{r.data}"[:120]: r.path for r in runs.itertuples(index=False)}


class LiveRunPicker(pn.viewable.Viewer):
    """The stopped or interrupted live runs under the served competition's run folder
    and a Resume button (operators only, with auth on): the run chosen continues
    (:func:`~arena.ui.hub.resume_competition`, built in the background) and every
    session shows it; a refusal (``ResumeError``...) is shown as its message."""

    hub = param.ClassSelector(class_=Hub, doc="the shared competition holder")
    user = param.String(default=None, allow_None=True, doc="who is signed in")

    def __init__(self, **params):
        if "user" not in params:
            params["user"] = current_user()
        super().__init__(**params)
        self.pending = None  # the thread resuming a run, if any
        self._at = 0  # the bar the last run resumed continued from
        self.select = pn.widgets.Select(label="Stopped or interrupted live runs",
                                        sizing_mode="stretch_width")
        self.refresh_button = pn.widgets.Button(label="↻", width=40, align="end",
                                                description="list the runs again")
        self.resume_button = pn.widgets.Button(label="Resume", color="primary",
                                               sizing_mode="stretch_width")
        self.note = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.refresh_button.on_click(lambda e: self.refresh())
        self.resume_button.on_click(lambda e: self.resume_selected())

    @property
    def run_dir(self) -> str:
        return str(self.hub.spec.config.run_dir) if self.hub.spec else "runs"

    def _options(self) -> dict[str, str]:
        """The resumable runs, less the one on show while it goes on (its recording
        may not say so yet)."""
        comp = self.hub.competition
        going = comp.run_id if comp.state.value in ("idle", "running", "paused") else None
        return {k: v for k, v in resumable_runs(self.run_dir).items() if Path(v).name != going}

    def refresh(self) -> None:
        self.select.options = options = self._options()
        self.select.value = next(iter(options.values()), None)
        ok = is_operator(self.user)
        self.select.disabled = self.resume_button.disabled = not ok
        self._say("" if ok else read_only_note(self.user), "#9e9e9e")
        if ok and not options:
            self._say(f"no stopped or interrupted live run in {self.run_dir}/", "#9e9e9e")

    def resume_selected(self) -> bool:
        """Start resuming the chosen run in the background; True if it started."""
        if not is_operator(self.user):
            self._say(read_only_note(self.user), "#ef5350")
            return False
        path = self.select.value
        if not path:
            self._say("choose a run first", "#ef5350")
            return False
        name = Path(path).name
        self._say(f"resuming {name}: fetching the candles it missed…", "#9e9e9e")
        try:
            self.pending = self.hub.build_later(
                f"resuming {name}", lambda: resume_competition(
                    path, self.run_dir, before_start=self._note_start),
                in_session(self._done))
        except Busy as exc:
            self._say(str(exc), "#ef5350")
            return False
        return True

    def _note_start(self, comp) -> None:
        self._at = comp.bar  # the recorded bars; the missed candles come next

    def _done(self, comp, error) -> None:
        if isinstance(error, FetchError):
            self._say(f"the exchange did not answer: {error}", "#ef5350")
        elif error is not None:  # ResumeError, FeedError (bad exchange config)...: the message
            self._say(str(error) if isinstance(error, RecordingError | ValueError | OSError)
                      else f"{type(error).__name__}: {error}", "#ef5350")
        else:
            self._say(f"resumed {comp.run_id} at bar {self._at:,}: the candles it missed "
                      "first, then live", "#26a69a")
        self.select.options = self._options()

    def _say(self, message: str, colour: str) -> None:
        self.note.object = (f'<div style="color:{colour};font-size:0.85em">{text(message)}</div>'
                            if message else "")

    def __panel__(self):
        self.refresh()  # read the recordings only when shown
        return pn.Column(pn.Row(self.select, self.refresh_button, sizing_mode="stretch_width"),
                         self.resume_button, self.note, sizing_mode="stretch_width")
