"""latlng_to_cell and count_points on 10M points in England, against polars-h3, h3ronpy and h3-py."""

from __future__ import annotations

import h3
import hyperlocal as hl
import numpy as np
import polars as pl
import polars_h3 as plh3
import pytest
from h3ronpy.vector import coordinates_to_cells

RES = 9


@pytest.mark.benchmark(group="latlng_to_cell 10M res9")
def test_hyperlocal_latlng_to_cell(benchmark, points) -> None:
    lat, lng = points
    out = benchmark.pedantic(hl.latlng_to_cell, args=(lat, lng, RES), rounds=5, iterations=1, warmup_rounds=1)
    assert len(out) == len(lat)


@pytest.mark.benchmark(group="latlng_to_cell 10M res9")
def test_polars_h3_latlng_to_cell(benchmark, events) -> None:
    df = events.select("lat", "lng")
    out = benchmark.pedantic(
        lambda: df.select(plh3.latlng_to_cell("lat", "lng", RES)), rounds=5, iterations=1, warmup_rounds=1
    )
    assert (out.to_series().to_numpy() == hl.latlng_to_cell(df["lat"], df["lng"], RES).to_numpy()).all()


@pytest.mark.benchmark(group="latlng_to_cell 10M res9")
def test_h3ronpy_latlng_to_cell(benchmark, points) -> None:
    lat, lng = points
    out = benchmark.pedantic(coordinates_to_cells, args=(lat, lng, RES), rounds=3, iterations=1)
    assert len(out) == len(lat)


@pytest.mark.benchmark(group="latlng_to_cell 10M res9")
def test_h3py_loop_1m_scaled(benchmark, points) -> None:
    """h3-py per point, run on 1M points; the report scales it by 10."""
    lat, lng = points[0][:1_000_000], points[1][:1_000_000]
    benchmark.extra_info["scale"] = 10
    out = benchmark.pedantic(
        lambda: [h3.latlng_to_cell(a, b, RES) for a, b in zip(lat.tolist(), lng.tolist())],
        rounds=1,
        iterations=1,
    )
    assert len(out) == 1_000_000


@pytest.mark.benchmark(group="count_points 10M res9 by service")
def test_hyperlocal_count_points(benchmark, events) -> None:
    """Geometric containment (``nested=False``): the same cells as the peer, so the same work."""
    out = benchmark.pedantic(
        hl.count_points,
        args=(events,),
        kwargs={"resolution": RES, "by": "service", "nested": False},
        rounds=5,
        iterations=1,
        warmup_rounds=1,
    )
    assert out["count"].sum() == events.height


@pytest.mark.benchmark(group="count_points 10M res9 by service")
def test_hyperlocal_count_points_nested(benchmark, events) -> None:
    """The default nested convention (res-15 cell, then its ancestor): more H3 digits per point."""
    out = benchmark.pedantic(
        hl.count_points,
        args=(events,),
        kwargs={"resolution": RES, "by": "service"},
        rounds=5,
        iterations=1,
        warmup_rounds=1,
    )
    assert out["count"].sum() == events.height


def polars_h3_count(events: pl.DataFrame) -> pl.DataFrame:
    return (
        events.lazy()
        .with_columns(cell=plh3.latlng_to_cell("lat", "lng", RES))
        .group_by("cell", "service")
        .agg(count=pl.len())
        .collect()
    )


@pytest.mark.benchmark(group="count_points 10M res9 by service")
def test_polars_h3_count(benchmark, events) -> None:
    out = benchmark.pedantic(polars_h3_count, args=(events,), rounds=5, iterations=1, warmup_rounds=1)
    ours = hl.count_points(events, resolution=RES, by="service", nested=False)
    assert out.height == ours.height and out["count"].sum() == events.height
    assert np.array_equal(np.sort(out["cell"].to_numpy()), np.sort(ours["cell"].to_numpy()))
