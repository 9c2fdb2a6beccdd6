"""LogView: a bounded, newest-first, append-only table for the live feeds
(trades, decisions, events).

A feed only ever gains rows at the top and loses them at the bottom, so the
browser never needs the table again: each append sends just the new rows (as a
custom message) and the page inserts them as DOM rows, dropping the oldest past
``max_rows``. The server keeps the same window, which a page asks for when it
(re)renders — a late tab, a reload or a notebook cell shown again.

Rows travel as ``[cells, column, class, ...]`` (only the cells that have a class);
within one message a cell that repeats the row before's goes as ``0`` and a row
with the row before's classes goes without any (a pull's rows mostly share their
times, kind and colours).

Every cell is set with ``textContent``: agent and model text shows literally,
never as HTML. A cell may carry a class (``u``/``d``/``f`` for up, down and
flat, or an event group) that colours it. Long text (a column with ``wrap``)
wraps to three lines; a click on the row shows all of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import panel as pn
import param

from arena.ui.theme import DOWN, EVENT_COLOURS, FLAT, UP

Row = list  # [cells, classes]: cells are text, classes a list (or None) of cell classes
# (sent as [cells, column, class, ...]: see _wire)


def grid_css() -> str:
    """What the DOM tables (LogView, KeyedView) share: grid rows under a header,
    ellipsised cells, and the up / down / flat and event-group colours. Text and
    lines take the theme's colour (dark dashboard, light notebook)."""
    groups = "\n".join(f".g-{g} {{ color: {c}; font-weight: 700; }}"
                       for g, c in EVENT_COLOURS.items())
    return f"""
:host {{ display: block; contain: content; }}
.log {{ display: flex; flex-direction: column; height: 100%; font-size: 12.5px;
        font-variant-numeric: tabular-nums; color: inherit; }}
.head, .row {{ display: grid; grid-template-columns: var(--cols); column-gap: 8px;
               padding: 3px 8px; }}
.head {{ font-weight: 700; opacity: 0.75; border-bottom: 1px solid rgba(128,128,128,0.4);
         white-space: nowrap; }}
.head span {{ overflow: hidden; text-overflow: ellipsis; }}
.row {{ border-bottom: 1px solid rgba(128,128,128,0.15); cursor: default; }}
.row:hover {{ background: rgba(128,128,128,0.12); }}
.row span {{ overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.r {{ text-align: right; }} .c {{ text-align: center; }}
.u {{ color: {UP}; }} .d {{ color: {DOWN}; }} .f {{ color: {FLAT}; }}
{groups}
.empty {{ color: {FLAT}; padding: 8px; font-style: italic; }}
"""


def _css() -> str:
    return grid_css() + """
.body { overflow-y: auto; flex: 1 1 auto; min-height: 0; contain: strict; }
.row span.w { white-space: pre-wrap; overflow-wrap: anywhere; display: -webkit-box;
               -webkit-box-orient: vertical; -webkit-line-clamp: 3; line-clamp: 3; }
.row.open span.w { display: block; -webkit-line-clamp: unset; }
.row.hidden { display: none; }
"""


