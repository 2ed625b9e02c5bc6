"""Programme evaluation (hyperlocal.evaluate_programme): a hand-computed matching example, entropy balancing and
the balance table on the real English units, calibration of the placebo test (random and spatially blocked),
a planted effect, determinism, and bad input.

The real units are the stable 2011/2021 LSOA units of England (tests/units.py): Census 2011 QS302EW and 2021
TS037 general health, IMD 2019, RUC 2011, ages from QS103EW and the 2021 six age bands, and the Community
Needs Index 2023 "left behind" flag.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
from units import COVARIATES, HEALTH, england_units  # noqa: E402


@pytest.fixture(scope="module")
def units(data: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return england_units(data)


@pytest.fixture(scope="module")
def north(units: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The 2,295 non-left-behind units north of BNG northing 450 km (North East, Cumbria, North and West
    Yorkshire, Lancashire): a pool small enough to run hundreds of evaluations in a test."""
    b, a, _ = units
    sub = b.filter((pl.col("y") > 450_000) & ~pl.col("left_behind"))
    return sub, a.join(sub.select("code"), on="code", how="semi")


def _tiny() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Programme A, B, C (x = 1, 5, 9); pool P1..P5 (x = 1.1, 4.8, 20, 0, 8.5): nearest matches A→P1 (0.1),
    B→P2 (0.2), C→P5 (0.5). Only 'good' and 'bad' residents."""
    codes = ["A", "B", "C", "P1", "P2", "P3", "P4", "P5"]
    x = [1.0, 5.0, 9.0, 1.1, 4.8, 20.0, 0.0, 8.5]
    n0 = [100, 200, 100, 50, 100, 80, 90, 200]
    bad0 = [10, 20, 10, 5, 10, 8, 9, 20]
    n1 = [100, 200, 100, 50, 100, 80, 90, 200]
    bad1 = [12, 20, 8, 4, 10, 30, 1, 30]

    def table(n: list[int], bad: list[int], with_x: bool) -> pl.DataFrame:
        cols = {"code": codes, "very_good": [0.0] * 8, "good": [float(a - b) for a, b in zip(n, bad)],
                "fair": [0.0] * 8, "bad": [float(v) for v in bad], "very_bad": [0.0] * 8}  # fmt: skip
        return pl.DataFrame(cols | ({"x": x} if with_x else {}))

    return table(n0, bad0, True), table(n1, bad1, False)


def test_matching_hand_computed() -> None:
    """Programme: 40/400 bad in both years (change 0). Matches are scaled to their programme unit's baseline
    population: P1 × 100/50 = 2, P2 × 200/100 = 2, P5 × 100/200 = 0.5. Comparator 2011: (2·5 + 2·10 + 0.5·20)
    / (2·50 + 2·100 + 0.5·200) = 40/400 = 10 %; 2021: (2·4 + 2·10 + 0.5·30)/400 = 43/400 = 10.75 %. Effect
    0 − 0.75 = −0.75 pp."""
    b, a = _tiny()
    r = hl.evaluate_programme(b, a, ["A", "B", "C"], covariates=["x"], caliper=None, placebos=0)
    e = r.effect.row(0, named=True)
    assert e["programme_pct_2011"] == pytest.approx(10) and e["programme_change_pp"] == pytest.approx(0, abs=1e-12)
    assert e["comparator_pct_2011"] == pytest.approx(10) and e["comparator_pct_2021"] == pytest.approx(10.75)
    assert e["effect_pp"] == pytest.approx(-0.75) and e["p_value"] is None
    w = dict(zip(r.weights["code"], r.weights["weight"]))
    assert w == pytest.approx({"P1": 2.0, "P2": 2.0, "P5": 0.5})
    assert r.weights["matched"].to_list() == [1, 1, 1] and e["n_comparator"] == 3
    # One covariate: the Mahalanobis distance is |Δx| / SD(x) over all 8 units. A caliper between C's distance
    # (0.5) and B's (0.2) leaves C unmatched: named by default, dropped and counted on request
    sd = float(np.std(b["x"].to_numpy(), ddof=1))
    with pytest.raises(InvalidInputError, match=r"1 of 3 programme unit\(s\) have no pool unit within the .*ids C"):
        hl.evaluate_programme(b, a, ["A", "B", "C"], covariates=["x"], caliper=0.3 / sd, placebos=0)
    with pytest.warns(SkippedRowsWarning, match="ids C"):
        r = hl.evaluate_programme(b, a, ["A", "B", "C"], covariates=["x"], caliper=0.3 / sd, placebos=0,
                                  on_unmatched="drop")  # fmt: skip
    e = r.effect.row(0, named=True)
    # A and B with P1 and P2 (factor 2 each): programme 2011 30/300, 2021 32/300; comparator 30/300, 28/300
    assert e["n_programme"] == 2 and e["n_programme_dropped"] == 1 and r.audit["programme_unmatched_first"] == ["C"]
    assert e["effect_pp"] == pytest.approx(100 * (32 - 30) / 300 - 100 * (28 - 30) / 300)


def test_entropy_weights_reproduce_the_programme_means(units: tuple) -> None:
    """CNI 2023 left-behind units against the rest of England: the weighted comparator's population-weighted
    covariate means equal the programme's to 1e-8 (relative), from the weights returned, recomputed here."""
    b, a, _ = units
    r = hl.evaluate_programme(b, a, b.filter(pl.col("left_behind"))["code"], covariates=COVARIATES,
                              method="weights", placebos=0)  # fmt: skip
    n = b.select(pl.sum_horizontal(HEALTH)).to_series().cast(pl.Float64)
    t = b.with_columns(n=n).with_columns(
        bad_or_very_bad_pct=100 * (pl.col("bad") + pl.col("very_bad")) / pl.col("n"),
        very_good_pct=100 * pl.col("very_good") / pl.col("n"),
    )
    prog = t.filter(pl.col("left_behind"))
    comp = t.join(r.weights, on="code")
    mass = (comp["weight"] * comp["n"]).to_numpy()
    for c in COVARIATES:
        p = np.average(prog[c].to_numpy(), weights=prog["n"].to_numpy())
        q = np.average(comp[c].to_numpy(), weights=mass)
        assert abs(p - q) <= 1e-8 * max(1.0, abs(p)), c
    assert r.balance["smd_after"].abs().max() < 1e-8 and r.balance["balanced"].all()
    assert r.balance["smd_before"].abs().max() > 2  # left-behind areas are far more deprived than England
    assert comp.height == (~b["left_behind"]).sum()  # every pool unit gets a positive weight


