"""Connection indicator: "● live" while the server's heartbeats arrive, otherwise
"● disconnected" with a Reload button.

The server bumps ``heartbeat`` on every pull of the session's feed (at least
once per ``SessionFeed.heartbeat`` ms, even when nothing happens); the browser
notes when the last one arrived and checks twice a second. A closed websocket
(Bokeh's ``connection_lost`` event) turns it red at once.
"""

from __future__ import annotations

import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.theme import DOWN, UP

DISCONNECTED = "Connection to the arena server lost: reload the page to reconnect."
READY = "Trading Arena connected."


def configure_notifications() -> None:
    """Panel's own toasts when the session is ready and when the connection drops."""
    pn.config.disconnect_notification = DISCONNECTED
    pn.config.ready_notification = READY


class ConnectionIndicator(pn.custom.JSComponent):
    """Live / disconnected badge driven by server heartbeats (see module doc)."""

    heartbeat = param.Integer(default=0, doc="bumped by the server on every feed pull")
    stale_after = param.Integer(default=3000, bounds=(500, None),
                                doc="ms without a heartbeat before showing disconnected")
    feed = param.ClassSelector(class_=SessionFeed, default=None, precedence=-1,
                               doc="the session feed whose pulls are the heartbeats")

    _rename = {"feed": None}  # server-side only, never sent to the browser

    _esm = f"""
export function render({{ model, el, view }}) {{
  const badge = document.createElement("span")
  badge.className = "conn"
  const reload = document.createElement("button")
  reload.textContent = "Reload"
  reload.className = "reload"
  reload.addEventListener("click", () => window.location.reload())
  el.append(badge, reload)
  let last = Date.now()
  let lost = false
  const draw = () => {{
    const live = !lost && (Date.now() - last) < model.stale_after
    badge.textContent = live ? "● live" : "● disconnected"
    badge.style.color = live ? "{UP}" : "{DOWN}"
    badge.title = live ? "receiving updates from the server" :
      "no update from the server for " + Math.round((Date.now() - last) / 1000) + " s"
    reload.style.display = live ? "none" : "inline-block"
    el.dataset.state = live ? "live" : "disconnected"
  }}
  model.on("heartbeat", () => {{ last = Date.now(); draw() }})
  try {{
    view.model.document.on_event("connection_lost", () => {{ lost = true; draw() }})
  }} catch (e) {{ /* not served by a Bokeh server (e.g. static export) */ }}
  draw()
  const timer = setInterval(draw, 500)
  model.on("remove", () => clearInterval(timer))
}}
"""
    _stylesheets = [f"""
:host {{ display: flex; align-items: center; }}
.conn {{ font-weight: 700; font-size: 13px; white-space: nowrap; padding: 2px 10px;
         border-radius: 12px; background: rgba(18, 18, 18, 0.75); }}
.reload {{ margin-left: 8px; padding: 2px 12px; border-radius: 12px; cursor: pointer;
           border: 0; background: {DOWN}; color: #fff; font-weight: 700; font-size: 12px; }}
"""]

    def __init__(self, **params):
        super().__init__(**params)
        if self.feed is not None:
            self._scale()
            self.feed.param.watch(self._beat, "last_pull")
            self.feed.param.watch(self._scale, ["period", "heartbeat"])

    def _scale(self, *_) -> None:
        """Stale after three missed heartbeats (or ten checks), never sooner than 3 s."""
        self.stale_after = max(3000, 3 * self.feed.heartbeat, 10 * self.feed.period)

    def _beat(self, *_) -> None:
        self.heartbeat += 1