class LogView(pn.custom.JSComponent):
    """Newest-first rows ``[cells, classes]`` under a fixed header; only new rows
    travel to the browser."""

    columns = param.List(default=[], doc="[title, width, flags]: width a CSS grid size "
                                         "(e.g. '88px', '1fr'), flags 'r' right-aligned, "
                                         "'w' wrapped long text")
    max_rows = param.Integer(default=200, bounds=(1, 10_000), doc="newest rows kept")
    filter_column = param.Integer(default=-1, doc="column the filter applies to (-1: none)")
    filter_values = param.List(default=[], doc="show only rows whose filter column is one "
                                               "of these (empty: all rows)")
    placeholder = param.String(default="Nothing yet", doc="shown while there are no rows")

    _esm = """
export function render({ model, el }) {
  const log = document.createElement("div"), head = document.createElement("div")
  const body = document.createElement("div"), empty = document.createElement("div")
  log.className = "log"; head.className = "head"; body.className = "body"
  empty.className = "empty"
  log.append(head, body)
  el.append(log)
  let wrap = [], base = []
  const setColumns = () => {
    const cols = model.columns || []
    log.style.setProperty("--cols", cols.map(c => c[1] || "1fr").join(" "))
    const flags = cols.map(c => c[2] || "")
    wrap = flags.map(f => f.includes("w"))
    base = flags.map(f => [f.includes("r") ? "r" : "", f.includes("w") ? "w" : ""]
      .filter(Boolean).join(" "))
    head.replaceChildren(...cols.map(c => {
      const s = document.createElement("span"); s.textContent = c[0]
      if (c[2] && c[2].includes("r")) s.className = "r"
      return s
    }))
  }
  // the model's values are read once per change, not once per row (they are not free)
  let fcol = model.filter_column, fvals = model.filter_values || [], max = model.max_rows
  const shown = row => fcol < 0 || fvals.length === 0 || fvals.includes(row.dataset.key)
  const make = ([cells, ...pairs]) => {  // pairs: column, class, column, class...
    const row = document.createElement("div"), classes = []
    for (let k = 0; k + 1 < pairs.length; k += 2) classes[pairs[k]] = pairs[k + 1]
    row.className = "row"
    cells.forEach((v, i) => {
      const s = document.createElement("span")
      s.textContent = v == null ? "" : String(v)
      const cls = classes[i] ? base[i] + " " + classes[i] : base[i]
      if (cls) s.className = cls
      if (wrap[i]) s.title = s.textContent
      row.append(s)
    })
    if (fcol >= 0) row.dataset.key = String(cells[fcol])
    if (!shown(row)) row.classList.add("hidden")
    return row
  }
  const showEmpty = () => {
    if (body.childElementCount === 0) { empty.textContent = model.placeholder; body.append(empty) }
  }
  const add = rows => {
    if (empty.isConnected) empty.remove()
    const frag = document.createDocumentFragment()
    for (let i = rows.length - 1; i >= 0; i--) frag.append(make(rows[i]))
    // a reader who scrolled down stays put (layout is read only then: it is not free)
    const before = scrolled ? body.scrollHeight : 0
    body.prepend(frag)
    let extra = body.childElementCount - max
    while (extra-- > 0) body.lastElementChild.remove()
    if (scrolled) body.scrollTop += body.scrollHeight - before
  }
  let scrolled = false  // kept by the scroll event: reading scrollTop would force a layout
  body.addEventListener("scroll", () => { scrolled = body.scrollTop > 0 }, { passive: true })
  body.addEventListener("click", e => {
    const row = e.target.closest(".row")
    if (row) row.classList.toggle("open")
  })
  const unditto = rows => {  // 0: the row before's cell; no classes: the row before's
    let above = [], abovePairs = []
    return rows.map(([cells, ...pairs]) => {
      cells = cells.map((v, i) => v === 0 ? above[i] : v)
      if (pairs.length === 0) pairs = abovePairs
      above = cells; abovePairs = pairs
      return [cells, ...pairs]
    })
  }
  model.on("msg:custom", msg => {
    if (msg.reset) body.replaceChildren()
    if (msg.rows && msg.rows.length) add(unditto(msg.rows))
    showEmpty()
  })
  model.on("max_rows", () => { max = model.max_rows })
  model.on(["filter_values", "filter_column"], () => {
    fcol = model.filter_column; fvals = model.filter_values || []
    for (const row of body.children)
      if (row.classList.contains("row")) row.classList.toggle("hidden", !shown(row))
  })
  model.on("columns", setColumns)
  setColumns()
  showEmpty()
  model.send_msg("sync")  // the rows so far (a late tab, a reload, a cell shown again)
}
"""

    def __init__(self, **params):
        super().__init__(**params)
        self._window: deque[Row] = deque(maxlen=self.max_rows)
        self._stylesheets = [*self._stylesheets, _css()]

    @param.depends("max_rows", watch=True)
    def _new_max(self) -> None:
        self._window = deque(self._window, maxlen=self.max_rows)

    @property
    def rows(self) -> list[Row]:
        """The rows held, oldest first (what a newly rendered page is sent)."""
        return list(self._window)

    def append(self, cells: Sequence[Sequence], classes: Sequence[Sequence | None] | None = None
               ) -> None:
        """Add rows (oldest first): ``cells[i]`` is row i's text, ``classes[i]`` its
        cell classes or None. Only these rows are sent to the browser."""
        rows = [[list(c), None if classes is None else (list(classes[i]) if classes[i]
                                                       else None)]
                for i, c in enumerate(cells)]
        if not rows:
            return
        rows = rows[-self.max_rows:]
        self._window.extend(rows)
        self._send_msg({"rows": _wire(rows)})

    def clear(self) -> None:
        """Drop every row (a new run or a reset)."""
        self._window.clear()
        self._send_msg({"reset": True})

    def _handle_msg(self, msg) -> None:
        if msg == "sync":
            self._send_msg({"reset": True, "rows": _wire(self.rows)})


def _wire(rows: list[Row]) -> list[list]:
    """Rows as sent: ``[cells, column, class, column, class, ...]``, only the cells that
    have a class (``[None, None, "u", None, "d"]`` costs twice the bytes). Cells go as
    text (None: empty); one that repeats the cell above (the row before in this
    message) goes as ``0``, and a row whose classes are the row before's has no pairs
    (``[cells, 0, None]``: no classes after a row with some)."""
    out, above, above_pairs = [], None, []
    for cells, classes in rows:
        text = [None if c is None else str(c) for c in cells]
        sent = text if above is None or len(above) != len(text) else \
            [0 if c == a else c for c, a in zip(text, above, strict=True)]
        pairs = [x for i, c in enumerate(classes or ()) if c for x in (i, c)]
        if pairs == above_pairs:
            out.append([sent])
        else:
            out.append([sent, *(pairs or (0, None))])
        above, above_pairs = text, pairs
    return out


def unwire(rows: list[list]) -> list[Row]:
    """Sent rows back as ``[cells, classes]`` (what the page does; for tests)."""
    out, above, above_pairs = [], [], []
    for cells, *pairs in rows:
        cells = [above[i] if c == 0 and not isinstance(c, str) else c
                 for i, c in enumerate(cells)]
        pairs = pairs or above_pairs
        classes = [None] * len(cells)
        for k in range(0, len(pairs), 2):
            classes[pairs[k]] = pairs[k + 1]
        out.append([cells, classes if any(classes) else None])
        above, above_pairs = cells, pairs
    return out
