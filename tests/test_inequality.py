"""SII / RII: PHEindicatormethods 2.1.0's published test figures, the regression against statsmodels,
determinism, speed, and errors."""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import polars as pl
import pytest
from hyperlocal.exceptions import InvalidInputError
from hyperlocal.inequality import order_positions, relative_ranks, sii

PHE = Path("reference") / "phe_indicator_methods" / "testdata_SII__testdata_SII.csv"

# (first RecordNo, rows, sii() options, inputs: "se" or 95% limits "cl", PHE's repetitions) as in
# tests/testthat/testSII.R of PHEindicatormethods 2.1.0 (each block is 2 areas × 10 deciles, or × 5 quintiles).
CASES = [
    (1, 20, {}, "se"),
    (1, 20, {}, "cl"),
    (21, 20, {"confidence": 0.99}, "cl"),
    (41, 20, {}, "se"),
    (61, 10, {}, "se"),  # quintiles: PHE publishes the SII only
    (71, 20, {"value_type": "rate"}, "se"),
    (71, 20, {"value_type": "rate"}, "cl"),
    (91, 20, {"value_type": "proportion"}, "se"),
    (91, 20, {"value_type": "proportion"}, "cl"),
    (111, 20, {"value_type": "proportion", "multiplier": 100}, "cl"),
    (131, 20, {"value_type": "proportion", "multiplier": -100}, "cl"),
    (246, 20, {}, "cl"),  # same data as 1..20, with the intercept
    (266, 20, {"value_type": "rate"}, "cl"),
    (286, 20, {"value_type": "rate"}, "cl"),  # proportions analysed as a rate, as the R test does
    (306, 20, {"value_type": "rate", "transform": True}, "cl"),
    (386, 20, {"value_type": "rate", "transform": True, "multiplier": -1}, "cl"),
    (406, 20, {"value_type": "rate", "transform": True, "confidence": 0.98}, "cl"),
    (426, 20, {"value_type": "rate", "transform": True, "rii": False}, "cl"),
    (326, 20, {"value_type": "proportion", "transform": True}, "cl"),
    (346, 20, {"value_type": "proportion", "transform": True, "multiplier": -1}, "cl"),
    (466, 20, {"value_type": "proportion", "transform": True, "confidence": 0.98}, "cl"),
    (446, 20, {"value_type": "proportion", "transform": True, "rii": False}, "cl"),
]

POINT = [("sii", "sii"), ("rii", "rii"), ("intercept", "Intercept")]
LIMITS = [("sii", "sii_lowercl_1", "sii_uppercl_1"), ("rii", "rii_lowercl_1", "rii_uppercl_1")]


@pytest.fixture(scope="module")
def phe(data: Path) -> pl.DataFrame:
    return pl.read_csv(data / PHE, infer_schema_length=None)


def _run(phe: pl.DataFrame, first: int, n: int, opts: dict, inputs: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    block = phe.filter(pl.col("RecordNo").is_between(first, first + n - 1))
    limits = {"se": "StandardError"} if inputs == "se" else {"lower": "LowerCL", "upper": "UpperCL"}
    out = sii(block, value="Value", population="Population", quantile="Quantile", by="Area", **limits, **opts)
    return out, block.filter(pl.col("sii").is_not_null()).sort("Area")


def mc_tolerance(lo: float, hi: float, confidence: float, repetitions: list[int], k: float = 4.0) -> float:
    """k standard errors of the difference of two Monte-Carlo order statistics at the limit's tail.

    The order statistic at tail probability q of R draws has standard error √(q(1 − q)/R) / f(x_q); for a
    near-normal sampling distribution of scale σ ≈ (hi − lo)/(2 z), f(x_q) = φ(z)/σ. PHE's figures carry their
    own Monte-Carlo error (R = 100,000, or 10,000 for one block), ours ours: the two add in quadrature.
    """
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    q = (1 - confidence) / 2
    sigma = (hi - lo) / (2 * z)
    per_draw = np.sqrt(q * (1 - q)) / NormalDist().pdf(z) * sigma
    return k * per_draw * np.sqrt(sum(1.0 / r for r in repetitions))


@pytest.mark.parametrize(("first", "n", "opts", "inputs"), CASES)
def test_reproduces_phe_published_figures(phe, first, n, opts, inputs):
    out, expected = _run(phe, first, n, opts, inputs)
    assert out["Area"].to_list() == expected["Area"].to_list()
    confidence = opts.get("confidence", 0.95)
    for got, want in zip(out.iter_rows(named=True), expected.iter_rows(named=True)):
        # point estimates: a deterministic regression, so to 1e-6 relative (observed ~1e-14)
        for ours, theirs in POINT:
            if want[theirs] is not None and ours in got:
                assert got[ours] == pytest.approx(want[theirs], rel=1e-6), (ours, first)
        # limits: Monte-Carlo, within 4 standard errors of the difference of two simulations
        for stat, lo_col, hi_col in LIMITS:
            if want[lo_col] is None or stat not in got:
                continue
            tol = mc_tolerance(want[lo_col], want[hi_col], confidence, [100_000, want["Repetitions"]])
            assert abs(got[f"{stat}_lo"] - want[lo_col]) < tol, (stat, "lo", first, got, want)
            assert abs(got[f"{stat}_hi"] - want[hi_col]) < tol, (stat, "hi", first, got, want)
    if opts.get("rii") is False:
        assert "rii" not in out.columns


def test_regression_equals_statsmodels_wls():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    pop = rng.uniform(500, 5000, 10)
    y = 70 + np.arange(10) * 0.8 + rng.normal(0, 1, 10)
    t = pl.DataFrame({"q": np.arange(1, 11), "pop": pop, "y": y, "se": np.full(10, 0.5)})
    out = sii(t, value="y", population="pop", quantile="q", se="se", repetitions=1000)
    fit = sm.WLS(y, sm.add_constant(relative_ranks(pop)), weights=pop).fit()
    assert out["sii"][0] == pytest.approx(fit.params[1], rel=1e-12)
    assert out["intercept"][0] == pytest.approx(fit.params[0], rel=1e-12)
    assert out["rii"][0] == pytest.approx((fit.params[0] + fit.params[1]) / fit.params[0], rel=1e-12)


def test_relative_ranks_are_cumulative_midpoints():
    assert relative_ranks(np.array([12.0, 10.0, 78.0])) == pytest.approx([0.06, 0.17, 0.61])


def test_limit_positions_are_phe_order_statistics():
    assert order_positions(100_000, 0.95) == (2499, 97499)
    assert order_positions(10_000, 0.99) == (49, 9949)


def _deciles(areas: int = 3, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "area": np.repeat([f"A{i}" for i in range(areas)], 10),
            "decile": np.tile(np.arange(1, 11), areas),
            "pop": rng.uniform(5000, 9000, 10 * areas),
            "le": 75 + np.tile(np.arange(10), areas) * 0.9 + rng.normal(0, 1, 10 * areas),
            "se": rng.uniform(1, 2, 10 * areas),
        }
    )


