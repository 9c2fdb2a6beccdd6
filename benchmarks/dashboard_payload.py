"""Dashboard payload without a browser: what one session's pulls send, per view.

    .venv/bin/python benchmarks/dashboard_payload.py

The whole dashboard (``ArenaApp.main()``: the default 9 agents on 4 symbols, no
recording) is rendered into a Bokeh Document; after 100 bars, 24 updates of 3
bars each (about what a pull carries at 10 bars/s), the keyed tables (leaderboard,
positions) refreshed on every 4th (``table_period`` 1 s at 4 pulls a second). Each
update's events are serialised as the server would (one ``PATCH-DOC``) and
counted, in total and per view. The bytes do not depend on the machine's load, so
two versions of the code compare exactly (run it with each on ``PYTHONPATH``); the
server time of each pull is printed too (that does).
The market cards and summary bar (``StatStrip`` data: Panel sends a JS
component's data changes itself, so they are not among the document's events
here) are counted apart: each changed property as one ``ModelChanged`` event.
Not counted: the status line and the heartbeat.
"""

from __future__ import annotations

import collections
import json
import statistics
import time
from dataclasses import replace

import panel as pn
from bokeh.document import Document
from bokeh.document.events import ModelChangedEvent
from bokeh.protocol import Protocol

from arena.ui.app import ArenaApp
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub, default_spec

UPDATES, BARS, KEYED_EVERY = 24, 3, 4


def main() -> int:
    spec = default_spec()
    hub = Hub(replace(spec, config=replace(spec.config, record=False)))
    feed = SessionFeed(hub=hub, table_period=0)
    app = ArenaApp(hub=hub, feed=feed)
    doc = Document()
    doc.add_root(pn.Column(*app.main()).get_root(doc))
    events: list = []
    doc.on_change(events.append)
    hub.competition.step(100)
    feed.pull()
    protocol = Protocol()
    protocol.create("PATCH-DOC", events)  # the page load: the page now has every model
    names = {}
    for view, name in ((app.leaderboard.table, "leaderboard"), (app.positions.table, "positions"),
                       (app.trades.table, "trades feed"), (app.decisions.table, "decisions feed"),
                       (app.events.table, "event log")):
        for model, _ in view._models.values():  # (a Tabulator's data is its source's)
            names.update({m.id: name for m in (model, getattr(model, "source", None)) if m})
    names.update({app.equity.source.id: "equity lines", app.prices.source.id: "prices", app.prices.fills.id: "fill markers"})

    def view_of(event) -> str:
        model = getattr(event, "model", None) or event.msg_data.model
        return names.get(model.id) or f"{model.name or type(model).__name__} data"

    strips = {"market cards": app.market.strip, "summary bar": app.summary.strip}
    strips = {name: next(iter(s._models.values()))[0].data for name, s in strips.items()}
    shown = {name: _props(data) for name, data in strips.items()}
    strip_bytes, refreshes = collections.defaultdict(int), collections.defaultdict(int)
    sizes, pulls, per_view = [], [], collections.defaultdict(int)
    try:
        for i in range(UPDATES):
            events.clear()
            feed.table_period = 0 if i % KEYED_EVERY == 0 else 60_000
            hub.competition.step(BARS)
            t0 = time.perf_counter()
            feed.pull()
            pulls.append(time.perf_counter() - t0)
            msg = protocol.create("PATCH-DOC", events)
            sizes.append(len(msg.header_json) + len(msg.metadata_json) + len(msg.content_json)
                         + sum(len(b.to_bytes()) for b in msg.buffers))
            for event in events:
                one = protocol.create("PATCH-DOC", [event])
                per_view[view_of(event)] += len(one.content_json) + sum(
                    len(b.to_bytes()) for b in one.buffers)
            for name, data in strips.items():
                now = _props(data)
                changed = [k for k in now if now[k] != shown[name][k]]
                refreshes[name] += bool(changed)
                for k in changed:
                    event = ModelChangedEvent(doc, data, k, getattr(data, k))
                    strip_bytes[name] += len(protocol.create("PATCH-DOC", [event]).content_json)
                shown[name] = now
    finally:
        hub.competition.stop()
    print(f"{UPDATES} updates of {BARS} bars, keyed tables on every {KEYED_EVERY}th:")
    print(f"bytes per update: median {statistics.median(sizes):,.0f}, "
          f"mean {statistics.mean(sizes):,.0f}, max {max(sizes):,}")
    print(f"server time of a pull (the session's Python side; this machine's load "
          f"matters): median {1000 * statistics.median(pulls):.0f} ms, with the keyed "
          f"tables {1000 * statistics.median(pulls[::KEYED_EVERY]):.0f} ms")
    for name, total in sorted(per_view.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<22} {total / UPDATES:7,.0f} B per update")
    print("apart (StatStrip data, refreshed with the keyed tables):")
    for name, total in strip_bytes.items():
        print(f"  {name:<22} {total / UPDATES:7,.0f} B per update, "
              f"{total / max(refreshes[name], 1):,.0f} B a refresh ({refreshes[name]} refreshes)")
    return 0


def _props(data) -> dict:
    """A Bokeh model's own properties as JSON text (to see which changed)."""
    return {k: json.dumps(v, default=str) for k, v in data.properties_with_values(
        include_defaults=True).items() if k in data.properties() and k not in
        ("name", "tags", "js_event_callbacks", "js_property_callbacks", "subscribed_events",
         "syncable", "esm_constants")}


if __name__ == "__main__":
    raise SystemExit(main())
