"""demand_surface and the `hyperlocal demand` job on real national data: emergency stroke admissions 2017-2019.

The admissions file holds the *mean annual* admissions per LSOA 2011 over 2017-2019 (non-integer). Three times the
mean is the 3-year total (an integer count, checked below), so counts are used as 3-year totals against 3 × the
mid-2020 population (person-years): rates are per year, and the Poisson limits reflect three years of events.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal.exceptions import InvalidInputError
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stroke(data: Path) -> pl.DataFrame:
    """One row per English LSOA 2011 with a stroke row and an IMD 2019 score: 3-year admissions, person-years."""
    adm = pl.read_parquet(data / "service_demand" / "stroke_admissions_per_lsoa11_mean_2017_2019.parquet")
    pop = pl.read_parquet(data / "population" / "mid2020_population_single_year_age_lsoa11_ew.parquet")
    imd = pl.read_parquet(
        data / "imd2019" / "mysociety_uk_composite_imd_E_with_imd2019_scores_lsoa_uk.parquet"
    )
    cent = pl.read_parquet(data / "geography" / "lsoa11_centroids_wgs84_not_pwc.parquet")
    t = (
        adm.join(pop.select("lsoa11_name", "lsoa11_code", "total_population"), left_on="area",
                 right_on="lsoa11_name")
        .join(imd.filter(pl.col("nation") == "E").select(pl.col("lsoa").alias("lsoa11_code"), "overall_local_score"),
              on="lsoa11_code")
        .join(cent, on="lsoa11_code")
        .select("lsoa11_code", "lat", "lon", (pl.col("Admissions") * 3).alias("admissions"),
                (pl.col("total_population").cast(pl.Float64) * 3).alias("person_years"), "overall_local_score")
    )  # fmt: skip
    assert ((t["admissions"] - t["admissions"].round()).abs() < 1e-6).all()  # 3 × mean = whole 3-year totals
    assert t.height > 32_000
    return t


@pytest.fixture(scope="module")
def surface(stroke: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    xw = hl.crosswalk(stroke, resolution=7, code="lsoa11_code", lng="lon")
    grid = hl.apportion(stroke, xw, code="lsoa11_code", extensive=["admissions", "person_years"])
    dep = hl.deprivation_surface(stroke, xw, code="lsoa11_code", score="overall_local_score",
                                 population="person_years", resolutions=[7])[7].select("cell", "decile")  # fmt: skip
    out = hl.demand_surface(
        grid.select("cell", pl.col("admissions").alias("count")),
        grid.select("cell", pl.col("person_years").alias("population")),
        deprivation=dep,
    )
    return out, dep


def test_national_stroke_surface_conserves_and_standardises(
    stroke: pl.DataFrame, surface: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    out, dep = surface
    assert out["cell"].is_unique().all()
    assert abs(out["observed"].sum() - stroke["admissions"].sum()) < 1e-6 * stroke["admissions"].sum()
    assert abs(out["population"].sum() - stroke["person_years"].sum()) < 1e-6 * stroke["person_years"].sum()
    # Internal standardisation by decile: expected = person-years × the decile's rate, computed here.
    j = out.join(dep, on="cell")
    per_decile = (
        j.group_by("decile")
        .agg(pl.col("observed").sum() / pl.col("population").sum())
        .rename({"observed": "r"})
    )
    k = j.join(per_decile, on="decile")
    assert np.allclose(k["expected"].to_numpy(), (k["population"] * k["r"]).to_numpy(), rtol=1e-9)
    assert abs(out["expected"].sum() - out["observed"].sum()) < 1e-6 * out["observed"].sum()
    # Crude rate per 100,000 person-years, and O/E.
    assert np.allclose(
        out["rate"].to_numpy(), (1e5 * out["observed"] / out["population"]).to_numpy(), rtol=1e-9
    )
    ok = out.filter(pl.col("expected") > 0)
    assert np.allclose(ok["ratio"].to_numpy(), (ok["observed"] / ok["expected"]).to_numpy(), rtol=1e-9)
    # Exact Poisson limits below 10 events, Byar from 10, recomputed here for a few cells.
    for r in out.filter(pl.col("observed") >= 10).head(3).iter_rows(named=True):
        o = r["observed"]
        lo = o * (1 - 1 / (9 * o) - 1.959963984540054 / (3 * np.sqrt(o))) ** 3
        assert r["rate_lo95"] == pytest.approx(1e5 * lo / r["population"], rel=1e-6)
    assert set(out["funnel_position"].unique()) <= {
        "below 99.8",
        "below 95",
        "within",
        "above 95",
        "above 99.8",
    }
    # EB rates lie between the crude rate and the prior.
    assert out["eb_rate"].null_count() == 0
    print(
        "\nstroke res 7:", out.height, "cells;",
        out["funnel_position"].value_counts().sort("funnel_position").rows(),
    )  # fmt: skip


def test_rates_by_decile_and_sii(surface: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    out, dep = surface
    by = (
        out.join(dep, on="cell")
        .group_by("decile")
        .agg(pl.col("observed").sum(), pl.col("population").sum())
        .sort("decile")
    )
    rates = hl.rate(by, count="observed", population="population")
    assert rates.height == 10
    # Crude rates: the most deprived decile has the highest (stroke is socially patterned), but the gradient is
    # shallow and not monotonic because less deprived areas are older (crude, not age-standardised).
    assert rates["rate"][0] == rates["rate"].max()
    res = hl.sii(rates, value="rate", population="population", quantile="decile", lower="rate_lo95",
                 upper="rate_hi95", repetitions=100_000)  # fmt: skip
    row = res.row(0, named=True)
    print("\nstroke crude rate per 100,000 person-years by IMD decile:", [round(v, 1) for v in rates["rate"]])
    print("stroke SII/RII across population-weighted IMD deciles:", {k: round(v, 3) for k, v in row.items()})
    # The SII is the population-weighted least-squares slope of the rate on the cumulative-rank midpoints,
    # computed here independently.
    w = rates["population"].to_numpy()
    x = (np.cumsum(w) - w / 2) / w.sum()
    y = rates["rate"].to_numpy()
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    slope = np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2)
    assert abs(row["sii"]) == pytest.approx(abs(slope), rel=1e-9)
    assert row["sii_lo"] <= row["sii"] <= row["sii_hi"]


def test_statistics_by_local_authority_match_tables(stroke: pl.DataFrame, data: Path) -> None:
    """Areas, not cells: rates by local authority equal an independent computation from the LSOA table."""
    look = pl.read_parquet(data / "lookups" / "lsoa11_msoa11_lad_gb.parquet").select(
        pl.col("lsoa11cd").alias("lsoa11_code"), "ladcd"
    )
    la = stroke.join(look, on="lsoa11_code").group_by("ladcd").agg(pl.col("admissions", "person_years").sum())
    r = hl.rate(la, count="admissions", population="person_years").sort("ladcd")
    o, n = r["admissions"].to_numpy(), r["person_years"].to_numpy()
    assert np.allclose(r["rate"].to_numpy(), 1e5 * o / n, rtol=1e-12)
    exact = o < 10
    hi = np.where(
        exact,
        stats.chi2.ppf(0.975, 2 * (o + 1)) / 2,
        (o + 1) * (1 - 1 / (9 * (o + 1)) + 1.959963984540054 / (3 * np.sqrt(o + 1))) ** 3,
    )  # noqa: E501
    assert np.allclose(r["rate_hi95"].to_numpy(), 1e5 * hi / n, rtol=1e-6)


def test_events_without_residents_and_missing_deciles_are_named() -> None:
    cells = hl.latlng_to_cell([51.5, 51.6], [0.0, 0.0], 7)
    counts = pl.DataFrame({"cell": cells, "count": [5.0, 3.0]})
    pop = pl.DataFrame({"cell": cells.head(1), "population": [1000.0]})
    with pytest.raises(InvalidInputError, match=r"have events but no residents"):
        hl.demand_surface(counts, pop)
    pop2 = pl.DataFrame({"cell": cells, "population": [1000.0, 500.0]})
    dep = pl.DataFrame({"cell": cells.head(1), "decile": [3]})
    with pytest.raises(
        InvalidInputError, match=r"deprivation\['decile'\]: 1 cell\(s\) with residents have no decile"
    ):
        hl.demand_surface(counts, pop2, deprivation=dep)
    with pytest.raises(InvalidInputError, match="smoothing"):
        hl.demand_surface(counts, pop2, smoothing="median")


def test_demand_command_on_the_example_config(tmp_path: Path) -> None:
    exe = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "hyperlocal"
    cfg = ROOT / "examples" / "demand_stroke.toml"
    r = subprocess.run([str(exe), "demand", "--config", str(cfg), "--out-dir", str(tmp_path), "--quiet"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["by_decile.csv", "demand_ratio_res7.png", "demand_res7.csv", "demand_res7.parquet",
                     "funnel.png", "sii.csv"]  # fmt: skip
    warnings = [line for line in r.stderr.splitlines() if line.startswith("hyperlocal: warning:")]
    assert any("have no score" in w for w in warnings), r.stderr  # Wales: no English IMD score, named
    for png in ("funnel.png", "demand_ratio_res7.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