def test_seeded_and_independent_of_row_order_and_threads():
    t = _deciles()
    kw = {"value": "le", "population": "pop", "quantile": "decile", "se": "se", "by": "area"}
    a = sii(t, **kw, seed=7)
    b = sii(t.sample(fraction=1.0, shuffle=True, seed=3), **kw, seed=7)
    assert a.equals(b)
    assert not a.equals(sii(t, **kw, seed=8))
    assert a["area"].to_list() == ["A0", "A1", "A2"]
    assert a["n_quantiles"].to_list() == [10, 10, 10]


def test_limits_bracket_the_estimate():
    out = sii(_deciles(), value="le", population="pop", quantile="decile", se="se", by="area")
    for stat in ("sii", "rii"):
        assert (out[f"{stat}_lo"] < out[stat]).all() and (out[stat] < out[f"{stat}_hi"]).all()


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        (lambda t: t.head(11), {}, r"decile: 1 row \(first at 10\) are the only quantile"),
        (lambda t: t, {"confidence": 1.0}, "confidence"),
        (lambda t: t, {"confidence": 95}, "confidence"),
        (lambda t: t, {"se": None}, "se: give either"),
        (lambda t: t, {"se": None, "lower": "le"}, "se: give either"),
        (
            lambda t: t.with_columns(pl.when(pl.int_range(30) == 4).then(-5.0).otherwise("pop").alias("pop")),
            {},
            r"pop: 1 row \(first at 4\) invalid",
        ),
        (
            lambda t: t.with_columns(pl.when(pl.int_range(30) == 2).then(None).otherwise("se").alias("se")),
            {},
            r"se: 1 row \(first at 2\) invalid",
        ),
        (
            lambda t: t.with_columns(
                pl.when(pl.int_range(30) == 13).then(2).otherwise("decile").alias("decile")
            ),
            {},
            r"decile: 1 row \(first at 1[13]\) repeat a quantile",
        ),
        (lambda t: t, {"value_type": "proportion"}, r"le: 30 rows \(first at 0, 1, 2, 3, 4, …\) invalid"),
        (lambda t: t, {"value_type": "normal", "transform": True}, "transform"),
        (lambda t: t, {"repetitions": 10}, "repetitions"),
        (lambda t: t.drop("pop"), {}, "missing column"),
    ],
)
def test_errors_name_the_column_and_rows(change, kwargs, match):
    kw = {"value": "le", "population": "pop", "quantile": "decile", "se": "se", "by": "area"} | kwargs
    with pytest.raises(InvalidInputError, match=match):
        sii(change(_deciles()), **kw)


def test_empty_table():
    out = sii(_deciles().head(0), value="le", population="pop", quantile="decile", se="se", by="area")
    assert out.height == 0
    assert out.columns == [
        "area",
        "n_quantiles",
        "sii",
        "sii_lo",
        "sii_hi",
        "rii",
        "rii_lo",
        "rii_hi",
        "intercept",
    ]


def test_text_quantiles_are_rejected_not_sorted_as_text() -> None:
    import polars as pl
    import pytest
    from hyperlocal.exceptions import InvalidInputError
    from hyperlocal.inequality import sii

    t = pl.DataFrame({"q": [str(i) for i in range(1, 11)], "v": [200.0 - 10 * i for i in range(10)],
                      "p": [1e5] * 10, "se": [1.0] * 10})  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"q: expected numeric quantiles .* '10' before '2'"):
        sii(t, value="v", population="p", quantile="q", se="se")
    out = sii(t.with_columns(pl.col("q").cast(pl.Int64)), value="v", population="p", quantile="q", se="se")
    assert out["sii"][0] == pytest.approx(-100.0)
