"""National health-change surface from OA-sized inputs: 188,880 synthetic areas per year, res 8, end to end
from the two count tables to the finished surface. The two years use different geographies (two seeds), as
2011 and 2021 OAs differ. Stage times (crosswalk, apportion, statistics) go to extra_info."""

from __future__ import annotations

import time

import hyperlocal as hl
import polars as pl
import pytest

CATS = ("very_good", "good", "fair", "bad", "very_bad")


@pytest.fixture(scope="module")
def years() -> tuple[pl.DataFrame, pl.DataFrame]:
    a = hl.synth.nation(seed=0).areas
    b = hl.synth.nation(seed=1).areas
    before = a.select("code", "easting", "northing", *[pl.col(f"{c}_2011").alias(c) for c in CATS])
    after = b.select("code", "easting", "northing", *[pl.col(f"{c}_2021").alias(c) for c in CATS])
    return before, after


def surface(before: pl.DataFrame, after: pl.DataFrame, split: dict[str, float]) -> pl.DataFrame:
    t0 = time.perf_counter()
    xb = hl.crosswalk(before, resolution=8, easting="easting", northing="northing")
    xa = hl.crosswalk(after, resolution=8, easting="easting", northing="northing")
    t1 = time.perf_counter()
    gb = hl.apportion(before, xb, extensive=list(CATS))
    ga = hl.apportion(after, xa, extensive=list(CATS))
    t2 = time.perf_counter()
    out = hl.health_change(gb, ga)
    t3 = time.perf_counter()
    for k, v in (("crosswalk", t1 - t0), ("apportion", t2 - t1), ("statistics", t3 - t2)):
        split[k] = split.get(k, 0.0) + v
    return out


@pytest.mark.benchmark(group="health-change national res8 (2 x 188,880 areas)")
def test_hyperlocal_health_change_national(benchmark, years) -> None:
    split: dict[str, float] = {}
    rounds = 5
    out = benchmark.pedantic(surface, args=(*years, split), rounds=rounds, iterations=1)
    for k, v in split.items():
        benchmark.extra_info[f"{k}_s"] = v / rounds
    assert out["population_2011"].sum() == years[0].select(pl.sum_horizontal(CATS)).to_series().sum()
