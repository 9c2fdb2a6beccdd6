"""Rolling windows over the data's bars: ``--window 2y --step 6m``.

A length is a number of bars (``500``) or a duration: ``Nmin``, ``Nh``, ``Nd``,
``Nw``, ``Nm`` (months) or ``Ny`` (years). Windows start at the first bar and
then every ``step`` (default: the window's length, so they do not overlap); a
window holds the bars with ``start <= time < start + window``. Only whole windows
are kept: the last one ends no later than the data (in bars: has all its bars;
in time: ``start + window`` is not after the last bar's time), and each needs at
least 2 bars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Window", "WindowError", "parse_length", "rolling_windows"]

_LENGTH = re.compile(r"^\s*(\d+)\s*(min|h|d|w|m|y)?\s*$", re.IGNORECASE)
_OFFSETS = {"min": "minutes", "h": "hours", "d": "days", "w": "weeks", "m": "months",
            "y": "years"}


class WindowError(ValueError):
    """A window or step that cannot be used; the message names it."""


@dataclass(frozen=True)
class Window:
    """Bars ``lo:hi`` (positions) of the data, first and last bar time (UTC)."""

    lo: int
    hi: int
    start: pd.Timestamp
    end: pd.Timestamp


def parse_length(text, what: str = "--window") -> int | pd.DateOffset:
    """A number of bars (int) or a calendar duration (DateOffset)."""
    m = _LENGTH.match(str(text))
    if m is None or int(m.group(1)) < 1:
        raise WindowError(f"bad {what} {text!r}: give a number of bars (e.g. 500) or a "
                          "duration like 90d, 6m (months), 2y, 12h, 30min")
    n, unit = int(m.group(1)), (m.group(2) or "").lower()
    return n if not unit else pd.DateOffset(**{_OFFSETS[unit]: n})


def rolling_windows(times: np.ndarray, window=None, step=None) -> list[Window]:
    """The windows over ``times`` (datetime64[ns], UTC, sorted); the whole data when
    ``window`` is None."""
    times = np.asarray(times, dtype="datetime64[ns]")
    idx = pd.DatetimeIndex(times).tz_localize("UTC")
    if window is None:
        if step is not None:
            raise WindowError("--step needs --window")
        return [Window(0, len(times), idx[0], idx[-1])]
    size = parse_length(window)
    stride = parse_length(step, "--step") if step is not None else size
    if isinstance(size, int) != isinstance(stride, int):
        raise WindowError(f"--window {window} and --step {step} must both be bars or both "
                          "durations")
    if isinstance(size, int):
        bounds = [(lo, lo + size) for lo in range(0, len(times) - size + 1, stride)]
    else:
        bounds, first, last, k = [], idx[0], idx[-1], 0
        while (start := first + stride * k) + size <= last:  # no drift: Jan 31 + 1m * k
            lo = int(idx.searchsorted(start, "left"))
            hi = int(idx.searchsorted(start + size, "left"))
            bounds.append((lo, hi))
            k += 1
    out = [Window(lo, hi, idx[lo], idx[hi - 1]) for lo, hi in bounds if hi - lo >= 2]
    if not out:
        raise WindowError(f"no whole --window {window} fits in the data "
                          f"({len(times)} bars, {idx[0]:%Y-%m-%d} to {idx[-1]:%Y-%m-%d})")
    return _unique(out)


def _unique(windows: list[Window]) -> list[Window]:
    """Windows with distinct bars (a step shorter than the bar spacing repeats some)."""
    seen, out = set(), []
    for w in windows:
        if (w.lo, w.hi) not in seen:
            seen.add((w.lo, w.hi))
            out.append(w)
    return out
