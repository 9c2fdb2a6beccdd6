"""Arrays in shared memory, which the recording's writer process reads in place.

Recording a run hands its prices and equity to a writer process (see
:mod:`arena.recorder`). Through a pipe that costs the engine a copy of every
value; arrays made here live in a memory file (Linux ``memfd``) whose
descriptor the writer maps, so the engine hands over only where a block of
bars lies. :class:`arena.data.MarketData` keeps its arrays here and so does a
recorded competition's equity, cash and drawdown; views and slices of them are
found too (:func:`locate`).

Where memory files do not exist (not Linux), or one cannot be made (too many
open files, a file size limit), :func:`empty` returns ordinary arrays and
:func:`locate` finds nothing: the recorder sends those values through its pipe,
as it does for any other array. Each region holds one descriptor open for as
long as an array uses it. The mapping is shared, not copy-on-write: a process
forked from this one sees (and would change) the same memory; market data is
read-only, and a competition's histories are written by its engine thread only.
"""

from __future__ import annotations

import mmap
import os
import weakref
from collections.abc import Sequence

import numpy as np

ALIGN = 64  # bytes: each array starts on a cache line


class Region(mmap.mmap):
    """A mapped memory file; ``fd`` (open as long as the mapping lives) is what a
    child process is given to map the same memory."""

    fd: int
    size: int
    address: int


def available() -> bool:
    """Whether arrays can be shared (the platform has memory files)."""
    return hasattr(os, "memfd_create")


def empty(specs: Sequence[tuple[tuple[int, ...], np.dtype | str]]) -> list[np.ndarray]:
    """Arrays of the given ``(shape, dtype)``, zero-filled, in one shared region
    (ordinary arrays where sharing is not available, or the memory file cannot be
    made: too many open files, a file size limit)."""
    dtypes = [np.dtype(d) for _, d in specs]
    sizes = [int(np.prod(shape, dtype=np.int64)) * dt.itemsize
             for (shape, _), dt in zip(specs, dtypes, strict=True)]
    offsets, at = [], 0
    for size in sizes:
        offsets.append(at)
        at += -(-size // ALIGN) * ALIGN
    try:
        region = _region(max(at, 1)) if available() else None
    except OSError:
        region = None
    if region is None:
        return zeros(specs)
    return [np.ndarray(shape, dtype=dt, buffer=region, offset=off)
            for (shape, _), dt, off in zip(specs, dtypes, offsets, strict=True)]


def zeros(specs: Sequence[tuple[tuple[int, ...], np.dtype | str]]) -> list[np.ndarray]:
    """Ordinary zero-filled arrays of the given ``(shape, dtype)`` (what :func:`empty`
    falls back to)."""
    return [np.zeros(shape, dtype=dtype) for shape, dtype in specs]


def copy(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """C-contiguous copies of ``arrays`` in one shared region."""
    arrays = [np.asarray(a) for a in arrays]
    out = empty([(a.shape, a.dtype) for a in arrays])
    for dst, src in zip(out, arrays, strict=True):
        dst[...] = src
    return out


def region_of(a: np.ndarray) -> Region | None:
    """The shared region holding ``a``'s memory (a view's too), or None."""
    base = a
    while base is not None and not isinstance(base, Region):
        base = getattr(base, "base", None)
    return base


def locate(a: np.ndarray) -> tuple[Region, int] | None:
    """``(region, byte offset of a's first element)`` if all of ``a`` (a view with any
    strides too) lies in shared memory, else None."""
    region = region_of(a)
    if region is None:
        return None
    start = low = high = a.__array_interface__["data"][0]
    for n, step in zip(a.shape, a.strides, strict=True):  # the extent of a's bytes
        if step < 0:
            low += step * (n - 1)
        else:
            high += step * (n - 1)
    if low < region.address or high + a.itemsize > region.address + region.size:
        return None
    return region, start - region.address


def _region(size: int) -> Region:
    fd = os.memfd_create("trading-arena", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        region = Region(fd, size)
    except BaseException:
        os.close(fd)
        raise
    region.fd, region.size = fd, size
    region.address = np.frombuffer(region, dtype=np.uint8, count=1).__array_interface__["data"][0]
    weakref.finalize(region, os.close, fd)
    return region
