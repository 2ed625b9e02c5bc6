"""The national deprivation surface end to end: 32,844 LSOA 2011 IMD 2019 domain ranks → IMD score →
res 9 population-weighted means → rollups to res 8 and 7 → population-weighted deciles at each."""

from __future__ import annotations

import os
from pathlib import Path

import hyperlocal as hl
import polars as pl
import pytest

DATA = Path(os.environ.get("HYPERLOCAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DOMAINS = {
    "income": "Income_rank",
    "employment": "Employment_rank",
    "education": "Education_rank",
    "health": "Health_rank",
    "crime": "Crime_rank",
    "barriers": "Housing_and_Access_rank",
    "living_environment": "Environment_rank",
}


def load_inputs() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    ranks = pl.read_parquet(DATA / "imd2019" / "imd2019_ranks_deciles_all_domains_lsoa11_england.parquet")
    cent = pl.read_parquet(DATA / "geography" / "lsoa11_centroids_wgs84_not_pwc.parquet")
    pop = pl.read_parquet(DATA / "population" / "mid2020_population_single_year_age_lsoa11_ew.parquet")
    return (
        ranks,
        cent,
        pop.select("lsoa11_code", pl.col("total_population").cast(pl.Float64).alias("population")),
    )


@pytest.fixture(scope="module")
def inputs() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return load_inputs()


def national(ranks: pl.DataFrame, cent: pl.DataFrame, pop: pl.DataFrame) -> dict[int, pl.DataFrame]:
    scores = (
        hl.imd_score(ranks, domains=DOMAINS).select("lsoa11_code", "imd_score").join(pop, on="lsoa11_code")
    )
    xw = hl.crosswalk(cent.join(scores.select("lsoa11_code"), on="lsoa11_code"), resolution=9, code="lsoa11_code",
                      lat="lat", lng="lon")  # fmt: skip
    return hl.deprivation_surface(scores, xw, code="lsoa11_code", resolutions=(9, 8, 7))


@pytest.mark.benchmark(group="deprivation surface national (32,844 LSOAs → res 9/8/7 + deciles)")
def test_hyperlocal_deprivation_surface(benchmark, inputs) -> None:
    out = benchmark.pedantic(national, args=inputs, rounds=5, iterations=1, warmup_rounds=1)
    assert set(out) == {9, 8, 7}
    assert abs(out[7]["population"].sum() - out[9]["population"].sum()) < 1e-6