def test_balance_table_and_effect_recomputed_independently(units: tuple) -> None:
    """SMD = (mean programme − mean comparator) / √((s²_programme + s²_pool)/2), population-weighted, and the
    crude difference in differences, recomputed with numpy from the matched comparator's weights."""
    b, a, _ = units
    prog_ids = b.filter(pl.col("left_behind"))["code"]
    with pytest.warns(SkippedRowsWarning, match="no pool unit within the caliper"):
        r = hl.evaluate_programme(b, a, prog_ids, covariates=["imd", "age_65_plus_pct", "rural_pct"],
                                  on_unmatched="drop", placebos=0)  # fmt: skip
    assert r.audit["programme_unmatched"] == r.effect["n_programme_dropped"][0] > 0
    n = b.select(pl.sum_horizontal(HEALTH)).to_series().cast(pl.Float64).to_numpy()
    m = r.matches
    assert m.height == prog_ids.len() and m["match"].null_count() == r.audit["programme_unmatched"]
    assert m.filter(pl.col("match").is_null())["code"].head(5).to_list() == r.audit["programme_unmatched_first"]
    kept = b["code"].is_in(m.filter(pl.col("match").is_not_null())["code"].implode()).to_numpy()
    assert kept.sum() == r.effect["n_programme"][0]
    w = b.select("code").join(r.weights, on="code", how="left", maintain_order="left")["weight"].fill_null(0.0)
    w = w.to_numpy()
    pool = ~b["left_behind"].to_numpy()
    for row in r.balance.iter_rows(named=True):
        x = b[row["covariate"]].to_numpy()
        mp = np.average(x[kept], weights=n[kept])
        vp = np.average((x[kept] - mp) ** 2, weights=n[kept])
        mu = np.average(x[pool], weights=n[pool])
        vu = np.average((x[pool] - mu) ** 2, weights=n[pool])
        mc = np.average(x[w > 0], weights=(w * n)[w > 0])
        assert row["programme_mean"] == pytest.approx(mp, rel=1e-10)
        assert row["pool_mean"] == pytest.approx(mu, rel=1e-10)
        assert row["comparator_mean"] == pytest.approx(mc, rel=1e-10)
        assert row["smd_before"] == pytest.approx((mp - mu) / np.sqrt((vp + vu) / 2), rel=1e-10)
        assert row["smd_after"] == pytest.approx((mp - mc) / np.sqrt((vp + vu) / 2), rel=1e-10)
        assert abs(row["smd_after"]) < 0.1
    bad0 = (b["bad"] + b["very_bad"]).cast(pl.Float64).to_numpy()
    t = b.select("code").join(a, on="code", how="left", maintain_order="left")
    bad1 = (t["bad"] + t["very_bad"]).cast(pl.Float64).to_numpy()
    n1 = t.select(pl.sum_horizontal(HEALTH)).to_series().cast(pl.Float64).to_numpy()
    e = r.effect.row(0, named=True)
    prog = 100 * (bad1[kept].sum() / n1[kept].sum() - bad0[kept].sum() / n[kept].sum())
    comp = 100 * ((w * bad1).sum() / (w * n1).sum() - (w * bad0).sum() / (w * n).sum())
    assert e["programme_change_pp"] == pytest.approx(prog, rel=1e-10)
    assert e["comparator_change_pp"] == pytest.approx(comp, rel=1e-10)
    assert e["effect_pp"] == pytest.approx(prog - comp, rel=1e-10)


