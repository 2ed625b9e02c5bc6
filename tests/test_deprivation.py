"""Deprivation: IMD 2019 reproduced from domain ranks, PHE quantiles, Townsend on real tables, hex surfaces."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal import ons
from hyperlocal.exceptions import InvalidInputError, UnmatchedAreasWarning

DOMAINS = {
    "income": "Income_rank",
    "employment": "Employment_rank",
    "education": "Education_rank",
    "health": "Health_rank",
    "crime": "Crime_rank",
    "barriers": "Housing_and_Access_rank",
    "living_environment": "Environment_rank",
}
JAYWICK = "E01021988"  # Tendring 018A


@pytest.fixture(scope="module")
def imd(data: Path) -> pl.DataFrame:
    ranks = pl.read_parquet(data / "imd2019" / "imd2019_ranks_deciles_all_domains_lsoa11_england.parquet")
    return hl.imd_score(ranks, domains=DOMAINS)


def test_imd_score_reproduces_published_imd2019(imd: pl.DataFrame, data: Path) -> None:
    assert imd.height == 32_844
    diff = (imd["imd_rank"] - imd["IMD_rank"]).abs()
    assert (diff == 0).mean() >= 0.995
    assert diff.max() <= 2
    same_decile = (imd["imd_decile"] == imd["IMD_decile"]).mean()
    assert same_decile >= 0.9995
    # Any decile difference sits at a decile boundary (published rank within 2 of a multiple of N/10).
    off = imd.filter(pl.col("imd_decile") != pl.col("IMD_decile"))
    width = 32_844 / 10
    for r in off["IMD_rank"]:
        assert min(abs(r - k * width) for k in range(1, 10)) <= 2
    assert imd.filter(pl.col("lsoa11_code") == JAYWICK)["imd_rank"].item() == 1
    # The scores themselves match the published IMD 2019 scores (3 d.p., computed from unrounded domain scores).
    pub = pl.read_parquet(
        data / "imd2019" / "mysociety_uk_composite_imd_E_with_imd2019_scores_lsoa_uk.parquet"
    )
    j = imd.join(pub.select(pl.col("lsoa").alias("lsoa11_code"), "overall_local_score"), on="lsoa11_code")
    assert j.height == 32_844
    # Σ wᵢ·Xᵢ with the published fractions (Σ = 0.999, not renormalised): the difference is the 3-d.p. rounding of
    # the published scores plus the domain ranks' rounding (observed 0.0014; renormalising by 0.999 gives 0.093).
    assert (j["imd_score"] - j["overall_local_score"]).abs().max() < 2e-3


def test_imd_score_from_scores_custom_weights_and_errors() -> None:
    df = pl.DataFrame({"a": [10.0, 30.0, 20.0, 40.0], "b": [4.0, 3.0, 2.0, 1.0]})
    out = hl.imd_score(df, domains={"a": "a", "b": "b"}, weights={"a": 3, "b": 1}, kind="score")
    # Most deprived on a (weight 3) is row 3 (40): rank 1 on a, rank 4 on b.
    x = lambda r: -23 * math.log(1 - (4 + 1 - r) / 4 * (1 - math.exp(-100 / 23)))  # noqa: E731
    assert out["imd_score"][3] == pytest.approx(0.75 * x(1) + 0.25 * x(4))
    assert out["imd_rank"].to_list()[3] == 1
    with pytest.raises(InvalidInputError, match="give a weight for every domain"):
        hl.imd_score(df, domains={"a": "a"}, weights={"a": 1, "b": 1})
    with pytest.raises(InvalidInputError, match=r"b: 1 row \(first at 2\) are null"):
        hl.imd_score(df.with_columns(b=pl.Series([1.0, 2.0, None, 4.0])), domains={"a": "a", "b": "b"},
                     weights={"a": 1, "b": 1}, kind="score")  # fmt: skip


# PHEindicatormethods::phe_quantile(data.frame(v = 1:25), v, nquantiles = 10, invert = TRUE): the rule
# floor((10 + 1) - ceiling((25 + 1 - rank) / (25 / 10))) with rank of (max - v), ties "min", worked by hand.
PHE_1_TO_25 = [10, 10, 9, 9, 9, 8, 8, 7, 7, 7, 6, 6, 5, 5, 5, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1]


def test_count_based_deciles_follow_the_phe_rule() -> None:
    df = pl.DataFrame({"v": list(range(1, 26))})
    assert hl.deciles(df, "v")["decile"].to_list() == PHE_1_TO_25
    # invert = FALSE (rank 1 = lowest value = most deprived): the mirror image.
    assert hl.deciles(df, "v", most_deprived="low")["decile"].to_list() == PHE_1_TO_25[::-1]
    # Ties share the lowest rank; nulls stay null; fewer units than groups get none.
    tied = pl.DataFrame({"v": [5.0, 5.0, 1.0, None, 3.0, 9.0, 9.0, 2.0, 7.0, 8.0, 6.0]})
    got = hl.deciles(tied, "v")["decile"].to_list()
    assert got[3] is None and got[5] == got[6] == 1 and got[0] == got[1]
    assert hl.deciles(pl.DataFrame({"v": [1.0, 2.0]}), "v")["decile"].to_list() == [None, None]


def test_population_weighted_deciles_hold_a_tenth_of_people() -> None:
    rng = np.random.default_rng(1)
    df = pl.DataFrame({"s": rng.normal(size=5000), "pop": rng.integers(1, 3000, 5000).astype(float)})
    out = hl.deciles(df, "s", weight="pop")
    share = out.group_by("decile").agg(pl.col("pop").sum() / df["pop"].sum()).sort("decile")
    assert (share["pop"] - 0.1).abs().max() <= df["pop"].max() / df["pop"].sum()
    # Decile 1 holds the highest scores.
    assert out.filter(pl.col("decile") == 1)["s"].min() > out.filter(pl.col("decile") == 2)["s"].max()


def _independent_townsend(rows: list[dict[str, float]]) -> list[float]:
    """Townsend written out directly: percentages, logs of U and O, population (unweighted) z-scores."""

    def z(xs: list[float]) -> list[float]:
        m = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))
        return [(x - m) / sd for x in xs]

    u = z([math.log(100 * r["u"] / r["ea"] + 1) for r in rows])
    o = z([math.log(100 * r["o"] / r["hh"] + 1) for r in rows])
    c = z([100 * r["c"] / r["hh"] for r in rows])
    h = z([100 * r["h"] / r["hh"] for r in rows])
    return [a + b + d + e for a, b, d, e in zip(u, o, c, h)]


def _townsend(df: pl.DataFrame) -> pl.DataFrame:
    return hl.townsend(df, unemployed="unemployed", economically_active="economically_active", no_car="no_car",
                       households="households", not_owner_occupied="not_owner_occupied",
                       overcrowded="overcrowded")  # fmt: skip


def test_townsend_camden_2011_equals_direct_computation(data: Path) -> None:
    folder = data / "census2011" / "camden_2011"
    raw: dict[str, dict[str, float]] = {}
    for table, fields in (
        (
            "KS601EW",
            {"u": ["KS601EW0005"], "ea": ["KS601EW0002", "KS601EW0003", "KS601EW0004", "KS601EW0005"]},
        ),
        ("KS404EW", {"c": ["KS404EW0002"], "hh": ["KS404EW0001"]}),
        ("KS402EW", {"all": ["KS402EW0001"], "own": ["KS402EW0002", "KS402EW0003"]}),
        ("QS409EW", {"o": ["QS409EW0004", "QS409EW0005"]}),
    ):
        with open(folder / f"{table}_oa11_camden.csv", newline="") as f:
            for rec in csv.DictReader(f):
                r = raw.setdefault(rec["GeographyCode"], {})
                for k, cols in fields.items():
                    r[k] = sum(float(rec[c]) for c in cols)
    for r in raw.values():
        r["h"] = r["all"] - r["own"]
    codes = sorted(raw)
    expected = _independent_townsend([raw[c] for c in codes])
    ours = _townsend(ons.townsend_counts_2011_oa(folder))
    assert ours["OA11CD"].to_list() == codes and len(codes) == 749
    assert np.abs(ours["townsend"].to_numpy() - np.array(expected)).max() < 1e-12


def test_townsend_trafford_2021_equals_direct_computation(data: Path) -> None:
    folder = data / "census2021" / "trafford_oa21"
    raw: dict[str, dict[str, float]] = {}

    def add(table: str, cat_col: str, rule) -> None:  # noqa: ANN001
        for rec in pl.read_parquet(folder / f"{table}_oa21_trafford.parquet").iter_rows(named=True):
            r = raw.setdefault(rec["area_code"], {"u": 0, "ea": 0, "c": 0, "hh": 0, "h": 0, "o": 0})
            for key in rule(rec[cat_col]):
                r[key] += rec["value"]

    add("ts066_economic_activity", "economic_activity_status",
        lambda c: (["ea"] + (["u"] if c.endswith("Unemployed") else []))
        if c.startswith("Economically active (excluding full-time students)") else [])  # fmt: skip
    add("ts045_car_van_availability", "availability_category",
        lambda c: ["hh"] + (["c"] if c.startswith("No cars") else []))  # fmt: skip
    add("ts054_tenure", "household_tenure", lambda c: [] if c.startswith("Owned") else ["h"])
    add(
        "ts052_occupancy_rating_bedrooms",
        "bedroom_occupancy",
        lambda c: ["o"] if c.endswith(("-1", "less")) else [],
    )
    codes = sorted(raw)
    expected = _independent_townsend([raw[c] for c in codes])
    ours = _townsend(ons.townsend_counts_2021_oa(folder))
    assert ours["OA21CD"].to_list() == codes and len(codes) == 738
    assert np.abs(ours["townsend"].to_numpy() - np.array(expected)).max() < 1e-12


def test_townsend_on_cells_from_apportioned_counts_conserves_totals(data: Path) -> None:
    counts = ons.townsend_counts_2021_oa(data / "census2021" / "trafford_oa21")
    oas = hl.read_areas(data / "geography" / "trafford_oa21_generalised.geojson", code="area_code")
    oas = oas.rename({"area_code": "OA21CD"})
    xw = hl.crosswalk(oas, resolution=9, code="OA21CD", method="area")
    cols = ["unemployed", "economically_active", "no_car", "households", "not_owner_occupied", "overcrowded"]
    cells = hl.apportion(counts, xw, code="OA21CD", extensive=cols)
    for c in cols:
        assert abs(cells[c].sum() - counts[c].sum()) < 1e-6 * counts[c].sum()
    t = _townsend(cells)
    assert t["townsend"].null_count() == int((cells["households"] == 0).sum())
    # The score recomputed here from the apportioned counts: unweighted z-scores over the cells with households.
    h = cells["households"].to_numpy()
    ok = h > 0
    pct = lambda n, d: 100 * cells[n].to_numpy()[ok] / cells[d].to_numpy()[ok]  # noqa: E731
    z = lambda v: (v - v.mean()) / v.std()  # noqa: E731
    expected = (
        z(np.log(pct("unemployed", "economically_active") + 1)) + z(np.log(pct("overcrowded", "households") + 1))
        + z(pct("no_car", "households")) + z(pct("not_owner_occupied", "households"))
    )  # fmt: skip
    assert np.abs(t["townsend"].to_numpy()[ok] - expected).max() < 1e-12
    # Where people are: the household-weighted mean of cell U equals Trafford's overall rate only through the
    # counts (never by averaging percentages): check the totals behind it.
    assert cells["unemployed"].sum() / cells["economically_active"].sum() == pytest.approx(
        counts["unemployed"].sum() / counts["economically_active"].sum(), rel=1e-12
    )


def test_carstairs_is_a_plain_sum_of_z_scores() -> None:
    df = pl.DataFrame({"u": [5, 10, 2, 8], "ea": [100, 100, 50, 80], "c": [30, 60, 10, 40], "hh": [80, 90, 40, 70],
                       "o": [3, 9, 1, 6], "s": [20, 50, 5, 30], "p": [200, 210, 100, 180]})  # fmt: skip
    out = hl.carstairs(df, unemployed="u", economically_active="ea", no_car="c", households="hh", overcrowded="o",
                       low_social_class="s", social_class_base="p")  # fmt: skip

    def z(v: np.ndarray) -> np.ndarray:
        return (v - v.mean()) / v.std()

    a = lambda n, d: 100 * df[n].to_numpy() / df[d].to_numpy()  # noqa: E731
    expected = z(a("u", "ea")) + z(a("o", "hh")) + z(a("c", "hh")) + z(a("s", "p"))
    assert np.allclose(out["carstairs"].to_numpy(), expected, atol=1e-12)


@pytest.fixture(scope="module")
def surfaces(imd: pl.DataFrame, data: Path) -> dict[int, pl.DataFrame]:
    pop = pl.read_parquet(data / "population" / "mid2020_population_single_year_age_lsoa11_ew.parquet")
    cent = pl.read_parquet(data / "geography" / "lsoa11_centroids_wgs84_not_pwc.parquet")
    scores = imd.select("lsoa11_code", "imd_score").join(
        pop.select("lsoa11_code", pl.col("total_population").cast(pl.Float64).alias("population")),
        on="lsoa11_code",
    )
    assert scores.height == 32_844
    xw = hl.crosswalk(cent, resolution=8, code="lsoa11_code", lat="lat", lng="lon")
    # The centroids cover England and Wales, the IMD England only: the 1,909 Welsh LSOAs are named, not lost.
    with pytest.warns(UnmatchedAreasWarning, match=r"1909 area\(s\) have no row in values \(e.g. \['W01"):
        return hl.deprivation_surface(
            scores, xw, code="lsoa11_code", population="population", resolutions=(8, 7)
        )


def test_national_imd_surface(surfaces: dict[int, pl.DataFrame], imd: pl.DataFrame, data: Path) -> None:
    pop = pl.read_parquet(data / "population" / "mid2020_population_single_year_age_lsoa11_ew.parquet")
    england = pop.join(imd.select("lsoa11_code"), on="lsoa11_code")["total_population"].sum()
    cent = pl.read_parquet(data / "geography" / "lsoa11_centroids_wgs84_not_pwc.parquet")
    jay = cent.filter(pl.col("lsoa11_code") == JAYWICK)
    for res, s in surfaces.items():
        assert abs(s["population"].sum() - england) < 1e-6
        share = s.group_by("decile").agg(pl.col("population").sum() / s["population"].sum()).sort("decile")
        assert share.height == 10
        assert (share["population"] - 0.1).abs().max() <= s["population"].max() / s["population"].sum()
        cell = hl.cell_to_parent(hl.latlng_to_cell(jay["lat"], jay["lon"], 15), res).item()
        assert s.filter(pl.col("cell") == cell)["decile"].item() == 1, res
    # Rolled-up res 7 equals the population-weighted mean of its res-8 children.
    up = hl.rollup(surfaces[8], resolution=7, intensive="imd_score", weight="population")
    assert np.allclose(up["imd_score"].to_numpy(), surfaces[7]["imd_score"].to_numpy(), rtol=1e-12)
