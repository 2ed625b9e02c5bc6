"""Point → cell agrees with the reference H3 library (h3-py 4.5) and BNG → WGS84 with pyproj."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import h3
import hyperlocal as hl
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hyperlocal._convert import as_f64
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import h3corpus  # noqa: E402

_h3py = h3corpus.h3py
_globe = h3corpus.globe


@pytest.mark.slow
def test_latlng_to_cell_equals_h3py_on_1m_global_points_every_resolution() -> None:
    lat, lng = _globe(1_000_000, seed=1)
    assert len(lat) > 1_000_000
    for res in range(16):
        ours = hl.latlng_to_cell(lat, lng, res).to_numpy()
        ref = _h3py(lat, lng, res)
        mismatch = np.flatnonzero(ours != ref)
        assert mismatch.size == 0, f"res {res}: {mismatch.size} mismatches, first {mismatch[:5]}"


@pytest.mark.slow
def test_latlng_to_cell_equals_h3py_on_10m_points_and_near_edge_corpora() -> None:
    """10⁷ points, each at a random resolution: uniform on the sphere, poles, ±180°, pentagon neighbourhoods,
    and points 1 mm .. 100 m from the edges and vertices of face-spanning, pentagon-adjacent and random cells at
    every resolution (that corpus also at every resolution). `make bench` runs 10⁸ (benches/differential.py)."""
    lat, lng, res = h3corpus.corpus(4_300_000, seed=11)
    assert len(lat) >= 10_000_000
    ours, ref = h3corpus.ours(lat, lng, res), h3corpus.h3py(lat, lng, res)
    bad = np.flatnonzero(ours != ref)
    assert bad.size == 0, f"{bad.size} mismatches, first {[(lat[i], lng[i], res[i]) for i in bad[:3]]}"


def test_latlng_to_cell_on_cell_edges_equals_h3py() -> None:
    """Points on cell edges and vertices to the last bit (the boundary points and their next floats either way),
    where the cell depends on the rounding of every operation: identical to h3-py 4.5 at every resolution. The
    fast kernel falls back to a port of H3 C 4.5's arithmetic there (h3o, the previous fallback, rounded 4-5 % of
    these points into the neighbouring cell)."""
    for seed in (3, 4):
        lat, lng = h3corpus.on_edges(seed=seed)
        for r in range(16):
            res = np.full(len(lat), r)
            ours, ref = h3corpus.ours(lat, lng, res), h3corpus.h3py(lat, lng, res)
            bad = np.flatnonzero(ours != ref)
            assert bad.size == 0, (seed, r, bad.size, [(lat[i], lng[i]) for i in bad[:3]])


def test_latlng_to_cell_equals_h3py_on_lsoa21_centroids(lsoa_pwc: pl.DataFrame) -> None:
    assert lsoa_pwc.height == 35_672
    ll = hl.bng_to_latlng(lsoa_pwc["x"], lsoa_pwc["y"])
    lat, lng = ll["lat"].to_numpy(), ll["lng"].to_numpy()
    for res in (0, 5, 7, 8, 9, 10, 12, 15):
        assert (hl.latlng_to_cell(ll["lat"], ll["lng"], res).to_numpy() == _h3py(lat, lng, res)).all(), res
    cells = hl.bng_to_cell(lsoa_pwc["x"], lsoa_pwc["y"], 9)
    assert cells.dtype == pl.UInt64 and cells.name == "cell"
    assert (cells.to_numpy() == _h3py(lat, lng, 9)).all()


def test_bng_to_latlng_agrees_with_pyproj_within_5m(lsoa_pwc: pl.DataFrame) -> None:
    x, y = lsoa_pwc["x"].to_numpy(), lsoa_pwc["y"].to_numpy()
    ours = hl.bng_to_latlng(x, y)
    lng_ref, lat_ref = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(x, y)
    dlat_m = (ours["lat"].to_numpy() - lat_ref) * 111_320.0
    dlng_m = (ours["lng"].to_numpy() - lng_ref) * 111_320.0 * np.cos(np.radians(lat_ref))
    dist = np.hypot(dlat_m, dlng_m)
    assert dist.max() < 5.0, dist.max()
    # Same Helmert as PROJ without the OSTN15 grid: in practice millimetres.
    assert np.median(dist) < 0.05


def test_accepts_series_numpy_and_arrow() -> None:
    lat, lng = [51.5, 53.48], [-0.12, -2.24]
    a = hl.latlng_to_cell(pl.Series(lat), pl.Series(lng), 8)
    b = hl.latlng_to_cell(np.array(lat), np.array(lng), 8)
    c = hl.latlng_to_cell(pa.array(lat), pa.array(lng), 8)
    d = hl.latlng_to_cell(pa.chunked_array([lat]), pa.chunked_array([lng]), 8)
    assert a.to_list() == b.to_list() == c.to_list() == d.to_list()
    assert a.to_list() == [h3.str_to_int(h3.latlng_to_cell(y, x, 8)) for y, x in zip(lat, lng)]


def test_float64_input_is_not_copied() -> None:
    s = pl.Series("lat", np.linspace(50, 55, 1_000_000))
    view = as_f64(s, "lat")
    assert np.shares_memory(view, s.to_numpy())
    arr = np.linspace(50, 55, 1000)
    assert as_f64(arr, "lat") is arr or np.shares_memory(as_f64(arr, "lat"), arr)


def test_strings_parents_boundaries_match_h3py() -> None:
    rng = np.random.default_rng(3)
    lat, lng = rng.uniform(49.9, 55.8, 5000), rng.uniform(-6, 1.8, 5000)
    cells = hl.latlng_to_cell(lat, lng, 10)
    strings = hl.cell_to_string(cells)
    assert strings.to_list() == [h3.int_to_str(int(c)) for c in cells]
    assert hl.string_to_cell(strings).to_list() == cells.to_list()
    parents = hl.cell_to_parent(cells, 6)
    assert parents.to_list() == [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), 6)) for c in cells]
    import shapely

    polys = shapely.from_wkb(hl.cell_to_boundary(cells[:200]).to_numpy())
    for poly, c in zip(polys, cells[:200]):
        ref = np.array(h3.cell_to_boundary(h3.int_to_str(int(c))))[:, ::-1]  # (lng, lat)
        ring = np.asarray(poly.exterior.coords)
        assert np.allclose(ring[:-1], ref, atol=1e-12)
        assert poly.is_valid and poly.exterior.is_ccw


def test_gil_is_released_during_latlng_to_cell() -> None:
    rng = np.random.default_rng(0)
    n = 10_000_000
    lat, lng = rng.uniform(50, 55, n), rng.uniform(-5, 1.5, n)
    ticks = 0
    done = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.02)
    before = ticks
    start = time.perf_counter()
    hl.latlng_to_cell(lat, lng, 9)
    elapsed = time.perf_counter() - start
    during = ticks - before
    done.set()
    t.join()
    # With the GIL held the other thread could not tick at all during the call.
    assert elapsed > 0.1
    assert during >= 10, f"other thread ticked {during} times in {elapsed:.2f} s"