def _clusters(sub: pl.DataFrame, rng: np.random.Generator, n_clusters: int, size: int) -> pl.Series:
    """A pseudo-programme of contiguous clusters: random seeds, each with its size − 1 nearest units."""
    from scipy.spatial import cKDTree

    xy = sub.select("x", "y").to_numpy()
    _, near = cKDTree(xy).query(xy[rng.choice(sub.height, n_clusters, replace=False)], k=size)
    return sub["code"].gather(np.unique(near.ravel()))


@pytest.mark.parametrize("variant", ["random", "blocked"])
def test_placebo_test_is_calibrated(north: tuple, variant: str) -> None:
    """200 pseudo-programmes from the pool, each treated as real with 39 placebos: the 5 % test rejects in 5 %
    of them within Monte-Carlo error (3 binomial SDs: 5 ± 4.6 %).

    Random: 40 units drawn at random (the same design as its placebos). Blocked: 8 contiguous clusters of 5
    units, against blocked placebos grown over the 6-nearest-neighbour graph. 39 placebos instead of 999 keeps
    the test exact: α(B + 1) = 2 is a whole number, so under exchangeability P(p ≤ 0.05) = 2/40 = 0.05 exactly
    (Davison & Hinkley 1997, §4.2); fewer placebos cost power, not size. Matching for one variant, entropy
    balancing for the other, so both estimators are calibrated."""
    sub, after = north
    rng = np.random.default_rng(14 if variant == "random" else 15)
    reps, rejections, p_values = 200, 0, []
    covs = [c for c in COVARIATES if c != "rural_pct"]
    for rep in range(reps):
        if variant == "random":
            prog = sub["code"].gather(rng.choice(sub.height, 40, replace=False))
            opts: dict = {"method": "match", "caliper": None}
        else:
            prog = _clusters(sub, rng, 8, 5)
            # rural_pct left out: a cluster of wholly urban units has rural share 0, the pool's minimum, where
            # no entropy weights exist (they would have to be 0 on every unit with any rural share)
            opts = {"method": "weights", "placebo": "blocked", "coordinates": ("x", "y"), "covariates": covs}
        with _quiet():
            r = hl.evaluate_programme(sub, after, prog, placebos=39, strata="imd_decile", seed=rep,
                                      **({"covariates": COVARIATES} | opts))  # fmt: skip
        p = r.effect["p_value"][0]
        p_values.append(p)
        rejections += p <= 0.05
    rate = rejections / reps
    sd = (0.05 * 0.95 / reps) ** 0.5
    print(f"{variant}: rejection rate {rate:.3f} (5 % ± {3 * sd:.3f}), mean p {np.mean(p_values):.3f}")
    assert abs(rate - 0.05) <= 3 * sd, rate
    assert 0.4 < np.mean(p_values) < 0.6  # p-values are roughly uniform


