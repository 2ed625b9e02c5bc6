"""Health change 2011 → 2021 on a stable hex geography: intervals, national and Camden checks, comparator."""

from __future__ import annotations

from pathlib import Path

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal import ons
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning
from hyperlocal.health import ALL, CATEGORIES
from hyperlocal.stats import newcombe, wilson, z_value
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

Z95 = z_value(0.95)


def test_wilson_equals_statsmodels() -> None:
    rng = np.random.default_rng(0)
    n = rng.uniform(1, 5000, 2000)
    x = n * rng.uniform(0, 1, 2000)
    x[:5] = 0
    x[5:10] = n[5:10]
    p, lo, hi = wilson(x, n, Z95)
    ref_lo, ref_hi = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert np.abs(lo - ref_lo).max() < 1e-12
    assert np.abs(hi - ref_hi).max() < 1e-12
    assert np.allclose(p, x / n, rtol=0, atol=0)


# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (score, no continuity correction).
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II)
def test_newcombe_reproduces_published_worked_examples(counts: tuple, published: tuple) -> None:
    a, m, b, n = counts
    p1, l1, u1 = wilson(np.array(a), np.array(m), Z95)
    p2, l2, u2 = wilson(np.array(b), np.array(n), Z95)
    _, lo, hi = newcombe(p1, l1, u1, p2, l2, u2)
    assert round(float(lo), 4) == published[0] and round(float(hi), 4) == published[1]
    ref = confint_proportions_2indep(a, m, b, n, method="newcomb", compare="diff", alpha=0.05)
    assert abs(float(lo) - ref[0]) < 1e-12 and abs(float(hi) - ref[1]) < 1e-12


def _table(cells: list[int], counts: list[list[float]]) -> pl.DataFrame:
    arr = np.array(counts, dtype=float)
    return pl.DataFrame(
        {"cell": pl.Series(cells, dtype=pl.UInt64), **{k: arr[:, i] for i, k in enumerate(CATEGORIES)}}
    )


def test_zero_population_and_one_year_cells_are_flagged_not_nan() -> None:
    c = hl.latlng_to_cell([51.5, 51.6, 51.7, 51.8], [-0.1, -0.1, -0.1, -0.1], 8).to_list()
    before = _table(c[:3], [[50, 30, 10, 5, 5], [0, 0, 0, 0, 0], [400, 300, 200, 50, 50]])
    after = _table([c[0], c[1], c[3]], [[60, 25, 10, 3, 2], [10, 5, 3, 1, 1], [5, 5, 5, 5, 5]])
    out = hl.health_change(before, after, min_population=100)
    assert out["cell"].dtype == pl.UInt64 and out["cell"].is_sorted()
    out = pl.DataFrame({"cell": pl.Series(c, dtype=pl.UInt64)}).join(out, on="cell", maintain_order="left")
    assert out["present"].to_list() == ["both", "both", "2011 only", "2021 only"]
    row = out.row(1, named=True)  # 0 residents in 2011
    assert row["very_good_pct_2011"] is None and row["very_good_change_pp"] is None and row["small"]
    assert row["very_good_pct_2021"] == pytest.approx(50.0)
    assert out.select(pl.col(pl.Float64).is_nan().any()).row(0) == (False,) * len(
        out.select(pl.col(pl.Float64)).columns
    )
    # National figures come from summed counts, so the empty cell cannot distort them.
    nat = (60 + 10 + 5) / (100 + 20 + 25) - (50 + 400) / (100 + 1000)
    assert out["very_good_national_pp"][0] == pytest.approx(100 * nat, abs=1e-12)
    assert out["small"].to_list() == [False, True, True, True]


