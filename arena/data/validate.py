"""Validation of raw bars: one clear :class:`DataError` for the first bad row.

Every loader (bundled, files, DataFrames) funnels its rows through
:func:`check_bars`, so all inputs obey the same rules. The checks run in this
fixed order and the error names the lowest offending row of the first check that
fails:

1. no data rows
2. missing symbol (long format with a symbol column)
3. missing or unparsable time
4. times out of order, per symbol
5. duplicate times, per symbol
6. missing (NaN/empty), non-numeric or infinite open/high/low/close/volume
7. non-positive open/high/low/close
8. negative volume
9. high below low
10. high below max(open, close)
11. low above min(open, close)

Missing columns and empty files are reported by the loaders before these checks
(see :mod:`arena.data.files`).

Row numbers (``DataError.row``) are what a user sees: in a CSV file the line
number counting the header as line 1 (so the first data row is line 2, or line 3/4
under a two-line wide header); in a Parquet file the 1-based data row; in a
DataFrame the index label.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from arena.data.market import FIELDS, MarketData

PRICE_FIELDS = FIELDS[:4]

#: ``{symbol: (times, values)}``: times ``datetime64[ns]`` (UTC, naive), strictly
#: increasing; values ``float64`` of shape ``(n, 5)`` in :data:`FIELDS` order.
Series = dict[str, tuple[np.ndarray, np.ndarray]]


class DataError(ValueError):
    """Bad market data, naming the input, the row, the field and what was wrong.

    ``source`` is the file path as given (or ``"DataFrame"``); ``row`` is the row
    as the user sees it (see the module docs) or ``None`` when the whole input is
    at fault; ``row_kind`` is the word printed before it (``"line"`` for CSV,
    ``"row"`` otherwise); ``field`` is the column as named in the input, or ``None``.

    ``str(err)`` is one line, e.g.
    ``prices.csv, line 7, field 'high': high 9.5 is below max(open, close) 10.2``.
    """

    def __init__(self, source: str, reason: str, *, row=None, field: str | None = None,
                 row_kind: str = "line") -> None:
        self.source = str(source)
        self.reason = reason
        self.row = row
        self.field = field
        self.row_kind = row_kind
        super().__init__(self._message())

    def _message(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"{self.row_kind} {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.reason}"

    def __reduce__(self):
        kwargs = {"row": self.row, "field": self.field, "row_kind": self.row_kind}
        return (_rebuild, (self.source, self.reason, kwargs))


def _rebuild(source, reason, kwargs) -> DataError:
    return DataError(source, reason, **kwargs)


def check_bars(
    raw: pd.DataFrame,
    *,
    source: str,
    rows: Sequence | np.ndarray,
    row_kind: str = "line",
    column: Callable[[str, str], str] | None = None,
) -> Series:
    """Validate a long table of raw bars and return it parsed, per symbol.

    ``raw`` has the columns ``time, symbol, open, high, low, close, volume`` holding
    the values as read (strings, numbers or timestamps), in input order. ``rows``
    labels each row for error messages. ``column(symbol, field)`` gives the column
    name the user wrote (default: the field name). Raises :class:`DataError`.
    Times are parsed to UTC: naive times are taken as UTC, aware ones converted.
    """
    n = len(raw)
    if n == 0:
        raise DataError(source, "no data rows")
    labels = np.asarray(rows, dtype=object)
    column = column or (lambda _symbol, name: name)

    codes, uniques = pd.factorize(raw["symbol"], sort=False)  # NaN → code -1
    names = [str(u).strip() for u in uniques]
    blank = np.array([c for c, name in enumerate(names) if not name], dtype=np.intp)
    missing_sym = (codes < 0) | np.isin(codes, blank)
    if missing_sym.any():
        i = int(np.argmax(missing_sym))
        raise DataError(source, "missing symbol", row=labels[i], field="symbol", row_kind=row_kind)
    if len(set(names)) < len(names):  # e.g. "AAPL" and " AAPL"
        codes = pd.factorize(np.array(names, dtype=object)[codes], sort=False)[0]
        names = list(dict.fromkeys(names))

    def fail(i: int, reason: str, name: str | None = None) -> DataError:
        field = None if name is None else column(names[codes[i]], name)
        return DataError(source, reason, row=labels[i], field=field, row_kind=row_kind)

    times = _check_times(raw["time"], fail)
    _check_order(times, codes, names, labels, row_kind, fail)
    values = _check_numbers(raw, fail)
    _check_prices(values, fail)

    series: Series = {}
    for c, sym in enumerate(names):
        idx = np.flatnonzero(codes == c)
        series[sym] = (times[idx], values[idx])
    return series


def validate_market(data: MarketData) -> None:
    """Run the same checks on a :class:`MarketData` (rows are 1-based bar numbers)."""
    k = data.n_symbols
    raw = pd.DataFrame({
        "time": np.repeat(data.times, k),
        "symbol": np.tile(np.array(data.symbols, dtype=object), len(data)),
        **{name: getattr(data, name).reshape(-1) for name in FIELDS},
    })
    check_bars(raw, source=data.source, rows=np.repeat(np.arange(1, len(data) + 1), k),
               row_kind="bar")


# --- the checks ---------------------------------------------------------------


def _check_times(col: pd.Series, fail) -> np.ndarray:
    """Parse times to UTC-naive datetime64[ns]; fail on the first missing/unparsable one."""
    missing = col.isna().to_numpy()
    if missing.any():
        raise fail(int(np.argmax(missing)), "missing time", "time")
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = col.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = col.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise fail(0, f"cannot parse time {col.iat[0]!r}: expected a date or timestamp "
                      "(ISO 8601), not a number", "time")
    else:
        parsed = _parse_time_values(col)
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(i, f"cannot parse time {col.iat[i]!r}", "time")
    naive = parsed.dt.tz_localize(None)
    return naive.to_numpy(dtype="datetime64[ns]")


def _parse_time_values(col: pd.Series) -> pd.Series:
    """ISO 8601 first; if that leaves gaps, pandas' inferred format, whichever parses more."""
    iso = pd.to_datetime(col, utc=True, errors="coerce", format="ISO8601")
    if not iso.isna().any():
        return iso
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            inferred = pd.to_datetime(col, utc=True, errors="coerce")
        except (ValueError, TypeError):
            return iso
    return inferred if inferred.isna().sum() < iso.isna().sum() else iso