class _quiet:
    """Placebos whose weights do not exist (a pseudo-programme outside the small pool's hull) are reported by
    a SkippedRowsWarning; in the calibration loop they are expected and counted by the test instead."""

    def __enter__(self) -> None:
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", SkippedRowsWarning)

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def test_planted_effect_is_recovered(north: tuple) -> None:
    """+2 pp of 'bad or very bad' planted in the 2021 counts of a random 60-unit programme (people moved from
    'good'): the estimate moves by exactly the planted shift, and its 95 % placebo interval holds the planted
    shift in at least 17 of 20 programmes (for a 95 % interval, 16 or fewer happens with probability 1.6 %)."""
    sub, after = north
    rng = np.random.default_rng(2)
    n1 = after.select(pl.sum_horizontal(HEALTH)).to_series()
    opts = {"covariates": COVARIATES, "method": "match", "caliper": None, "placebos": 99, "strata": "imd_decile"}
    covered, estimates = 0, []
    for rep in range(20):
        prog = sub["code"].gather(rng.choice(sub.height, 60, replace=False))
        moved = pl.when(pl.col("code").is_in(prog.implode())).then((0.02 * n1).round()).otherwise(0.0)
        planted = after.with_columns(moved=moved).with_columns(
            good=pl.col("good") - pl.col("moved"), bad=pl.col("bad") + pl.col("moved")
        )
        assert planted["good"].min() >= 0
        in_prog = planted.filter(pl.col("code").is_in(prog.implode()))
        shift = 100 * in_prog["moved"].sum() / in_prog.select(pl.sum_horizontal(HEALTH)).to_series().sum()
        assert shift == pytest.approx(2.0, abs=0.05)
        e = hl.evaluate_programme(sub, planted.drop("moved"), prog, seed=rep, **opts).effect.row(0, named=True)
        if rep == 0:  # the comparator is untouched, so the estimate moves by exactly the planted shift
            e0 = hl.evaluate_programme(sub, after, prog, seed=rep, **opts).effect.row(0, named=True)
            assert e["effect_pp"] - e0["effect_pp"] == pytest.approx(shift, rel=1e-9)
        covered += e["interval_lo"] < shift < e["interval_hi"]
        estimates.append(e["effect_pp"] - shift)
    print(f"planted +2 pp: covered {covered}/20, mean error {np.mean(estimates):+.3f} pp, SD {np.std(estimates):.3f}")
    assert covered >= 17
    assert abs(np.mean(estimates)) < 0.15  # unbiased: 20 programmes, SD of one estimate ≈ 0.2 pp


def test_same_seed_same_result_other_seed_other_draws(north: tuple) -> None:
    sub, after = north
    prog = sub.filter(pl.col("imd_decile") <= 3)["code"].head(30)
    run = {s: hl.evaluate_programme(sub, after, prog, covariates=COVARIATES, placebos=49, placebo="blocked",
                                    coordinates=("x", "y"), method="match", caliper=None, seed=s)
           for s in (7, 7, 8)}  # fmt: skip
    a = hl.evaluate_programme(sub, after, prog, covariates=COVARIATES, placebos=49, placebo="blocked",
                              coordinates=("x", "y"), method="match", caliper=None, seed=7)  # fmt: skip
    assert a.placebo.equals(run[7].placebo) and a.effect.equals(run[7].effect)
    assert not run[8].placebo["effect_pp"].equals(run[7].placebo["effect_pp"])
    assert run[8].effect["effect_pp"][0] == run[7].effect["effect_pp"][0]  # the estimate itself is not random


