"""CSV that is safe to open in a spreadsheet.

A text cell starting with ``= + - @`` (or a tab / carriage return) is a formula
to Excel, LibreOffice and Google Sheets; agent names, symbols and reasoning come
from users and models, so such cells get a leading apostrophe (OWASP's advice
for CSV injection). Numbers are left alone. Times are written as UTC ISO 8601.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_STARTS", "neutralise_formulas", "to_csv"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where every TEXT cell starting with = + - @ (or tab / CR) gets a leading
    apostrophe, so a spreadsheet shows it instead of running it; numbers are kept."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s) \
                or pd.api.types.is_timedelta64_dtype(s):
            continue
        out[col] = s.map(lambda v: "'" + v if isinstance(v, str) and v.startswith(
            FORMULA_STARTS) else v)
    return out


def _iso(times: pd.Series) -> pd.Series:
    """Datetimes as ISO 8601 UTC text ('2024-01-02T15:30:00Z'; fractions only when present)."""
    t = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    fractional = bool((t.dropna().dt.microsecond != 0).any())
    text = t.dt.strftime("%Y-%m-%dT%H:%M:%S.%f" if fractional else "%Y-%m-%dT%H:%M:%S") + "Z"
    return text.where(t.notna(), "")


def to_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index): UTC ISO 8601 times, formula-like text neutralised."""
    df = neutralise_formulas(frame)
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = _iso(df[col])
    return df.to_csv(index=False)
