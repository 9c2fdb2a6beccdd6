"""KeyedView: a live table of keyed rows (the leaderboard, the open positions) that
sends the browser only what changed.

The server keeps, per view, the rows it last sent, each under a small row id
(one per key: an agent, or an agent and a symbol). An :meth:`KeyedView.update`
compares the new table with them and sends one custom message with only:

* ``add``: new rows, ``[id, value, ...]`` (every column);
* ``set``: changed cells, ``[id, column, value, column, value, ...]`` per row;
* ``drop``: ids of rows that are gone;
* ``order``: the row ids top to bottom, when that changed (a re-rank, a row
  added or dropped).

Numbers travel rounded to the decimals shown (so a value that moved less than
that sends nothing) and are formatted in the browser: thousands separators, the
column's decimals, medals for the top three ranks, ▲/▼ rank moves, green/red by
sign. Text is set with ``textContent`` only: agent names show literally, never as
HTML. A page that (re)renders asks for a ``sync`` and gets the whole table. A
click on a column title sorts by it (again: the other way; a third time: back
to the server's order); the sort lives in the page only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import panel as pn
import param

from arena.ui.logview import grid_css
from arena.ui.theme import MEDALS


def _css() -> str:
    return grid_css() + """
.log { overflow-x: auto; }
.head, .body { min-width: var(--minw); }
.body { overflow-y: auto; flex: 1 1 auto; min-height: 0; }
.head span { cursor: pointer; user-select: none; }
.head span.asc::after { content: " ▲"; } .head span.desc::after { content: " ▼"; }
"""


def _decimals(fmt: str) -> int | None:
    """The decimals a number column is rounded to on the wire (None: not a number)."""
    if fmt.startswith("n:"):
        return int(fmt.split(":")[2])
    return 0 if fmt in ("rank", "move") else None


def wire(value, decimals: int | None):
    """A cell as sent: numbers rounded to ``decimals`` (an int when whole; NaN and
    None → None), anything else as text."""
    if decimals is None:
        return None if value is None or value != value else str(value)
    if value is None:
        return None
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return None
    x = round(x, decimals)
    return int(x) if x.is_integer() else x


def number_text(value, lo: int, hi: int) -> str:
    """What the page shows for a number column ``n:lo:hi`` (for tests and docs): the
    value rounded to ``hi`` decimals, thousands separators, trailing zeros dropped
    down to ``lo`` decimals; missing values blank."""
    x = wire(value, hi)
    if x is None:
        return ""
    text = format(x, f",.{hi}f")
    if hi > lo:
        whole, _, frac = text.partition(".")
        frac = frac.rstrip("0").ljust(lo, "0")
        text = f"{whole}.{frac}" if frac else whole
    return text


class KeyedView(pn.custom.JSComponent):
    """Rows keyed by ``key`` columns under a fixed header; each update sends only the
    changed cells, new and dropped rows, and the order (see the module doc)."""

    columns = param.List(default=[], doc=(
        "[name, title, width, format]: width a CSS grid size ('64px', 'minmax(80px, 1fr)'); "
        "format 'text', 'rank' (medal and rank), 'move' (▲n / ▼n), or 'n:lo:hi' (a "
        "number with lo to hi decimals and thousands separators), 'n:lo:hi:s' (also "
        "green / red / grey by its sign)"))
    key = param.List(default=[], doc="the columns that identify a row")
    placeholder = param.String(default="Nothing yet", doc="shown while there are no rows")

    _esm = """