def test_health_change_intervals_match_independent_computation() -> None:
    c = hl.latlng_to_cell([52.0, 52.1], [-1.0, -1.0], 7).to_list()
    before = _table(c, [[470, 340, 130, 45, 15], [120.5, 80.25, 40, 10, 4.25]])
    after = _table(c, [[500, 320, 120, 45, 15], [130, 70, 40, 12, 3]])
    out = hl.health_change(before, after)
    for i in range(2):
        r = out.row(i, named=True)
        nb, na = before.row(i)[1:], after.row(i)[1:]
        lo, hi = proportion_confint(nb[0], sum(nb), method="wilson")
        assert r["very_good_pct_2011_lo"] == pytest.approx(100 * lo, abs=1e-10)
        assert r["very_good_pct_2011_hi"] == pytest.approx(100 * hi, abs=1e-10)
        ci = confint_proportions_2indep(na[3] + na[4], sum(na), nb[3] + nb[4], sum(nb), method="newcomb")
        assert r["bad_or_very_bad_change_lo"] == pytest.approx(100 * ci[0], abs=1e-10)
        assert r["bad_or_very_bad_change_hi"] == pytest.approx(100 * ci[1], abs=1e-10)
        # Excess change: the cell's change less the national change, which is computed here from the raw
        # totals of both tables; its interval is the cell's Newcombe interval shifted by it.
        tb, ta = before.select(CATEGORIES).sum().row(0), after.select(CATEGORIES).sum().row(0)
        nat = ta[0] / sum(ta) - tb[0] / sum(tb)
        assert r["very_good_national_pp"] == pytest.approx(100 * nat, abs=1e-12)
        ci = confint_proportions_2indep(na[0], sum(na), nb[0], sum(nb), method="newcomb")
        assert r["very_good_excess_pp"] == pytest.approx(
            100 * (na[0] / sum(na) - nb[0] / sum(nb) - nat), abs=1e-10
        )
        assert r["very_good_excess_lo"] == pytest.approx(100 * (ci[0] - nat), abs=1e-10)
        assert r["very_good_excess_hi"] == pytest.approx(100 * (ci[1] - nat), abs=1e-10)