def test_standardised_effect_and_bands_that_do_not_tile(units: tuple) -> None:
    """The age-standardised effect: programme and comparator shares are Σ observed / Σ expected × the reference
    share (checked against age_standardise of the summed programme); bands that do not tile are named."""
    b, a, ref = units
    sub = b.filter(pl.col("y") > 450_000)
    after = a.join(sub.select("code"), on="code", how="semi")
    prog = sub.filter(pl.col("left_behind"))["code"]
    r = hl.evaluate_programme(sub, after, prog, covariates=COVARIATES, method="weights", placebos=19,
                              standardise=ref)  # fmt: skip
    std = r.effect.filter(pl.col("measure") == "age_standardised").row(0, named=True)
    ages = [c for c in after.columns if c.startswith("age_")]
    summed = after.filter(pl.col("code").is_in(prog.implode())).select(pl.col([*HEALTH, *ages]).sum())
    direct = hl.age_standardise(summed.with_columns(code=pl.lit("p")), ref)["bad_or_very_bad_std_pct"][0]
    assert std["programme_pct_2021"] == pytest.approx(direct, rel=1e-10)
    assert r.placebo["effect_std_pp"].null_count() == 0
    with pytest.raises(InvalidInputError, match=r"standardise \(after\).*do not tile the reference band '16-49'"):
        hl.evaluate_programme(sub, after.drop("age_25_34"), prog, covariates=COVARIATES, placebos=0,
                              method="weights", standardise=ref)  # fmt: skip
    with pytest.raises(InvalidInputError, match="cannot be age-standardised"):
        hl.evaluate_programme(sub, after, prog, covariates=COVARIATES, placebos=0, method="weights",
                              standardise=ref, outcome="very_good")  # fmt: skip


def test_bad_input_is_named(north: tuple) -> None:
    b, a = _tiny()
    ok = {"covariates": ["x"], "caliper": None, "placebos": 0}
    with pytest.raises(InvalidInputError, match=r"covariate 'x': 1 unit\(s\) null.*ids P2"):
        hl.evaluate_programme(b.with_columns(x=pl.when(pl.col("code") == "P2").then(None).otherwise(pl.col("x"))),
                              a, ["A"], **ok)  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"covariates \['k'\]: zero variance"):
        hl.evaluate_programme(b.with_columns(k=pl.lit(3.0)), a, ["A"], **ok | {"covariates": ["x", "k"]})
    with pytest.raises(InvalidInputError, match=r"covariates: 'nope' is not a column of before"):
        hl.evaluate_programme(b, a, ["A"], **ok | {"covariates": ["nope"]})
    with pytest.raises(InvalidInputError, match=r"programme: 2 id\(s\) are not units of the tables \(Z1, Z2\)"):
        hl.evaluate_programme(b, a, ["A", "Z1", "Z2"], **ok)
    with pytest.raises(InvalidInputError, match="none of its 0 unit"):
        hl.evaluate_programme(b, a, [], **ok)
    with pytest.raises(InvalidInputError, match="covers all 8 units"):
        hl.evaluate_programme(b, a, b["code"], **ok)
    with pytest.raises(InvalidInputError, match=r"placebos: 3 candidate units outside the programme, fewer than its 5"):
        hl.evaluate_programme(b, a, ["A", "B", "C", "P1", "P2"], **ok | {"placebos": 9})
    with pytest.raises(InvalidInputError, match=r"stratum 'u': 2 programme units, 1 candidates"):
        strata = b.with_columns(s=pl.Series(["u", "u", "v", "u", "v", "v", "v", "v"]))
        hl.evaluate_programme(strata, a, ["A", "B"], **ok | {"placebos": 9, "strata": "s"})
    with pytest.raises(InvalidInputError, match="lies outside the pool's range"):
        hl.evaluate_programme(b, a, ["P3"], **ok | {"method": "weights"})
    with pytest.raises(InvalidInputError, match="method: got 'nn'"):
        hl.evaluate_programme(b, a, ["A"], **ok | {"method": "nn"})
    with pytest.raises(InvalidInputError, match="needs the units' adjacency"):
        hl.evaluate_programme(b, a, ["A"], **ok | {"placebos": 5, "placebo": "blocked"})
    with pytest.raises(InvalidInputError, match=r"before\['code'\]: ids repeated \(A\)"):
        hl.evaluate_programme(pl.concat([b, b.head(1)]), a, ["A"], **ok)
    # units with no residents in a year are left out, counted and reported
    empty = a.with_columns(pl.when(pl.col("code") == "P4").then(0.0).otherwise(pl.col(c)).alias(c) for c in HEALTH)
    with pytest.warns(SkippedRowsWarning, match=r"1 without residents in a year \(e.g. P4\)"):
        r = hl.evaluate_programme(b, empty, ["A", "B", "C"], **ok)
    assert r.audit["units_without_residents"] == 1
    # the real units: too few candidates in an IMD decile for a programme that takes most of it
    sub, after = north
    d1 = sub.filter(pl.col("imd_decile") == 1)["code"]
    with pytest.raises(InvalidInputError, match=r"stratum '1': \d+ programme units, \d+ candidates"):
        hl.evaluate_programme(sub, after, d1.head(d1.len() - 5), covariates=COVARIATES, method="match",
                              caliper=None, placebos=9, strata="imd_decile")  # fmt: skip