const MEDALS = %MEDALS%
export function render({ model, el }) {
  const box = document.createElement("div"), head = document.createElement("div")
  const body = document.createElement("div"), empty = document.createElement("div")
  box.className = "log"; head.className = "head"; body.className = "body"
  empty.className = "empty"
  box.append(head, body)
  el.append(box)
  const rows = new Map()  // id -> {el, cells, values}
  let order = [], shown = [], fmts = [], bases = [], texts = [], ups = []
  let sortCol = -1, sortDir = 1
  const numbers = new Map()
  const number = (lo, hi) => {
    const k = lo + ":" + hi
    if (!numbers.has(k)) numbers.set(k, new Intl.NumberFormat("en-US",
      { minimumFractionDigits: lo, maximumFractionDigits: hi }))
    return numbers.get(k)
  }
  const sign = v => v > 0 ? "u" : v < 0 ? "d" : "f"
  const formatter = f => {
    if (f === "rank") return v => [v == null ? "" : ((MEDALS[v] || "") + " " + v).trim(), ""]
    if (f === "move") return v => !v ? ["", ""] : v > 0 ? ["▲" + v, "u"] : ["▼" + (-v), "d"]
    if (f.startsWith("n:")) {
      const [, lo, hi, s] = f.split(":"), nf = number(+lo, +hi)
      return v => v == null ? ["", ""] : [nf.format(v), s ? sign(v) : ""]
    }
    return v => [v == null ? "" : String(v), ""]
  }
  const paint = (row, i, v) => {
    row.values[i] = v
    const [text, cls] = fmts[i](v), s = row.cells[i]
    const c = cls ? bases[i] + " " + cls : bases[i]
    if (s.textContent !== text) { s.textContent = text; if (texts[i]) s.title = text }
    if (s.className !== c) s.className = c
  }
  const make = (id, values) => {
    const row = { el: document.createElement("div"), cells: [], values: [] }
    row.el.className = "row"
    for (let i = 0; i < fmts.length; i++) row.cells.push(document.createElement("span"))
    row.el.append(...row.cells)
    values.forEach((v, i) => { if (i < fmts.length) paint(row, i, v) })
    rows.set(id, row)
  }
  const compare = (a, b) => a == null ? (b == null ? 0 : 1) : b == null ? -1
    : typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))
  const arrange = () => {
    let ids = order.filter(id => rows.has(id))
    if (sortCol >= 0) {
      const k = sortCol
      ids = ids.slice().sort((a, b) => {
        const x = rows.get(a).values[k], y = rows.get(b).values[k]
        return x == null || y == null ? compare(x, y) : sortDir * compare(x, y)
      })
    }
    if (ids.length === shown.length && ids.every((id, i) => id === shown[i])) return
    shown = ids
    if (ids.length) body.replaceChildren(...ids.map(id => rows.get(id).el))
    else { empty.textContent = model.placeholder; body.replaceChildren(empty) }
  }
  const setColumns = () => {
    const cols = model.columns || []
    box.style.setProperty("--cols", cols.map(c => c[2] || "1fr").join(" "))
    const min = cols.reduce((a, c) => a + 8 + +((/(\\d+)px/.exec(c[2] || "") || [0, 60])[1]), 8)  // + gaps, padding
    box.style.setProperty("--minw", min + "px")
    const kinds = cols.map(c => c[3] || "text")
    fmts = kinds.map(formatter)
    texts = kinds.map(f => f === "text")
    ups = kinds.map(f => f === "text" || f === "rank")  // sorted A→Z / 1st first
    bases = kinds.map(f => f.startsWith("n:") ? "r" : f === "text" ? "" : "c")
    head.replaceChildren(...cols.map((c, i) => {
      const s = document.createElement("span")
      s.textContent = c[1]; s.title = c[1]; s.dataset.col = i
      s.className = bases[i]
      return s
    }))
    sortCol = -1
  }
  head.addEventListener("click", e => {
    const s = e.target.closest("span")
    if (!s) return
    const i = +s.dataset.col, first = ups[i] ? 1 : -1  // numbers high first
    if (sortCol !== i) { sortCol = i; sortDir = first }
    else if (sortDir === first) sortDir = -first
    else sortCol = -1
    for (const h of head.children) {
      h.classList.toggle("asc", +h.dataset.col === sortCol && sortDir > 0)
      h.classList.toggle("desc", +h.dataset.col === sortCol && sortDir < 0)
    }
    shown = []
    arrange()
  })
  model.on("msg:custom", msg => {
    if (msg.reset) { rows.clear(); order = []; shown = [] }
    for (const [id, ...values] of msg.add || []) make(id, values)
    for (const [id, ...pairs] of msg.set || []) {
      const row = rows.get(id)
      if (row) for (let k = 0; k + 1 < pairs.length; k += 2) paint(row, pairs[k], pairs[k + 1])
    }
    for (const id of msg.drop || []) rows.delete(id)
    if (msg.order) order = msg.order
    if (msg.reset) shown = [null]  // redraw even when empty
    arrange()
  })
  model.on("columns", () => { setColumns(); model.send_msg("sync") })
  setColumns()
  shown = [null]
  arrange()
  model.send_msg("sync")  // the whole table (a late tab, a reload, a cell shown again)
}
""".replace("%MEDALS%", "{" + ", ".join(f'{r}: "{m}"' for r, m in MEDALS.items()) + "}")

    def __init__(self, **params):
        super().__init__(**params)
        self._stylesheets = [*self._stylesheets, _css()]
        self._ids: dict[tuple, int] = {}  # key -> row id
        self._sent: dict[int, tuple] = {}  # row id -> the cells the page has
        self._order: list[int] = []
        self._next_id = 0
        self._shown: dict[str, list] = {}  # column -> values, top to bottom

    def _empty(self) -> pd.DataFrame:
        return pd.DataFrame(columns=self.names)

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.columns]

    @property
    def titles(self) -> dict[str, str]:
        return {c[0]: c[1] for c in self.columns}

    @property
    def frame(self) -> pd.DataFrame:
        """The table shown, top to bottom, at full precision (what the page shows
        rounded)."""
        return pd.DataFrame(self._shown) if self._shown else self._empty()

    @property
    def rows(self) -> list[list]:
        """The rows as the page has them, top to bottom: the cells as sent."""
        return [list(self._sent[i]) for i in self._order]

    def update(self, table: pd.DataFrame | Mapping[str, Sequence],
               order: Sequence[int] | None = None) -> dict | None:
        """Show ``table`` (a frame, or columns as sequences; every column named in
        ``columns``), its rows top to bottom or in ``order`` (row positions); sends
        the differences from what the page has. Returns that message (None: nothing
        changed)."""
        missing = [c for c in self.names if c not in table]
        if missing:
            raise ValueError(f"{self.name}: the table has no column {missing}")
        cols = {c: table[c].tolist() if hasattr(table[c], "tolist") else list(table[c])
                for c in self.names}
        if order is not None:
            cols = {c: [v[i] for i in order] for c, v in cols.items()}
        keys = list(zip(*(cols[k] for k in self.key), strict=True))
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.name}: two rows have the same key {self.key}")
        self._shown = cols
        decimals = [_decimals(c[3]) for c in self.columns]
        wired = [[wire(v, d) for v in cols[c]] for c, d in zip(self.names, decimals, strict=True)]
        add, set_, new_order, sent = [], [], [], {}
        for key, cells in zip(keys, zip(*wired, strict=True), strict=True):
            rid = self._ids.get(key)
            if rid is None:
                rid = self._ids[key] = self._next_id
                self._next_id += 1
                add.append([rid, *cells])
            else:
                diff = [x for i, (a, b) in enumerate(zip(self._sent[rid], cells, strict=True))
                        if a != b for x in (i, b)]
                if diff:
                    set_.append([rid, *diff])
            sent[rid] = cells
            new_order.append(rid)
        drop = [rid for rid in self._sent if rid not in sent]
        if drop:
            gone = set(drop)
            self._ids = {k: i for k, i in self._ids.items() if i not in gone}
        self._sent = sent
        msg = {k: v for k, v in (("add", add), ("set", set_), ("drop", drop)) if v}
        if new_order != self._order:
            msg["order"] = new_order
        self._order = new_order
        if not msg:
            return None
        self._send_msg(msg)
        return msg

    def clear(self) -> None:
        """Drop every row (a new run or a reset); the next rows get new ids."""
        had = bool(self._ids)
        self._ids, self._sent, self._order, self._next_id = {}, {}, [], 0
        self._shown = {}
        if had:
            self._send_msg({"reset": True})

    def snapshot(self) -> dict:
        """The whole table as one message (what a page that renders is sent)."""
        return {"reset": True, "add": [[i, *self._sent[i]] for i in self._order],
                "order": list(self._order)}

    def _handle_msg(self, msg) -> None:
        if msg == "sync":
            self._send_msg(self.snapshot())

