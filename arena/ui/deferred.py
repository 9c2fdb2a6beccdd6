"""Parts of the page that reach it only when the viewer scrolls to them.

Every Bokeh model of a page costs the server CPU for each session (made, themed,
serialized, collected again), and most viewers look at the top of the dashboard
only. :func:`when_seen` puts a placeholder of the part's height in its place; the
first time the placeholder comes near the viewport (an ``IntersectionObserver``
in the page, ``MARGIN`` ahead), the browser tells the server, which puts the
part in. The part's components exist (and follow the feed) from the start; only
their models wait. (The settings form waits for its card to be opened the same
way: :func:`arena.ui.controls._fill_when_opened`.)
"""

from __future__ import annotations

import panel as pn
import param

MARGIN = "300px"  # how far below (or above) the viewport a part starts to load

_ESM = """
export function render({ model, el }) {
  if (model.seen) return
  const host = el.getRootNode().host ?? el
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      observer.disconnect()
      model.seen = true
    }
  }, { rootMargin: "%MARGIN% 0px" })
  observer.observe(host)
  model.on("remove", () => observer.disconnect())
}""".replace("%MARGIN%", MARGIN)


class Placeholder(pn.custom.JSComponent):
    """Empty space that sets ``seen`` once it comes within ``MARGIN`` of the viewport."""

    seen = param.Boolean(default=False, doc="set by the browser when first near the viewport")

    _esm = _ESM


def when_seen(part: pn.viewable.Viewable, height: int) -> pn.Column:
    """``part`` in a column that holds a ``height`` px placeholder until the page
    scrolls near it (see the module doc)."""
    placeholder = Placeholder(height=height, sizing_mode="stretch_width", margin=0,
                              css_classes=["arena-placeholder"])
    box = pn.Column(placeholder, sizing_mode="stretch_width", margin=0)

    def show(event) -> None:
        if event.new and box.objects == [placeholder]:
            box.objects = [part]

    placeholder.param.watch(show, "seen")
    return box
