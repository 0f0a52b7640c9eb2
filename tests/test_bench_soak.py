"""Row 11's arithmetic (bench/rows_soak.py): the growth per visitor is a least-squares slope, and the server's
memory is read from /proc. The row itself runs in the bench smoke test; no figure is asserted."""
from __future__ import annotations

import os
import sys

import pytest

from bench.rows_soak import rss_mb, slope


def test_slope_is_the_least_squares_fit_per_visitor():
    assert slope([5.0, 5.0, 5.0]) == 0.0
    assert slope([1.0, 2.0, 3.0, 4.0]) == pytest.approx(1.0)
    # ys = 0, 0.5, 1.5: x̄ = 1, ȳ = 2/3; Σ(x−x̄)(y−ȳ) = (−1)(−2/3) + 0 + (1)(5/6) = 1.5; Σ(x−x̄)² = 2 → 0.75
    assert slope([0.0, 0.5, 1.5]) == pytest.approx(0.75)
    assert slope([3.0]) == 0.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_rss_is_this_process_resident_memory_in_mib():
    kib = next(int(line.split()[1]) for line in open(f"/proc/{os.getpid()}/status") if line.startswith("VmRSS:"))
    # read twice around the same quantity: the test process' RSS moves a little between the two reads
    assert rss_mb(os.getpid()) == pytest.approx(kib / 1024, rel=0.05)
