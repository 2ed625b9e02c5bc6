"""count_points agrees with h3-py + a Polars group_by, for every kind of grouping."""

from __future__ import annotations

import h3
import hyperlocal as hl
import numpy as np
import polars as pl


def _events(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "lat": rng.normal(53.48, 0.05, n),
            "lng": rng.normal(-2.24, 0.08, n),
            "service": rng.choice(["gp", "ae", "111", "opd"], n),
            "year": rng.integers(2019, 2024, n),
        }
    )


def _reference(ev: pl.DataFrame, res: int, by: list[str], nested: bool = True) -> pl.DataFrame:
    """h3-py cells (the res-15 cell's ancestor when nested, else the containing cell) + a Polars group_by."""
    if nested:
        cells = [
            h3.str_to_int(h3.cell_to_parent(h3.latlng_to_cell(a, b, 15), res))
            for a, b in zip(ev["lat"], ev["lng"])
        ]
    else:
        cells = [h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in zip(ev["lat"], ev["lng"])]
    return (
        ev.with_columns(cell=pl.Series(cells, dtype=pl.UInt64))
        .group_by(["cell", *by])
        .agg(count=pl.len())
        .sort(["cell", *by])
    )


def test_counts_equal_h3py_groupby_single_string_column() -> None:
    ev = _events(50_000)
    ours = hl.count_points(ev, resolution=9, by="service")
    ref = _reference(ev, 9, ["service"])
    assert ours.columns == ["cell", "service", "count"]
    assert ours.equals(ref)
    assert ours["count"].sum() == ev.height
    geometric = hl.count_points(ev, resolution=9, by="service", nested=False)
    assert geometric.equals(_reference(ev, 9, ["service"], nested=False))
    assert not geometric.equals(ours)  # the two conventions differ near cell edges


def test_counts_with_two_columns_enum_and_no_groups() -> None:
    ev = _events(30_000, seed=1).with_columns(pl.col("service").cast(pl.Enum(["111", "ae", "gp", "opd"])))
    ours = hl.count_points(ev, resolution=8, by=["service", "year"])
    ref = _reference(ev, 8, ["service", "year"])
    assert ours.equals(ref)
    assert ours.schema["service"] == ev.schema["service"]
    plain = hl.count_points(ev, resolution=7)
    assert plain.equals(_reference(ev, 7, []))


def test_counts_from_bng() -> None:
    ev = pl.DataFrame({"e": [530_000.0, 530_010.0, 383_000.0], "n": [180_000.0, 180_010.0, 398_000.0]})
    out = hl.count_points(ev, resolution=6, easting="e", northing="n")
    assert sorted(out["count"].to_list()) == [1, 2]  # the two points 14 m apart share a res-6 cell
    assert out["count"].sum() == 3


def test_three_by_columns_whose_distinct_product_exceeds_2_64() -> None:
    """Each column has > 2.6M distinct values (product > 2⁶⁴): a mixed-radix code would overflow."""
    n = 3_000_000
    rng = np.random.default_rng(7)
    ev = pl.DataFrame(
        {
            "lat": rng.uniform(51.3, 51.7, n),
            "lng": rng.uniform(-0.5, 0.3, n),
            "a": rng.permutation(n),
            "b": rng.permutation(n).astype(np.int64) * 7 - 5,
            "c": rng.permutation(n) // 1,
        }
    ).with_columns(pl.col("c").cast(pl.String))
    distinct = [ev[c].n_unique() for c in "abc"]
    assert float(np.prod(np.array(distinct, dtype=np.float64))) > 2.0**64
    ours = hl.count_points(ev, resolution=5, by=["a", "b", "c"])
    cells = hl.cell_to_parent(hl.latlng_to_cell(ev["lat"], ev["lng"], 15), 5)
    ref = (
        ev.with_columns(cells)
        .group_by(["cell", "a", "b", "c"])
        .agg(count=pl.len().cast(pl.UInt32))
        .sort(["cell", "a", "b", "c"])
    )
    assert ours.columns == ["cell", "a", "b", "c", "count"]
    assert ours.equals(ref)


def test_events_at_lsoa_centroids_land_in_the_crosswalk_cell(lsoa_pwc: pl.DataFrame) -> None:
    """One cell convention: an event at each LSOA centroid is counted in that LSOA's crosswalk cell."""
    c = lsoa_pwc
    ll = hl.bng_to_latlng(c["x"], c["y"])
    c = c.with_columns(ll)
    for res in (7, 8, 9):
        for kind, opts, ev_opts in (
            ("BNG", {"easting": "x", "northing": "y"}, {"easting": "x", "northing": "y"}),
            ("lat/lng", {}, {}),
        ):
            xw = hl.crosswalk(c, resolution=res, code="LSOA21CD", **opts)
            counts = hl.count_points(c, resolution=res, by="LSOA21CD", **ev_opts)
            assert counts["count"].sum() == c.height
            j = xw.join(counts, on="LSOA21CD", suffix="_event")
            assert j.height == c.height, (res, kind)
            assert (j["cell"] == j["cell_event"]).all(), (res, kind)


def test_many_chunk_frames_count_like_one_chunk_and_name_global_rows() -> None:
    """A frame of many chunks (as read_parquet returns) is split into work units across chunks: the counts are
    those of the rechunked frame, and bad rows are named by their row in the whole frame."""
    import pytest

    ev = _events(200_003, seed=5).select("lat", "lng", "service")
    sizes = [1, 70_000, 3, 65_536, 0, 64_463]
    parts, start = [], 0
    for s in sizes:
        parts.append(ev.slice(start, s))
        start += s
    chunked = pl.concat(parts, rechunk=False)
    assert chunked.height == ev.height and chunked.n_chunks() >= 5
    one = hl.count_points(ev, resolution=8, by="service", nested=False)
    many = hl.count_points(chunked, resolution=8, by="service", nested=False)
    assert many.equals(one)
    assert many["count"].sum() == ev.height
    bad_rows = [70_001, 135_540, 200_002]  # in the 2nd, 4th and 6th chunks
    lat = ev["lat"].to_numpy().copy()
    lat[bad_rows] = np.nan
    broken = chunked.with_columns(lat=pl.Series(lat))
    broken = pl.concat([broken.slice(0, 70_001), broken.slice(70_001, 65_539), broken.slice(135_540)], rechunk=False)
    with pytest.raises(hl.exceptions.InvalidInputError, match="70001, 135540, 200002"):
        hl.count_points(broken, resolution=8, by="service")
