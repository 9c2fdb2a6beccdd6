"""Parts of the page that wait until the reader scrolls to them (arena.ui.deferred);
the browser side (the IntersectionObserver) is tested in tests/browser/test_dashboard.py."""

from __future__ import annotations

from dataclasses import replace

import panel as pn
import pytest
from bokeh.document import Document

from arena.ui.app import ArenaApp
from arena.ui.deferred import Placeholder, when_seen
from arena.ui.hub import Hub, default_spec


@pytest.fixture
def hub():
    spec = default_spec()
    hub = Hub(replace(spec, config=replace(spec.config, record=False)))
    yield hub
    hub.competition.stop()


def placeholders(objects) -> list[Placeholder]:
    return [o for item in objects for o in pn.Column(item).select(Placeholder)]


def test_a_part_replaces_its_placeholder_once_the_page_has_seen_it():
    # Arrange
    part = pn.pane.HTML("the part")
    box = when_seen(part, 420)
    [placeholder] = box.objects
    assert isinstance(placeholder, Placeholder) and placeholder.height == 420

    # Act: what the browser sends when the placeholder comes near the viewport
    placeholder.seen = True

    # Assert
    assert box.objects == [part]


def test_the_page_has_no_model_of_a_part_not_yet_seen(hub):
    # Arrange / Act: a served session's document
    doc = Document()
    with pn.io.server.set_curdoc(doc):
        app = ArenaApp(hub=hub)
        app.serve_doc()
    price_source = app.prices.source

    # Assert: the prices and trades, decisions and events rows wait; the rest is there
    assert len(placeholders(app.main())) == 2
    assert price_source.document is None
    assert app.equity.source.document is doc


def test_a_notebook_gets_every_part_at_once(hub):
    # Act
    app = ArenaApp(hub=hub)

    # Assert
    assert placeholders(app.main(lazy=False)) == []
