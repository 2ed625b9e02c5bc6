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


def _reference(ev: pl.DataFrame, res: int, by: list[str]) -> pl.DataFrame:
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
