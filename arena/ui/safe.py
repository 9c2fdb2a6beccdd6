"""One rule for text from outside (configs, data files, recordings, agents, models):
it reaches the page as text, never as markup.

* Markup that the components build themselves (HTML panes, notes, the report)
  passes every outside value through :func:`text`.
* Widgets show their options and values as text: Bokeh's Select, AutocompleteInput,
  Tabulator cells, titles, legends and ``@field`` tooltips put them into the page
  as text nodes. The one exception is MultiChoice, whose browser side (Choices.js)
  writes option labels as HTML; :class:`MultiChoice` here sends them escaped, and
  the components use it instead of Panel's (tests/test_walls.py checks).
"""

from __future__ import annotations

import html

import panel as pn


def text(value) -> str:
    """Outside text made safe to put inside HTML (``&``, ``<``, ``>`` and quotes escaped)."""
    return html.escape("" if value is None else str(value), quote=True)


class MultiChoice(pn.widgets.MultiChoice):
    """Panel's MultiChoice with option labels that show literally: each option goes
    to the browser as ``(label, escaped label)``, the label as the value (so what
    the browser sends back is unchanged) and its escaped form as the HTML shown."""

    def _process_param_change(self, params):
        props = super()._process_param_change(params)
        if "options" in props:
            props["options"] = [(label, text(label)) for label in props["options"]]
        return props