@pytest.fixture(scope="module")
def national(data: Path, lsoa_pwc: pl.DataFrame) -> dict:
    """2011 MSOA counts (population crosswalk weighted by the 2021 LSOA centroids' residents) and 2021 LSOA
    counts (population-weighted centroids), at res 6 and 7."""
    with pytest.warns(SkippedRowsWarning, match="Isles of Scilly"):
        h11 = ons.ks301ew_msoa11_counts(
            data / "census2011" / "msoa11_general_health_pct_ks301ew_ew.parquet",
            data / "census2011" / "msoa11_general_health_3cat_collated_ew.parquet",
            data / "lookups" / "msoa11_names_hcl_v1_14_ew.parquet",
        )
    h21 = ons.ts037_lsoa21(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet")
    msoa = hl.read_areas(data / "geography" / "msoa2011_bsc_ew" / "msoa2011_bsc_ew.shp", code="MSOA11CD")
    msoa = msoa.join(h11.select("MSOA11CD"), on="MSOA11CD")
    pts = lsoa_pwc.join(h21.select("LSOA21CD", "residents"), on="LSOA21CD")
    out: dict = {"h11": h11, "h21": h21}
    for res in (6, 7):
        with pytest.warns(SkippedRowsWarning, match="no area containing them"):
            xw11 = hl.crosswalk(msoa, resolution=res, code="MSOA11CD", method="population", points=pts,
                                population="residents", points_easting="x", points_northing="y")  # fmt: skip
        xw21 = hl.crosswalk(lsoa_pwc, resolution=res, code="LSOA21CD", easting="x", northing="y")
        out[res] = (
            hl.apportion(h11, xw11, code="MSOA11CD", extensive=["residents", *CATEGORIES]),
            hl.apportion(h21, xw21, code="LSOA21CD", extensive=["residents", *CATEGORIES]),
            xw21,
        )
    return out


@pytest.mark.parametrize("res", [6, 7])
def test_national_totals_and_change_equal_the_input_tables(national: dict, res: int) -> None:
    h11, h21 = national["h11"], national["h21"]
    g11, g21, _ = national[res]
    assert (
        h11.height == 7_200 and int(h11["residents"].sum()) == 56_073_709
    )  # 56,075,912 less Isles of Scilly
    for c in ["residents", *CATEGORIES]:
        assert abs(g11[c].sum() - h11[c].sum()) < 1e-6
        assert g21[c].sum() == h21[c].sum()
    out = hl.health_change(g11, g21)
    direct = h21["very_good"].sum() / h21["residents"].sum() - h11["very_good"].sum() / h11["residents"].sum()
    assert abs(out["very_good_national_pp"][0] - 100 * direct) < 1e-12
    # Newcombe intervals of a sample of real cells (fractional apportioned counts) against statsmodels.
    both = out.filter(pl.col("present") == "both").sample(200, seed=1)
    j = (
        both.select("cell")
        .join(g11, on="cell", maintain_order="left")
        .join(g21, on="cell", suffix="_21", maintain_order="left")
    )
    for r, c in zip(j.iter_rows(named=True), both.iter_rows(named=True)):
        n0, n1 = sum(r[k] for k in CATEGORIES), sum(r[f"{k}_21"] for k in CATEGORIES)
        lo, hi = confint_proportions_2indep(r["very_good_21"], n1, r["very_good"], n0, method="newcomb")
        assert c["very_good_change_lo"] == pytest.approx(100 * lo, abs=1e-9)
        assert c["very_good_change_hi"] == pytest.approx(100 * hi, abs=1e-9)
    print(f"res {res}: national pp change", {k: round(out[f"{k}_national_pp"][0], 3) for k in ALL})


def test_camden_change_from_cells_equals_raw_tables(data: Path) -> None:
    oa = ons.ks301ew_oa11(data / "census2011" / "camden_2011" / "KS301EW_oa11_camden.csv")
    bounds = hl.read_areas(data / "geography" / "camden_2011_shapefiles" / "Camden_oa11.shp", code="OA11CD")
    assert oa.height == bounds.height == 749
    h21 = ons.ts037_lsoa21(data / "census2021" / "ts037_general_health_lsoa21_ew.parquet").filter(
        pl.col("name").str.starts_with("Camden ")
    )
    pwc = pl.read_parquet(data / "geography" / "lsoa21_pwc_ew_bng.parquet").join(
        h21.select("LSOA21CD"), on="LSOA21CD"
    )
    assert h21.height == pwc.height == 130  # Camden's 2021 LSOAs, each with its centroid
    g11 = hl.apportion(oa, hl.crosswalk(bounds, resolution=9, code="OA11CD", method="area"), code="OA11CD",
                       extensive=["residents", *CATEGORIES])  # fmt: skip
    g21 = hl.apportion(h21, hl.crosswalk(pwc, resolution=9, code="LSOA21CD", easting="x", northing="y"),
                       code="LSOA21CD", extensive=["residents", *CATEGORIES])  # fmt: skip
    out = hl.health_change(g11, g21)
    for k in ("very_good", "bad"):
        raw = h21[k].sum() / h21["residents"].sum() - oa[k].sum() / oa["residents"].sum()
        cells = (out[f"{k}_pct_2021"] * out["population_2021"]).fill_null(0).sum() / out[
            "population_2021"
        ].sum() - (out[f"{k}_pct_2011"] * out["population_2011"]).fill_null(0).sum() / out[
            "population_2011"
        ].sum()
        assert abs(cells - 100 * raw) < 1e-9
        assert abs(out[f"{k}_national_pp"][0] - 100 * raw) < 1e-12
    assert round(100 * oa["very_good"].sum() / oa["residents"].sum(), 1) == 53.4  # SOURCES.md check value
    # Different geographies in each year: some cells are present in only one of them, and are kept.
    assert set(out["present"].unique()) >= {"both"}


def _deprivation(data: Path, xw21: pl.DataFrame, h21: pl.DataFrame) -> pl.DataFrame:
    """Population-weighted IMD 2019 deciles of the cells: LSOA 2011 IMD scores carried to LSOA 2021 (mean over
    the 2011 LSOAs each came from), onto cells as means weighted by 2021 residents."""
    imd = pl.read_parquet(
        data / "imd2019" / "mysociety_uk_composite_imd_E_with_imd2019_scores_lsoa_uk.parquet"
    )
    imd = imd.filter(pl.col("nation") == "E").select(
        pl.col("lsoa").alias("F_LSOA11CD"), "overall_local_score"
    )
    look = pl.read_parquet(data / "lookups" / "lsoa11_to_lsoa21_lad22_ew.parquet").select(
        "F_LSOA11CD", "LSOA21CD"
    )
    lsoa21 = look.join(imd, on="F_LSOA11CD").group_by("LSOA21CD").agg(pl.col("overall_local_score").mean())
    vals = h21.join(lsoa21, on="LSOA21CD")
    xw = xw21.join(vals.select("LSOA21CD"), on="LSOA21CD")
    grid = hl.apportion(vals, xw, code="LSOA21CD", intensive="overall_local_score", weight="residents")
    return hl.deciles(grid, "overall_local_score", weight="residents")


def test_comparator_matches_programme_decile_mix_and_writes_chart(
    national: dict, data: Path, tmp_path: Path
) -> None:
    g11, g21, xw21 = national[7]
    dep = _deprivation(data, xw21, national["h21"])
    # Population-weighted deciles hold a tenth of the people each.
    shares = dep.group_by("decile").agg(pl.col("residents").sum() / dep["residents"].sum()).sort("decile")
    assert (
        shares.height == 10
        and (shares["residents"] - 0.1).abs().max() < dep["residents"].max() / dep["residents"].sum()
    )
    cni = pl.read_parquet(data / "biglocal" / "community_needs_index_2023_lsoa21_england.parquet")
    left_behind = cni.filter(pl.col("Left Behind Area?"))["lsoa21_code"]
    assert left_behind.len() == 1262
    # Welsh cells have no (English) IMD decile: an error by default, named; skipped and reported on request.
    with pytest.raises(
        InvalidInputError, match=r"cell\(s\) with residents have a null or out-of-range decile"
    ):
        hl.compare_groups(g11, g21, left_behind, deprivation=dep, crosswalk=xw21)
    with pytest.warns(SkippedRowsWarning, match=r"0 of them in the programme, holding [\d,.]+ residents"):
        table = hl.compare_groups(g11, g21, left_behind, deprivation=dep, crosswalk=xw21, on_invalid="skip",
                                  chart=tmp_path / "chart.png")  # fmt: skip
    assert set(table["group"]) == {"programme", "all", "comparator"}
    mix = [f"mix_d{d}" for d in range(1, 11)]
    prog = (
        table.filter((pl.col("group") == "programme") & (pl.col("category") == "very_good"))
        .select(mix)
        .row(0)
    )
    # The programme's decile mix, recomputed here from the cells' 2011 residents.
    prog_cells = xw21.filter(pl.col("LSOA21CD").is_in(left_behind.implode()))["cell"].unique()
    pop = g11.join(dep.select("cell", "decile"), on="cell").filter(pl.col("cell").is_in(prog_cells.implode()))
    by_d = pop.group_by("decile").agg(pl.sum_horizontal(CATEGORIES).sum().alias("n")).sort("decile")
    expected = dict(zip(by_d["decile"].to_list(), (by_d["n"] / by_d["n"].sum()).to_list()))
    assert np.allclose(prog, [expected.get(d, 0.0) for d in range(1, 11)], atol=1e-12)
    assert prog[0] > 0.3  # left-behind areas are mostly in the most deprived decile
    allrow = table.filter((pl.col("group") == "all") & (pl.col("category") == "very_good")).row(0, named=True)
    h11, h21 = national["h11"], national["h21"]
    direct = h21["very_good"].sum() / h21["residents"].sum() - h11["very_good"].sum() / h11["residents"].sum()
    assert abs(allrow["change_pp"] - 100 * direct) < 1e-9
    # The programme's crude interval from its summed counts (statsmodels' Newcombe, computed here).
    pc = g11.filter(pl.col("cell").is_in(prog_cells.implode())).select(CATEGORIES).sum().row(0)
    pc21 = g21.filter(pl.col("cell").is_in(prog_cells.implode())).select(CATEGORIES).sum().row(0)
    lo, hi = confint_proportions_2indep(pc21[0], sum(pc21), pc[0], sum(pc), method="newcomb")
    prow = table.filter((pl.col("group") == "programme") & (pl.col("category") == "very_good")).row(
        0, named=True
    )
    assert prow["change_lo"] == pytest.approx(100 * lo, abs=1e-9)
    assert prow["change_hi"] == pytest.approx(100 * hi, abs=1e-9)
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
    print(
        table.filter(pl.col("category").is_in(["very_good", "bad_or_very_bad"])).select(
            "group", "category", "change_pp", "change_lo", "change_hi"
        )
    )


def _synthetic_programme(seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[int]]:
    """400 res-8 cells with random counts; 40 programme cells, 4 of them at decile 0 (invalid)."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(52.0, 53.0, 4000)
    lng = rng.uniform(-2.0, -1.0, 4000)
    cells = hl.latlng_to_cell(lat, lng, 8).unique().sort().head(400).to_list()
    n = len(cells)
    dec = rng.integers(1, 11, n)
    # Health improves with decile, so a wrong mix visibly biases the comparator.
    share = 0.30 + 0.03 * dec

    def year(shift: float) -> pl.DataFrame:
        pop = rng.integers(200, 2000, n).astype(np.float64)
        vg = np.floor(pop * np.clip(share + shift, 0, 1))
        rest = pop - vg
        return _table(cells, np.column_stack([vg, rest * 0.5, rest * 0.3, rest * 0.15, rest * 0.05]))

    before, after = year(0.0), year(0.02)
    prog_idx = rng.choice(n, 40, replace=False)
    dec = dec.copy()
    dec[prog_idx[:3]] = 0  # out of range
    dep = pl.DataFrame({"cell": pl.Series(cells, dtype=pl.UInt64), "decile": pl.Series(dec, dtype=pl.Int64)})
    dep = dep.with_columns(
        pl.when(pl.col("cell") == cells[prog_idx[3]]).then(None).otherwise(pl.col("decile")).alias("decile")
    )  # and one null
    return before, after, dep, [cells[i] for i in prog_idx]


def test_compare_groups_invalid_deciles_raise_or_are_skipped_and_renormalised() -> None:
    before, after, dep, prog = _synthetic_programme()
    with pytest.raises(InvalidInputError, match=r"4 cell\(s\) with residents have a null or out-of-range"):
        hl.compare_groups(before, after, prog, deprivation=dep)
    with pytest.warns(
        SkippedRowsWarning, match=r"4 cell\(s\).*4 of them in the programme, holding [\d,.]+ res"
    ):
        table = hl.compare_groups(before, after, prog, deprivation=dep, on_invalid="skip")

    # Independent computation: mix over the programme's valid cells, comparator pooled per decile.
    d = dep["decile"].to_numpy(allow_copy=True)
    cells = dep["cell"].to_numpy()
    valid = np.array([x is not None and 1 <= x <= 10 for x in dep["decile"].to_list()])
    in_prog = np.isin(cells, np.array(prog, dtype=np.uint64))
    cnt = {y: t.select(CATEGORIES).to_numpy() for y, t in (("b", before), ("a", after))}
    pop_b = cnt["b"].sum(axis=1)
    sel = valid & in_prog
    mix = {k: pop_b[sel & (d == k)].sum() / pop_b[sel].sum() for k in range(1, 11)}
    comp = valid & ~in_prog
    for y, label in (("b", "2011"), ("a", "2021")):
        x, n_tot = cnt[y][:, 0], cnt[y].sum(axis=1)
        p = sum(mix[k] * x[comp & (d == k)].sum() / n_tot[comp & (d == k)].sum() for k in range(1, 11))
        var = sum(
            mix[k] ** 2
            * (pk := x[comp & (d == k)].sum() / n_tot[comp & (d == k)].sum())
            * (1 - pk)
            / n_tot[comp & (d == k)].sum()
            for k in range(1, 11)
        )
        n_eff = p * (1 - p) / var
        lo, hi = proportion_confint(p * n_eff, n_eff, alpha=1 - 0.95, method="wilson")
        row = table.filter((pl.col("group") == "comparator") & (pl.col("category") == "very_good")).row(
            0, named=True
        )
        assert row[f"pct_{label}"] == pytest.approx(100 * p, abs=1e-9)
        assert row[f"population_{label}"] == pytest.approx(n_eff, rel=1e-9)
        assert row[f"pct_{label}_lo"] == pytest.approx(100 * lo, abs=1e-6)
        assert row[f"pct_{label}_hi"] == pytest.approx(100 * hi, abs=1e-6)
    # The mix reported is the renormalised one (the 4 bad cells are not in it) and sums to 1.
    got = table.filter(pl.col("group") == "programme").select([f"mix_d{k}" for k in range(1, 11)]).row(0)
    assert np.allclose(got, [mix[k] for k in range(1, 11)], atol=1e-12)
    # The programme group itself counts all 40 cells.
    prow = table.filter((pl.col("group") == "programme") & (pl.col("category") == "very_good")).row(
        0, named=True
    )
    assert prow["n_cells"] == 40
    assert prow["population_2011"] == pytest.approx(pop_b[in_prog].sum())


def test_compare_groups_ignores_null_deciles_of_cells_without_residents() -> None:
    """hl.deciles leaves cells with no population null: harmless, so no error and the same result."""
    before, after, dep, prog = _synthetic_programme()
    valid = dep.filter(pl.col("decile").is_between(1, 10))
    with pytest.warns(SkippedRowsWarning, match=r"4 cell\(s\)"):
        want = hl.compare_groups(before, after, prog, deprivation=valid, on_invalid="skip")
    empty = hl.latlng_to_cell([55.5, 55.6], [-3.0, -3.0], 8).to_list()
    b2 = pl.concat([before, _table(empty, [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])])
    a2 = pl.concat([after, _table(empty, [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])])
    dep2 = pl.concat([valid, pl.DataFrame({"cell": pl.Series(empty, dtype=pl.UInt64), "decile": [None, None]},
                                          schema=valid.schema)])  # fmt: skip
    with pytest.warns(
        SkippedRowsWarning, match=r"4 cell\(s\)"
    ):  # the 4 bad programme cells, not the empty ones
        got = hl.compare_groups(b2, a2, prog, deprivation=dep2, on_invalid="skip")
    cols = [c for c in want.columns if c != "n_cells"]
    assert (
        got.filter(pl.col("group") != "all")
        .select(cols)
        .equals(want.filter(pl.col("group") != "all").select(cols))
    )
