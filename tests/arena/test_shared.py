"""Arrays in shared memory (arena.shared): found in place, views included, and an
ordinary array wherever a memory file cannot be made."""

from __future__ import annotations

import gc
import mmap
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from arena import shared
from arena.data import load_bundled

pytestmark = pytest.mark.skipif(not shared.available(), reason="no memory files (not Linux)")


def test_arrays_share_one_region_and_are_found_with_their_offsets():
    # Arrange / Act
    equity, invested = shared.empty([((3, 5), np.float64), ((3, 5), np.bool_)])
    # Assert: zero-filled, one region, each on a cache line, views found where they lie
    assert equity.tolist() == [[0.0] * 5] * 3 and not invested.any()
    region, at = shared.locate(equity)
    assert shared.locate(invested) == (region, 128)  # 120 bytes rounded up to 64s
    assert at == 0 and region.size == 128 + 64
    assert shared.locate(equity[1, 2:4]) == (region, 8 * (5 + 2))
    assert shared.locate(equity.view(np.int64)[2]) == (region, 80)
    assert shared.locate(equity[:, 1:3]) == (region, 8)  # strided: its first element
    assert [shared.locate(r)[1] for r in equity[:, 1:3]] == [8, 48, 88]
    assert shared.locate(equity[::-1, ::-1]) == (region, 112)  # reversed: still inside
    beyond = np.lib.stride_tricks.as_strided(equity, shape=(10, 5))  # past the region's end
    assert shared.region_of(beyond) is region and shared.locate(beyond) is None
    assert shared.locate(np.zeros(3)) is None and shared.locate(equity.copy()) is None


def test_another_process_reads_the_values_through_the_descriptor():
    # Arrange: what the recorder does: pass the region's descriptor to a child
    (prices,) = shared.copy([np.arange(6.0).reshape(3, 2) * 1.5])
    region, at = shared.locate(prices[1:])
    child = ("import mmap, struct, sys\n"
             "fd, size, at, n = map(int, sys.argv[1:])\n"
             "m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)\n"
             "print(struct.unpack(f'<{n}d', m[at:at + 8 * n]))\n")
    # Act
    out = subprocess.run([sys.executable, "-c", child, str(region.fd), str(region.size),
                          str(at), "4"], pass_fds=[region.fd], capture_output=True, text=True,
                         check=True).stdout
    # Assert
    assert out.strip() == "(3.0, 4.5, 6.0, 7.5)"


def test_the_descriptor_closes_with_the_last_array():
    # Arrange
    (a,) = shared.empty([((4,), np.float64)])
    fd = shared.region_of(a).fd
    view = a[1:]
    del a
    gc.collect()
    os.fstat(fd)  # the view keeps the region, and its descriptor, open
    # Act
    del view
    gc.collect()
    # Assert
    with pytest.raises(OSError):
        os.fstat(fd)


def test_market_data_lives_in_shared_memory_and_its_slices_stay_there():
    # Arrange / Act
    data = load_bundled(["AAPL", "MSFT"])
    part = data.slice(100, 200)
    # Assert: one region for times and prices; a slice is a view of it, read-only
    regions = {id(shared.region_of(getattr(data, f)))
               for f in ("times", "open", "high", "low", "close", "volume")}
    assert len(regions) == 1 and None not in regions
    assert shared.region_of(part.close) is shared.region_of(data.close)
    assert not part.close.flags.writeable and not data.times.flags.writeable
    np.testing.assert_array_equal(part.close, data.close[100:200])


def test_ordinary_arrays_when_a_memory_file_cannot_be_made():
    # Arrange: a file size limit (RLIMIT_FSIZE) smaller than the arrays, in a child
    # process so that the limit does not outlive the test
    child = ("import resource, numpy as np\n"
             "from arena import shared\n"
             "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
             "a, b = shared.empty([((100, 100), np.float64), ((3,), np.bool_)])\n"
             "print(shared.region_of(a), a.shape, a.sum(), b.dtype)\n"
             "c, = shared.empty([((10,), np.float64)])\n"
             "print(shared.region_of(c) is not None)\n")
    # Act
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    # Assert: the large request fell back to ordinary memory; a small one still shares
    assert out == ["None (100, 100) 0.0 bool", "True"]
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] != 4096


def test_regions_are_memory_maps_of_the_requested_size():
    (a,) = shared.empty([((1000,), np.int8)])
    region = shared.region_of(a)
    assert isinstance(region, mmap.mmap) and len(region) == region.size == 1024
    assert os.fstat(region.fd).st_size == 1024
