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
from test_cli import _cli

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
    # Funnel positions: the exact one-sided Poisson tests of O against E, recomputed here.
    o, e = out["observed"].to_numpy(), out["expected"].to_numpy()
    p_low = stats.poisson.cdf(np.round(o), e)  # the 3-year totals are whole numbers
    p_high = stats.poisson.sf(np.round(o) - 1, e)
    want = np.where(p_low < 0.001, "below 99.8", np.where(p_low < 0.025, "below 95", np.where(
        p_high < 0.001, "above 99.8", np.where(p_high < 0.025, "above 95", "within"))))  # fmt: skip
    assert (np.array(out["funnel_position"].to_list()) == want).mean() > 0.999  # rounding at the edges only
    # EB rates (global prior) lie between the crude rate and the prior mean, with intervals around them.
    m = out["observed"].sum() / out["population"].sum() * 1e5
    eb, crude = out["eb_rate"].to_numpy(), out["rate"].to_numpy()
    assert np.all((eb >= np.minimum(crude, m) - 1e-9) & (eb <= np.maximum(crude, m) + 1e-9))
    assert out["eb_lo"].null_count() == 0 and (out["eb_lo"] < out["eb_hi"]).all()
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
    assert row["sii"] == pytest.approx(slope, rel=1e-9)  # signed: deciles ordered most deprived first
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


def test_isr_by_local_authority_matches_an_independent_computation(stroke: pl.DataFrame, data: Path) -> None:
    """Indirect standardisation by LA against England's rates by LSOA IMD decile, recomputed here."""
    look = pl.read_parquet(data / "lookups" / "lsoa11_msoa11_lad_gb.parquet").select(
        pl.col("lsoa11cd").alias("lsoa11_code"), "ladcd"
    )
    t = hl.deciles(stroke, "overall_local_score", weight="person_years").join(look, on="lsoa11_code")
    ref = hl.reference_rates(t, count="admissions", population="person_years", strata="decile")
    got = hl.isr(
        t, observed="admissions", population="person_years", strata="decile", reference=ref, by="ladcd"
    )
    r = (
        t.group_by("decile")
        .agg(pl.col("admissions").sum() / pl.col("person_years").sum())
        .rename({"admissions": "r"})
    )
    want = (
        t.join(r, on="decile")
        .group_by("ladcd")
        .agg(pl.col("admissions").sum().alias("o"), (pl.col("person_years") * pl.col("r")).sum().alias("e"))
    )
    j = got.join(want, on="ladcd")
    assert j.height == want.height > 300
    assert np.allclose(j["expected"].to_numpy(), j["e"].to_numpy(), rtol=1e-9)
    assert np.allclose(j["ratio"].to_numpy(), (j["o"] / j["e"]).to_numpy(), rtol=1e-9)
    assert abs(got["expected"].sum() - got["observed"].sum()) < 1e-6 * got["observed"].sum()


def test_demand_surface_edge_cases() -> None:
    cells = hl.latlng_to_cell([51.5, 51.6, 51.7], [0.0, 0.0, 0.0], 7)
    counts = pl.DataFrame({"cell": cells, "count": [5.0, 3.0, 0.0]})
    pop = pl.DataFrame({"cell": cells, "population": [1000.0, 600.0, 0.0]})  # the third: nobody, nothing
    out = hl.demand_surface(counts, pop, smoothing="none")
    assert out["cell"].to_list() == cells.head(2).to_list()  # the empty cell is left out, not an error
    # A reference rate without strata is used (not silently replaced by the input's own rate).
    ref = hl.demand_surface(counts, pop, reference=pl.DataFrame({"ref_rate": [0.004]}), smoothing="none")
    assert ref["expected"].to_list() == pytest.approx([4.0, 2.4])
    # A cell twice in the deprivation table would double its counts: an error.
    dep = pl.DataFrame({"cell": pl.concat([cells.head(2), cells.head(1)]), "decile": [1, 2, 9]})
    with pytest.raises(InvalidInputError, match=r"deprivation\['cell'\]: 2 rows repeat a cell"):
        hl.demand_surface(counts, pop, deprivation=dep)


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


def _example(data: Path) -> str:
    """The shipped example config, its data paths pointed at HYPERLOCAL_DATA (the example assumes ../shared)."""
    return (ROOT / "examples" / "demand_stroke.toml").read_text().replace("../../shared/data", str(data))


def test_demand_command_on_the_example_config(tmp_path: Path, data: Path) -> None:
    exe = _cli()
    cfg = tmp_path / "demand_stroke.toml"
    cfg.write_text(_example(data))
    tmp_path = tmp_path / "out"
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
    surface = pl.read_parquet(tmp_path / "demand_res7.parquet")
    assert {"person_years", "expected", "ratio", "funnel_position", "eb_rate", "decile"} <= set(
        surface.columns
    )
    assert (surface["observed"] == surface["observed"].round()).all()  # 3 × the annual means: whole counts
    sii_row = pl.read_csv(tmp_path / "sii.csv").row(0, named=True)
    assert sii_row["value"] == "crude rate per 100,000 per year" and sii_row["n_quantiles"] == 10


def test_demand_config_mistakes_are_usage_errors(tmp_path: Path, data: Path) -> None:
    exe = _cli()
    text = _example(data)
    for change, message in (
        (("years = 3", "years = 0"), "years = 0; expected a number > 0"),
        (('lookup_to = "lsoa11_code"', ""), "needs all of lookup, lookup_from and lookup_to"),
        (('smoothing = "global"', 'smoothing = "median"'), "smoothing = 'median'"),
        (("[events]", "[event]"), "unknown key 'event'"),
    ):
        cfg = tmp_path / "c.toml"
        cfg.write_text(text.replace(*change))
        r = subprocess.run([str(exe), "demand", "--config", str(cfg)], capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr.strip().splitlines()[-1], r.stderr
