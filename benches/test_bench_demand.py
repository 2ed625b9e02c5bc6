"""Service demand statistics at national scale: the res-9 demand surface over every populated cell of the synthetic
nation (188,880 output areas), empirical-Bayes smoothing against esda, and the SII with 100,000 repetitions."""

from __future__ import annotations

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest


@pytest.fixture(scope="module")
def grid(nation: hl.synth.Nation) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Res-9 cells: events (Poisson, rate rising with deprivation), residents and population-weighted deciles."""
    a = nation.areas
    rng = np.random.default_rng(0)
    lam = a["population_2021"].to_numpy() * 0.01 * (0.7 + 0.06 * a["imd_decile"].to_numpy())
    a = a.with_columns(count=pl.Series(rng.poisson(lam).astype(np.float64)))
    xw = hl.crosswalk(a, resolution=9, easting="easting", northing="northing")
    g = hl.apportion(
        a, xw, extensive=["count", "population_2021"], intensive="deprivation", weight="population_2021"
    )
    g = g.filter(pl.col("population_2021") > 0)
    dep = hl.deciles(g, "deprivation", weight="population_2021").select("cell", "decile")
    return g.select("cell", "count", pl.col("population_2021").alias("population")), dep


@pytest.mark.benchmark(group="demand surface national res 9 (every populated cell)")
def test_hyperlocal_demand_surface(benchmark, grid) -> None:
    g, dep = grid
    out = benchmark.pedantic(
        hl.demand_surface, args=(g.select("cell", "count"), g.select("cell", "population")),
        kwargs={"deprivation": dep}, rounds=3, iterations=1, warmup_rounds=1,
    )  # fmt: skip
    assert (
        out.height == g.height
        and abs(out["expected"].sum() - out["observed"].sum()) < 1e-6 * g["count"].sum()
    )


@pytest.mark.benchmark(group="empirical Bayes (global) national res 9")
def test_hyperlocal_eb_global(benchmark, grid) -> None:
    g, _ = grid
    out = benchmark.pedantic(hl.eb_smooth, args=(g,), kwargs={"count": "count", "population": "population"},
                             rounds=5, iterations=1, warmup_rounds=1)  # fmt: skip
    assert out.height == g.height


@pytest.mark.benchmark(group="empirical Bayes (global) national res 9")
def test_esda_eb_global(benchmark, grid) -> None:
    esda = pytest.importorskip("esda")
    g, _ = grid
    e, b = g["count"].to_numpy(), g["population"].to_numpy()
    out = benchmark.pedantic(
        lambda: esda.smoothing.Empirical_Bayes(e, b).r, rounds=5, iterations=1, warmup_rounds=1
    )
    assert len(out) == g.height


@pytest.mark.benchmark(group="empirical Bayes (local, k=1) national res 9")
def test_hyperlocal_eb_local(benchmark, grid) -> None:
    g, _ = grid
    out = benchmark.pedantic(hl.eb_smooth, args=(g,), kwargs={"count": "count", "population": "population",
                             "method": "local"}, rounds=3, iterations=1, warmup_rounds=1)  # fmt: skip
    assert out.height == g.height


@pytest.mark.benchmark(group="SII 10 deciles x 100,000 repetitions")
def test_hyperlocal_sii(benchmark) -> None:
    t = pl.DataFrame({"decile": range(1, 11), "rate": np.linspace(180, 120, 10), "population": [5e6] * 10,
                      "se": [2.0] * 10})  # fmt: skip
    out = benchmark.pedantic(hl.sii, args=(t,), kwargs={"value": "rate", "population": "population",
                             "quantile": "decile", "se": "se", "repetitions": 100_000},
                             rounds=5, iterations=1, warmup_rounds=1)  # fmt: skip
    assert out["sii"][0] < 0
