"""CI subset: centroid crosswalk + apportion of the 188,880 synthetic output areas (res 9) against polars-h3 +
group_by, and area crosswalk + apportion of 2,000 OA-sized polygons (res 8) against tobler."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hyperlocal as hl
import polars as pl
import polars_h3 as plh3
import pytest
from conftest import ROUNDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from polygons import as_geodataframe, voronoi_areas  # noqa: E402

HEALTH = [f"{c}_{y}" for y in (2011, 2021) for c in ("very_good", "good", "fair", "bad", "very_bad")]


@pytest.fixture(scope="module")
def oas(nation) -> pl.DataFrame:
    ll = hl.bng_to_latlng(nation.areas["easting"], nation.areas["northing"])
    return nation.areas.with_columns(lat=ll["lat"], lng=ll["lng"])


def hyperlocal_grid(oas: pl.DataFrame) -> pl.DataFrame:
    return hl.apportion(oas, hl.crosswalk(oas, resolution=9), extensive=["population_2021", *HEALTH])


def polars_h3_grid(oas: pl.DataFrame) -> pl.DataFrame:
    return (
        oas.lazy()
        .with_columns(cell=plh3.cell_to_parent(plh3.latlng_to_cell("lat", "lng", 15), 9))
        .group_by("cell")
        .agg(pl.col(["population_2021", *HEALTH]).sum())
        .collect()
    )


@pytest.mark.benchmark(group="ci: crosswalk+apportion 188,880 OAs res9")
def test_hyperlocal_crosswalk_apportion(benchmark, oas) -> None:
    grid = benchmark.pedantic(hyperlocal_grid, args=(oas,), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert grid["population_2021"].sum() == oas["population_2021"].sum()


@pytest.mark.benchmark(group="ci: crosswalk+apportion 188,880 OAs res9")
def test_polars_h3_groupby(benchmark, oas) -> None:
    grid = benchmark.pedantic(polars_h3_grid, args=(oas,), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert grid.height == hyperlocal_grid(oas).height


@pytest.fixture(scope="module")
def polys() -> pl.DataFrame:
    return voronoi_areas(2_000)


@pytest.mark.benchmark(group="ci: area crosswalk+apportion 2,000 polygons res8")
def test_hyperlocal_area_crosswalk_apportion(benchmark, polys) -> None:
    def run() -> pl.DataFrame:
        return hl.apportion(polys, hl.crosswalk(polys, resolution=8, method="area"), extensive="people")

    grid = benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert abs(grid["people"].sum() - polys["people"].sum()) < 1e-6


@pytest.mark.benchmark(group="ci: area crosswalk+apportion 2,000 polygons res8")
def test_tobler_h3fy_area_interpolate(benchmark, polys) -> None:
    from tobler.area_weighted import area_interpolate
    from tobler.util import h3fy

    gdf = as_geodataframe(polys)

    def run():  # noqa: ANN202
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return area_interpolate(gdf, h3fy(gdf, resolution=8), extensive_variables=["people"], n_jobs=-1)

    out = benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert float(out["people"].sum()) <= float(polys["people"].sum()) * (1 + 1e-9)