def test_charts_are_written(north: tuple, tmp_path: Path) -> None:
    sub, after = north
    prog = sub.filter(pl.col("imd_decile") <= 2)["code"].head(40)
    r = hl.evaluate_programme(sub, after, prog, covariates=COVARIATES, caliper=None, placebos=49,
                              chart=tmp_path / "placebo.png", balance_chart=tmp_path / "balance.png")  # fmt: skip
    for f in ("placebo.png", "balance.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r.placebo.height == 49 and r.placebo["ok"].all()


_THREADS_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
import polars as pl, hyperlocal as hl
from units import COVARIATES, england_units
b, a, ref = england_units(Path(sys.argv[3]))
sub = b.filter((pl.col("y") > 450_000) & ~pl.col("left_behind"))
after = a.join(sub.select("code"), on="code", how="semi")
prog = sub.filter(pl.col("imd_decile").is_between(3, 6))["code"].head(50)
for method in ("weights", "match"):
    r = hl.evaluate_programme(sub, after, prog, covariates=COVARIATES[:-1], method=method, caliper=None,
                              placebos=29, placebo="blocked", coordinates=("x", "y"), standardise=ref, seed=3)
    pl.concat([r.placebo.select(pl.col(pl.Float64)), r.effect.select("effect_pp", "p_value")],
              how="diagonal").write_parquet(f"{sys.argv[1]}/{method}.parquet")
"""


def test_result_does_not_depend_on_the_thread_count(data: Path, tmp_path: Path) -> None:
    """Placebo draws are sequential and no reduction goes through threaded BLAS: 1 and 4 threads (OpenBLAS,
    OpenMP, Polars, rayon) give the same bytes."""
    import os
    import subprocess

    out = {}
    for threads in ("1", "4"):
        d = tmp_path / threads
        d.mkdir()
        env = {**os.environ, **{k: threads for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "POLARS_MAX_THREADS", "RAYON_NUM_THREADS")}}  # fmt: skip
        subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, str(d), str(Path(__file__).parent), str(data)],
                       check=True, env=env)  # fmt: skip
        out[threads] = {m: (d / f"{m}.parquet").read_bytes() for m in ("weights", "match")}
    assert out["1"] == out["4"]
