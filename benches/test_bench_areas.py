"""National crosswalk + apportion of the 188,880 synthetic output areas at res 7, 8 and 9."""

from __future__ import annotations

import hyperlocal as hl
import polars as pl
import polars_h3 as plh3
import pytest

HEALTH = [f"{c}_{y}" for y in (2011, 2021) for c in ("very_good", "good", "fair", "bad", "very_bad")]


@pytest.fixture(scope="module")
def oas(nation) -> pl.DataFrame:
    ll = hl.bng_to_latlng(nation.areas["easting"], nation.areas["northing"])
    return nation.areas.with_columns(lat=ll["lat"], lng=ll["lng"])


def hyperlocal_grid(oas: pl.DataFrame, res: int) -> pl.DataFrame:
    xw = hl.crosswalk(oas, resolution=res)
    return hl.apportion(oas, xw, extensive=["population_2021", *HEALTH])


def polars_h3_grid(oas: pl.DataFrame, res: int) -> pl.DataFrame:
    return (
        oas.lazy()
        .with_columns(cell=plh3.cell_to_parent(plh3.latlng_to_cell("lat", "lng", 15), res))
        .group_by("cell")
        .agg(pl.col(["population_2021", *HEALTH]).sum())
        .collect()
    )


@pytest.mark.parametrize("res", [7, 8, 9])
def test_hyperlocal_crosswalk_apportion(benchmark, oas, res) -> None:
    benchmark.group = f"crosswalk+apportion 188,880 OAs res{res}"
    grid = benchmark.pedantic(hyperlocal_grid, args=(oas, res), rounds=5, iterations=1, warmup_rounds=1)
    assert grid["population_2021"].sum() == oas["population_2021"].sum()


@pytest.mark.parametrize("res", [7, 8, 9])
def test_polars_h3_groupby(benchmark, oas, res) -> None:
    benchmark.group = f"crosswalk+apportion 188,880 OAs res{res}"
    grid = benchmark.pedantic(polars_h3_grid, args=(oas, res), rounds=5, iterations=1, warmup_rounds=1)
    ours = hyperlocal_grid(oas, res)
    assert grid.height == ours.height
    assert grid["population_2021"].sum() == oas["population_2021"].sum()
