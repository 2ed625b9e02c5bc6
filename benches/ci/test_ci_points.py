"""CI subset: point → cell and point counts (1M events, res 9) against polars-h3 and h3ronpy."""

from __future__ import annotations

import hyperlocal as hl
import numpy as np
import polars_h3 as plh3
import pytest
from conftest import ROUNDS
from h3ronpy.vector import coordinates_to_cells
from test_bench_points import polars_h3_count  # the full benchmark's peer pipeline (res 9)

RES = 9


@pytest.mark.benchmark(group="ci: latlng_to_cell 1M res9")
def test_hyperlocal_latlng_to_cell(benchmark, points) -> None:
    lat, lng = points
    out = benchmark.pedantic(hl.latlng_to_cell, args=(lat, lng, RES), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert len(out) == len(lat)


@pytest.mark.benchmark(group="ci: latlng_to_cell 1M res9")
def test_polars_h3_latlng_to_cell(benchmark, events, points) -> None:
    df = events.select("lat", "lng")
    out = benchmark.pedantic(
        lambda: df.select(plh3.latlng_to_cell("lat", "lng", RES)), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    ours = hl.latlng_to_cell(*points, RES)
    assert np.array_equal(out.to_series().to_numpy(), np.asarray(ours, dtype=np.uint64))


@pytest.mark.benchmark(group="ci: latlng_to_cell 1M res9")
def test_h3ronpy_latlng_to_cell(benchmark, points) -> None:
    lat, lng = points
    out = benchmark.pedantic(coordinates_to_cells, args=(lat, lng, RES), rounds=ROUNDS, iterations=1,
                             warmup_rounds=1)  # fmt: skip
    assert len(out) == len(lat)


@pytest.mark.parametrize("frame", ["one chunk", "40 chunks"])
def test_hyperlocal_count_points(benchmark, events, chunked_events, frame) -> None:
    benchmark.group = f"ci: count_points 1M res9 by service, {frame}"
    df = events if frame == "one chunk" else chunked_events
    out = benchmark.pedantic(
        hl.count_points, args=(df,), kwargs={"resolution": RES, "by": "service", "nested": False},
        rounds=ROUNDS, iterations=1, warmup_rounds=1,
    )  # fmt: skip
    assert out["count"].sum() == df.height


@pytest.mark.parametrize("frame", ["one chunk", "40 chunks"])
def test_polars_h3_count(benchmark, events, chunked_events, frame) -> None:
    benchmark.group = f"ci: count_points 1M res9 by service, {frame}"
    df = events if frame == "one chunk" else chunked_events
    out = benchmark.pedantic(polars_h3_count, args=(df,), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    ours = hl.count_points(df, resolution=RES, by="service", nested=False)
    assert out.height == ours.height and out["count"].sum() == df.height