def _check_order(times, codes, names, labels, row_kind, fail) -> None:
    """Per symbol, times must strictly increase in input order."""
    if len(times) < 2:
        return
    order = np.lexsort((np.arange(len(times)), codes))  # by symbol, then input order
    t = times[order].astype(np.int64)
    same = codes[order][1:] == codes[order][:-1]
    step = np.diff(t)
    for bad_mask, kind in ((same & (step < 0), "unsorted"), (same & (step == 0), "duplicate")):
        if bad_mask.any():
            cand = np.flatnonzero(bad_mask)
            k = cand[np.argmin(order[cand + 1])]  # lowest input row among offenders
            i, prev = int(order[k + 1]), int(order[k])
            sym = names[codes[i]]
            if kind == "unsorted":
                reason = (f"time {format_time(times[i])} is earlier than {format_time(times[prev])} "
                          f"at {row_kind} {labels[prev]} ({sym}); times must increase")
            else:
                reason = (f"duplicate time {format_time(times[i])} for {sym} "
                          f"(also at {row_kind} {labels[prev]})")
            raise fail(i, reason, "time")


def _check_numbers(raw: pd.DataFrame, fail) -> np.ndarray:
    """Parse the five fields to float; fail on the first missing/non-numeric/infinite value."""
    values = np.empty((len(raw), len(FIELDS)))
    for j, name in enumerate(FIELDS):
        col = raw[name]
        if not (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)):
            col = pd.to_numeric(col, errors="coerce")
        values[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad.any(axis=1)))
        j = int(np.argmax(bad[i]))
        original = raw[FIELDS[j]].iat[i]
        if _is_blank(original):
            reason = "missing value"
        elif np.isinf(values[i, j]):
            reason = f"{original!r} is not a finite number"
        else:
            reason = f"{original!r} is not a number"
        raise fail(i, reason, FIELDS[j])
    return values


def _check_prices(v: np.ndarray, fail) -> None:
    o, h, lo, c, vol = (v[:, j] for j in range(5))
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    nonpos = v[:, :4] <= 0
    if nonpos.any():
        i = int(np.argmax(nonpos.any(axis=1)))
        j = int(np.argmax(nonpos[i]))
        raise fail(i, f"{PRICE_FIELDS[j]} {_fmt(v[i, j])} is not positive", PRICE_FIELDS[j])
    checks = (
        (vol < 0, "volume", lambda i: f"volume {_fmt(vol[i])} is negative"),
        (h < lo, "high", lambda i: f"high {_fmt(h[i])} is below low {_fmt(lo[i])}"),
        (h < top, "high", lambda i: f"high {_fmt(h[i])} is below max(open, close) {_fmt(top[i])}"),
        (lo > bottom, "low", lambda i: f"low {_fmt(lo[i])} is above min(open, close) {_fmt(bottom[i])}"),
    )
    for mask, name, reason in checks:
        if mask.any():
            i = int(np.argmax(mask))
            raise fail(i, reason(i), name)


# --- formatting ---------------------------------------------------------------


def _is_blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt(x: float) -> str:
    return repr(float(x))


def format_time(t: np.datetime64) -> str:
    ts = pd.Timestamp(t)
    return str(ts.date()) if ts == ts.normalize() else ts.isoformat(sep=" ")
