"""Rates, proportions, ISRs and DSRs against the published test figures of PHEindicatormethods 2.1.0.

Every golden row is reproduced to 1e-6 relative (value and both pairs of limits; nulls where PHE gives NA);
``pytest -s`` prints the worst relative difference per method. The R tests that use each file
(tests/testthat/testRates.R, testProportions.R, testByars.R, testWilson.R, testDSRs.R, testISRates.R,
testISRatios.R) say which rows and arguments; the comments below repeat what matters.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hyperlocal import rates as hr
from hyperlocal.exceptions import InvalidInputError
from hyperlocal.stats import wilson, z_value
from scipy.stats import chi2

RTOL = 1e-6
WORST: dict[str, float] = {}
LIMITS = ("lo95", "hi95", "lo998", "hi998")
PHE_LIMITS = ("lower95_0cl", "upper95_0cl", "lower99_8cl", "upper99_8cl")
AGES = [
    "0-4",
    "5-9",
    "10-14",
    "15-19",
    "20-24",
    "25-29",
    "30-34",
    "35-39",
    "40-44",
    "45-49",
    "50-54",
    "55-69",
    "60-64",
    "65-69",
    "70-74",
    "75-79",
    "80-84",
    "85-89",
    "90+",
]  # "55-69" sic, as PHE's data


@pytest.fixture(scope="module", autouse=True)
def report_worst() -> Iterator[None]:
    yield
    print("\nworst relative difference vs PHEindicatormethods 2.1.0:")
    for method, worst in sorted(WORST.items()):
        print(f"  {method:<28} {worst:.3e}")


@pytest.fixture(scope="module")
def ref(data: Path) -> Path:
    return data / "reference" / "phe_indicator_methods"


def close(method: str, got: pl.Series | np.ndarray, want: pl.Series | np.ndarray) -> None:
    """Equal to RTOL relative, nulls (or NaN) exactly where the reference has them; records the worst."""
    g = pl.Series(got).cast(pl.Float64).fill_nan(None)
    w = pl.Series(want).cast(pl.Float64).fill_nan(None)
    assert g.is_null().to_list() == w.is_null().to_list(), (method, g.to_list(), w.to_list())
    keep = ~w.is_null()
    a, b = g.filter(keep).to_numpy(), w.filter(keep).to_numpy()
    if len(b) == 0:
        return
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    rel[(a == 0) & (b == 0)] = 0.0
    worst = float(rel.max())
    WORST[method] = max(WORST.get(method, 0.0), worst)
    assert worst <= RTOL, (method, worst, a.tolist(), b.tolist())


def check_limits(method: str, out: pl.DataFrame, prefix: str, want: pl.DataFrame, *, levels: int = 2) -> None:
    close(method, out[prefix], want["value"])
    for ours, theirs in list(zip(LIMITS, PHE_LIMITS))[: 2 * levels]:
        close(method, out[f"{prefix}_{ours}"], want[theirs])


# ------------------------------------------------------------------------------------------------------------
# Byar's and Wilson (testByars.R, testWilson.R: testdata_Byars_Wilson)
# ------------------------------------------------------------------------------------------------------------


def test_byars_and_wilson_limits(ref: Path) -> None:
    t = pl.read_csv(ref / "testdata_Byars_Wilson__testdata_B_W.csv")
    for conf_text, conf in (("95%", 0.95), ("99.8%", 0.998)):
        b = t.filter((pl.col("method") == "Byars") & (pl.col("confidence") == conf_text))
        lo, hi = hr.byars_limits(b["x"].to_numpy(), conf)
        close("byars", lo, b["lowercl"])  # x = 1 at 99.8%: negative, NA in PHE
        close("byars", hi, b["uppercl"])
        w = t.filter((pl.col("method") == "Wilson") & (pl.col("confidence") == conf_text))
        lo, hi = hr.wilson_limits(w["x"].to_numpy(), w["n"].to_numpy(), conf)
        close("wilson", lo, w["lowercl"])
        close("wilson", hi, w["uppercl"])
        # the house Wilson (stats.wilson) agrees with PHE's closed form
        _, slo, shi = wilson(w["x"].to_numpy(), w["n"].to_numpy(), z_value(conf))
        np.testing.assert_allclose(slo, lo, rtol=1e-12)
        np.testing.assert_allclose(shi, hi, rtol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# Crude rates (testRates.R: rows 1-8 per 100, 9-16 per 100,000, 17-19 NAs, 20 numerator > denominator)
# ------------------------------------------------------------------------------------------------------------


def test_rate_reproduces_phe(ref: Path) -> None:
    t = pl.read_csv(ref / "testdata_Rate__testdata_Rate.csv")
    for m in (100, 100_000):
        want = t.filter(pl.col("multiplier") == m)
        out = hr.rate(
            want.select("Area", "Numerator", "Denominator"),
            count="Numerator",
            population="Denominator",
            multiplier=m,
        )
        assert out.columns[:3] == ["Area", "Numerator", "Denominator"]
        check_limits("rate", out, "rate", want)
        assert out["rate_method"].to_list() == want["method"].to_list()


def test_rate_grouped_reproduces_phe(ref: Path) -> None:
    # testdata_Rate_g holds the sums of two copies of each area (rows 1-8 and 9-16 of testdata_Rate) and the
    # NA / numerator > denominator rows once; a group with a null count or population is null (R's sum).
    t = pl.read_csv(ref / "testdata_Rate__testdata_Rate.csv").select("Area", "Numerator", "Denominator")
    table = pl.concat([t.slice(0, 16), t.slice(16, 4)]).sample(fraction=1.0, shuffle=True, seed=7)
    want = pl.read_csv(ref / "testdata_Rate__testdata_Rate_g.csv")
    out = hr.rate(table, count="Numerator", population="Denominator", by="Area").sort("Area")
    want = want.sort("Area")
    close("rate (grouped)", out["Numerator"], want["Numerator"])
    close("rate (grouped)", out["rate"], want["value"])
    close("rate (grouped)", out["rate_lo95"], want["lowercl"])
    close("rate (grouped)", out["rate_hi95"], want["uppercl"])
    assert out["rate_method"].to_list() == want["method"].to_list()


def test_rate_by_hand() -> None:
    out = hr.rate(
        pl.DataFrame({"x": [0.0, 4.0, 250.0], "n": [1000, 2000, 100]}),
        count="x",
        population="n",
        multiplier=1000,
    )
    assert out["rate"].to_list() == [0.0, 2.0, 2500.0]
    assert out["rate_lo95"][0] == 0.0
    assert out["rate_hi95"][0] == pytest.approx(-math.log(0.025), rel=1e-12)  # χ²(0.975; 2)/2 = −ln 0.025
    assert out["rate_lo95"][1] == pytest.approx(chi2.ppf(0.025, 8) / 2 / 2, rel=1e-12)
    z = z_value(0.998)
    assert out["rate_hi998"][2] == pytest.approx(
        251 * (1 - 1 / (9 * 251) + z / (3 * math.sqrt(251))) ** 3 * 10
    )
    assert out["rate_method"].to_list() == ["Exact", "Exact", "Byars"]
    empty = hr.rate(pl.DataFrame({"x": [0], "n": [0]}), count="x", population="n")
    assert empty["rate"].to_list() == [None] and empty["rate_hi95"].to_list() == [None]


# ------------------------------------------------------------------------------------------------------------
# Proportions (testProportions.R: rows 1-8 proportion of 1, 9-16 percentages, 17-19 NAs)
# ------------------------------------------------------------------------------------------------------------


def test_proportion_reproduces_phe(ref: Path) -> None:
    t = pl.read_csv(ref / "testdata_Proportion__testdata_Prop.csv")
    for m in (1, 100):
        want = t.filter(pl.col("multiplier") == m)
        out = hr.proportion(
            want.select("Area", "Numerator", "Denominator"),
            count="Numerator",
            population="Denominator",
            multiplier=m,
        )
        check_limits("proportion", out, "proportion", want)
        assert out["proportion_method"].drop_nulls().unique().to_list() == ["Wilson"]


def test_proportion_grouped_reproduces_phe(ref: Path) -> None:
    t = pl.read_csv(ref / "testdata_Proportion__testdata_Prop.csv").select("Area", "Numerator", "Denominator")
    table = pl.concat([t.slice(0, 16), t.slice(16, 3)])
    want = pl.read_csv(ref / "testdata_Proportion__testdata_Prop_g.csv").sort("Area")
    out = hr.proportion(table, count="Numerator", population="Denominator", by=["Area"], multiplier=1)
    out = out.sort("Area")
    close("proportion (grouped)", out["proportion"], want["value"])
    close("proportion (grouped)", out["proportion_lo95"], want["lowercl"])
    close("proportion (grouped)", out["proportion_hi95"], want["uppercl"])


def test_proportion_by_hand() -> None:
    out = hr.proportion(pl.DataFrame({"x": [0, 10], "n": [10, 10]}), count="x", population="n")
    z2 = z_value(0.95) ** 2
    assert out["proportion"].to_list() == [0.0, 100.0]
    assert out["proportion_lo95"][0] == 0.0 and out["proportion_hi95"][1] == pytest.approx(100.0)
    assert out["proportion_hi95"][0] == pytest.approx(100 * z2 / (10 + z2), rel=1e-12)


# ------------------------------------------------------------------------------------------------------------
# ISR (testISRates.R / testISRatios.R: rows 1-3 ISR per 100,000, 4-6 per 1,000, 7-9 ratio, 10-12 ratio ×
# 100, 13-16 the zero-population file err2 with one confidence level)
# ------------------------------------------------------------------------------------------------------------


def _reference(ref: Path) -> pl.DataFrame:
    r = pl.read_csv(ref / "testdata_DSR_ISR__refdata.csv").select("Age Band", "refcount", "refpop")
    return r.rename({"Age Band": "ageband", "refcount": "ref_count", "refpop": "ref_population"})


def test_isr_reproduces_phe(ref: Path) -> None:
    table = pl.read_csv(ref / "testdata_DSR_ISR__testdata_multiarea_isr.csv")
    want = pl.read_csv(ref / "testdata_DSR_ISR__testresults_ISR.csv")
    reference = _reference(ref)
    for m, rows in ((100_000, slice(0, 3)), (1000, slice(3, 6))):
        out = hr.isr(
            table,
            observed="count",
            population="pop",
            strata="ageband",
            reference=reference,
            by="area",
            multiplier=m,
        )
        w = want[rows]
        assert out["area"].to_list() == ["testdata_big", "testdata_small", "testdata_tiny"]
        close("isr", out["observed"], w["observed"])
        close("isr", out["expected"], w["expected"])
        close("isr", out["ref_crude_rate"], w["ref_rate"])
        check_limits("isr", out, "isr", w)
        assert out["isr_method"].to_list() == w["method"].to_list()
    out = hr.isr(table, observed="count", population="pop", strata="ageband", reference=reference, by="area")
    for scale, rows in ((1, slice(6, 9)), (100, slice(9, 12))):
        check_limits("isr ratio (SMR)", out.with_columns(pl.col("^ratio.*$") * scale), "ratio", want[rows])


def test_isr_zero_population_reproduces_phe(ref: Path) -> None:
    # err2: Area1 has a population of 0 (with 25 events) in 5-9; PHE's ISR accepts it (only its DSR refuses).
    table = pl.read_csv(ref / "testdata_DSR_ISR__testdata_err2.csv").select("area", "count", "pop")
    table = table.with_columns(pl.Series("ageband", AGES * 2))
    want = pl.read_csv(ref / "testdata_DSR_ISR__testresults_ISR.csv")[12:16]
    kw: dict[str, Any] = dict(observed="count", population="pop", strata="ageband", reference=_reference(ref))
    with pytest.raises(InvalidInputError, match=r"isr\['pop'\]: 1 row \(first at 1\) are 0 with events"):
        hr.isr(table, **kw, by="area")  # an error unless asked for PHE's behaviour
    out = hr.isr(table, **kw, by="area", allow_zero_population=True)
    close("isr", out["expected"], want["expected"][:2])
    check_limits("isr", out, "isr", want[:2], levels=1)
    check_limits("isr ratio (SMR)", out.with_columns(pl.col("^ratio.*$") * 100), "ratio", want[2:], levels=1)


def test_isr_own_reference_and_rates_only(ref: Path) -> None:
    table = pl.read_csv(ref / "testdata_DSR_ISR__testdata_multiarea_isr.csv")
    # reference_rates over PHE's own reference columns (the same in every area, so summed over one area)
    one = table.filter(pl.col("area") == "testdata_big")
    refr = hr.reference_rates(one, count="refcount", population="refpop", strata="ageband")
    assert refr.columns == ["ageband", "ref_count", "ref_population", "ref_rate"]
    assert refr["ageband"].to_list() == AGES
    np.testing.assert_allclose(refr["ref_rate"], refr["ref_count"] / refr["ref_population"], rtol=0)
    full = hr.isr(table, observed="count", population="pop", strata="ageband", reference=refr, by="area")
    want = pl.read_csv(ref / "testdata_DSR_ISR__testresults_ISR.csv")[0:3]
    check_limits("isr", full, "isr", want)
    # rates only: the same ratios; no crude reference rate, so no ISR
    rates_only = hr.isr(
        table,
        observed="count",
        population="pop",
        strata="ageband",
        reference=refr.select("ageband", "ref_rate"),
        by="area",
    )
    np.testing.assert_allclose(rates_only["ratio_hi998"], full["ratio_hi998"], rtol=1e-14)
    assert rates_only["isr"].null_count() == 3


def test_isr_by_hand() -> None:
    table = pl.DataFrame(
        {"s": ["a", "b", "a", "b"], "g": [1, 1, 2, 2], "o": [3, 9, 20, 30], "n": [100, 200, 300, 400]}
    )
    reference = pl.DataFrame({"s": ["b", "a"], "ref_count": [10, 5], "ref_population": [100, 100]})
    out = hr.isr(
        table, observed="o", population="n", strata="s", reference=reference, by="g", multiplier=1000
    )
    # E(g=1) = 100·0.05 + 200·0.1 = 25; E(g=2) = 300·0.05 + 400·0.1 = 55; crude reference rate 15/200
    assert out["expected"].to_list() == pytest.approx([25.0, 55.0])
    assert out["ratio"].to_list() == pytest.approx([12 / 25, 50 / 55])
    assert out["isr"].to_list() == pytest.approx([12 / 25 * 75, 50 / 55 * 75])
    assert out["isr_method"].to_list() == ["Byars", "Byars"]
    whole = hr.isr(table, observed="o", population="n", strata=["s"], reference=reference)
    assert whole.height == 1 and whole["expected"][0] == pytest.approx(80.0)


# ------------------------------------------------------------------------------------------------------------
# DSR (testDSRs.R: rows 1-3 per 10,000, 5-7 per 100,000 on test_multiarea with esp2013; rows 4/8 the 1976
# data with its own standard, value and 95% limits only (its 99.8% figures are not tested by PHE and are
# wrong by a factor 10); 9-12 non-independent events)
# ------------------------------------------------------------------------------------------------------------


def test_dsr_reproduces_phe(ref: Path) -> None:
    table = pl.read_csv(ref / "testdata_DSR_ISR__testdata_multiarea.csv")
    want = pl.read_csv(ref / "testdata_DSR_ISR__testresults_DSR.csv")
    for m, rows in ((10_000, slice(0, 3)), (100_000, slice(4, 7))):
        out = hr.dsr(table, count="count", population="pop", age_band="ageband", by="area", multiplier=m)
        w = want[rows]
        assert out["area"].to_list() == w["area"].to_list()
        close("dsr", out["total_count"], w["total_count"])
        close("dsr", out["total_population"], w["total_pop"])
        check_limits("dsr", out, "dsr", w)
        assert out["dsr_note"].to_list() == [None, None, "total count < 10"]
        assert out["dsr_method"].unique().to_list() == ["Dobson"]
    # the standard as a sequence of weights, and as a table, give the same figures
    weights = list(hr.ESP2013.values())
    seq = hr.dsr(table, count="count", population="pop", age_band="ageband", by="area", standard=weights)
    tab = hr.dsr(
        table,
        count="count",
        population="pop",
        age_band="ageband",
        by="area",
        standard=pl.DataFrame({"ageband": AGES, "weight": weights}),
    )
    check_limits("dsr", seq, "dsr", want[4:7])
    check_limits("dsr", tab, "dsr", want[4:7])


def test_dsr_own_standard_reproduces_phe(ref: Path) -> None:
    t = pl.read_csv(ref / "testdata_DSR_ISR__testdata_1976.csv")
    want = pl.read_csv(ref / "testdata_DSR_ISR__testresults_DSR.csv")
    standard = t.select(pl.col("Age Band").alias("age_band"), pl.col("esp1976").alias("weight"))
    for m, row in ((10_000, 3), (100_000, 7)):
        for std in (standard, t["esp1976"].to_list()):
            out = hr.dsr(t, count="count", population="pop", age_band="Age Band", standard=std, multiplier=m)
            check_limits("dsr", out, "dsr", want[row : row + 1], levels=1)


def _nonindependent(ref: Path) -> pl.DataFrame:
    """testdata_nonindepe pivoted to one row per (area, age band, events per person), with the people."""
    t = pl.read_csv(ref / "testdata_DSR_ISR__testdata_nonindepe.csv")
    long = t.unpivot(
        ["f1", "f2", "f3", "f4"], index=["area", "ageband", "pop"], variable_name="freq", value_name="persons"
    )
    return long.with_columns(pl.col("freq").str.slice(1).cast(pl.Int64))


def test_dsr_nonindependent_reproduces_phe(ref: Path) -> None:
    table = _nonindependent(ref)
    want = pl.read_csv(ref / "testdata_DSR_ISR__testresults_DSR.csv")[8:12]
    for t in (table, table.drop_nulls("persons"), table.sample(fraction=1.0, shuffle=True, seed=3)):
        out = hr.dsr(
            t, count="persons", population="pop", age_band="ageband", by="area", event_frequency="freq"
        ).sort("area")
        close("dsr (non-independent)", out["total_count"], want["total_count"])
        close("dsr (non-independent)", out["total_population"], want["total_pop"])
        check_limits("dsr (non-independent)", out, "dsr", want)
        assert out["dsr_method"].to_list() == want["method"].to_list()


def test_dsr_by_hand() -> None:
    t = pl.DataFrame({"band": ["young", "old"], "x": [10, 30], "n": [1000, 500]})
    out = hr.dsr(t, count="x", population="n", age_band="band", standard=[3, 1], multiplier=1)
    value = (3 * 10 / 1000 + 1 * 30 / 500) / 4
    var = (10 * (3 / 1000) ** 2 + 30 * (1 / 500) ** 2) / 16
    lo, _ = hr.byars_limits(np.array([40.0]), 0.95)
    assert out["dsr"][0] == pytest.approx(value, rel=1e-14)
    assert out["dsr_lo95"][0] == pytest.approx(value + math.sqrt(var / 40) * (lo[0] - 40), rel=1e-12)
    assert out["total_count"][0] == 40 and out["total_population"][0] == 1500
    # integer lower ages and zero-padded labels both match the ESP 2013 bands
    ages = pl.DataFrame({"age": list(range(0, 95, 5)), "x": [5] * 19, "n": [1000] * 19})
    padded = ages.with_columns(pl.format("{}-", pl.col("age").cast(pl.String).str.zfill(2)).alias("age"))
    a = hr.dsr(ages, count="x", population="n", age_band="age")
    b = hr.dsr(padded, count="x", population="n", age_band="age")
    assert a["dsr"][0] == pytest.approx(500.0) and a.equals(b)


def test_row_order_and_table_kinds(ref: Path) -> None:
    table = pl.read_csv(ref / "testdata_DSR_ISR__testdata_multiarea.csv")
    shuffled = table.sample(fraction=1.0, shuffle=True, seed=11)
    a = hr.dsr(table, count="count", population="pop", age_band="ageband", by="area").sort("area")
    b = hr.dsr(shuffled, count="count", population="pop", age_band="ageband", by="area").sort("area")
    np.testing.assert_allclose(a["dsr_hi998"].fill_null(0), b["dsr_hi998"].fill_null(0), rtol=1e-13)
    table = pl.read_csv(ref / "testdata_DSR_ISR__testdata_multiarea_isr.csv")
    shuffled = table.sample(fraction=1.0, shuffle=True, seed=11)
    reference = _reference(ref)
    c = hr.isr(
        table.to_arrow(),
        observed="count",
        population="pop",
        strata="ageband",
        by="area",
        reference=pa.table(reference.to_arrow()),
    )
    d = hr.isr(
        shuffled.lazy(),
        observed="count",
        population="pop",
        strata="ageband",
        by="area",
        reference=reference.reverse(),
    ).sort("area")
    np.testing.assert_allclose(c["isr_lo95"], d["isr_lo95"], rtol=1e-13)
    p = hr.proportion(table.to_pandas(), count="count", population="pop")
    assert p.height == table.height


# ------------------------------------------------------------------------------------------------------------
# Errors: the err files PHE rejects, and the rest of the boundary
# ------------------------------------------------------------------------------------------------------------


def _err(ref: Path, k: int) -> pl.DataFrame:
    return pl.read_csv(ref / f"testdata_DSR_ISR__testdata_err{k}.csv").select(
        pl.col("Age Band").alias("ageband"), "count", "pop", "stdpop"
    )


def test_phe_error_files_are_rejected(ref: Path) -> None:
    err1, err3, err4 = _err(ref, 1), _err(ref, 3), _err(ref, 4)
    # err1: a negative count (row 5, 25-29)
    with pytest.raises(InvalidInputError, match=r"dsr\['count'\]: 1 row \(first at 5\) are negative"):
        hr.dsr(err1, count="count", population="pop", age_band="ageband")
    with pytest.raises(InvalidInputError, match=r"isr\['count'\]: 1 row \(first at 5\) are negative"):
        hr.isr(err1, observed="count", population="pop", strata="ageband", reference=_reference(ref))
    with pytest.raises(InvalidInputError, match=r"rate\['count'\].*negative"):
        hr.rate(err1, count="count", population="pop")
    # err2: a population of 0 (Area1, 5-9, with 25 events): a DSR needs populations > 0
    err2 = pl.read_csv(ref / "testdata_DSR_ISR__testdata_err2.csv").select("area", "count", "pop")
    err2 = err2.with_columns(pl.Series("ageband", AGES * 2))
    with pytest.raises(InvalidInputError, match=r"dsr\['pop'\]: 1 row \(first at 1\) are 0"):
        hr.dsr(err2, count="count", population="pop", age_band="ageband", by="area")
    with pytest.raises(InvalidInputError, match=r"rate\['pop'\]: 1 row \(first at 1\) are 0 with events"):
        hr.rate(err2, count="count", population="pop")
    # err3: a negative population (row 1, 5-9)
    with pytest.raises(InvalidInputError, match=r"dsr\['pop'\]: 1 row \(first at 1\) are negative"):
        hr.dsr(err3, count="count", population="pop", age_band="ageband")
    with pytest.raises(InvalidInputError, match=r"isr\['pop'\]: 1 row \(first at 1\) are negative"):
        hr.isr(err3, observed="count", population="pop", strata="ageband", reference=_reference(ref))
    # err4: a negative standard population (row 5, 25-29)
    with pytest.raises(InvalidInputError, match=r"standard\['weight'\]: 1 row \(first at 5\) are negative"):
        hr.dsr(
            err4,
            count="count",
            population="pop",
            age_band="ageband",
            standard=err4.select("ageband", pl.col("stdpop").alias("weight")),
        )
    with pytest.raises(InvalidInputError, match=r"standard: 1 row \(first at 5\) are negative"):
        hr.dsr(err4, count="count", population="pop", age_band="ageband", standard=err4["stdpop"].to_list())


def test_bad_input_names_column_and_rows(ref: Path) -> None:
    t = pl.DataFrame({"x": [1.0, float("nan"), 3.0], "n": [10.0, 10.0, 2.0], "g": ["a", "b", "c"]})
    with pytest.raises(InvalidInputError, match=r"rate\['x'\]: 1 row \(first at 1\) are NaN"):
        hr.rate(t, count="x", population="n")
    with pytest.raises(InvalidInputError, match=r"proportion\['x'\]: 1 row \(first at 2\) exceed 'n'"):
        hr.proportion(t.with_columns(pl.col("x").fill_nan(1)), count="x", population="n")
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['y'\]"):
        hr.rate(t, count="y", population="n")
    with pytest.raises(InvalidInputError, match="expected a numeric column"):
        hr.rate(t, count="g", population="n")
    with pytest.raises(InvalidInputError, match="multiplier"):
        hr.rate(t.fill_nan(0), count="x", population="n", multiplier=0)
    with pytest.raises(
        InvalidInputError, match=r"rate \(groups by \['g'\]\)\['n'\]: 1 row .* are 0 with events"
    ):
        hr.rate(pl.DataFrame({"g": ["a", "a"], "x": [1, 0], "n": [0, 0]}), count="x", population="n", by="g")
    table = pl.read_csv(ref / "testdata_DSR_ISR__testdata_multiarea.csv")
    with pytest.raises(InvalidInputError, match=r"standard: got 'esp1976', expected one of \['esp2013'\]"):
        hr.dsr(table, count="count", population="pop", age_band="ageband", by="area", standard="esp1976")
    with pytest.raises(
        InvalidInputError, match=r"group\(s\) \[\('testdata_big',\)\] hold \[18\] of the 19 bands"
    ):
        hr.dsr(
            table.filter((pl.col("area") != "testdata_big") | (pl.col("ageband") != "90+")),
            count="count",
            population="pop",
            age_band="ageband",
            by="area",
        )
    with pytest.raises(InvalidInputError, match="repeat a band within a group"):
        hr.dsr(table, count="count", population="pop", age_band="ageband")
    with pytest.raises(
        InvalidInputError, match=r"\['ageband'\]: 3 rows \(first at 0, 19, 38\) have no leading age"
    ):
        hr.dsr(
            table.with_columns(pl.col("ageband").replace("0-4", "under 5")),
            count="count",
            population="pop",
            age_band="ageband",
            by="area",
        )
    with pytest.raises(InvalidInputError, match="got 3 weights, expected one per age band"):
        hr.dsr(table, count="count", population="pop", age_band="ageband", by="area", standard=[1, 2, 3])
    reference = _reference(ref).filter(pl.col("ageband") != "90+")
    with pytest.raises(
        InvalidInputError,
        match=r"3 rows \(first at 18, 37, 56\) hold strata missing from the "
        r"reference \(e.g. \[\('90\+',\)\]\)",
    ):
        hr.isr(table, observed="count", population="pop", strata="ageband", reference=reference, by="area")
    with pytest.raises(InvalidInputError, match="repeat a stratum"):
        hr.isr(
            table,
            observed="count",
            population="pop",
            strata="ageband",
            by="area",
            reference=pl.concat([reference, reference]),
        )
    with pytest.raises(InvalidInputError, match="expected a 'ref_rate' column"):
        hr.isr(
            table, observed="count", population="pop", strata="ageband", reference=reference.select("ageband")
        )
    nonind = _nonindependent(ref)
    with pytest.raises(InvalidInputError, match="different populations for different event frequencies"):
        hr.dsr(
            nonind.with_columns(pl.when(pl.col("freq") == 2).then(pl.col("pop") + 1).otherwise("pop")),
            count="persons",
            population="pop",
            age_band="ageband",
            by="area",
            event_frequency="freq",
        )


def test_empty_tables() -> None:
    e = pl.DataFrame(schema={"g": pl.String, "x": pl.Float64, "n": pl.Float64})
    assert hr.rate(e, count="x", population="n").height == 0
    assert hr.proportion(e, count="x", population="n", by="g").height == 0
    assert hr.reference_rates(e, count="x", population="n", strata="g").height == 0


def test_mismatched_strata_types(ref: Path) -> None:
    table = pl.DataFrame({"s": [1, 2], "o": [1, 2], "n": [10, 10]})
    reference = pl.DataFrame({"s": ["1", "2"], "ref_rate": [0.1, 0.2]})
    with pytest.raises(
        InvalidInputError, match=r"isr: strata \['s'\] of table and reference cannot be matched"
    ):
        hr.isr(table, observed="o", population="n", strata="s", reference=reference)
    out = hr.dsr(
        pl.DataFrame({"b": ["a", "b"], "x": [5, 6], "n": [10, 10]}),
        count="x",
        population="n",
        age_band="b",
        standard=pl.Series([1.0, 1.0]),
    )
    assert out["dsr"][0] == pytest.approx(55_000.0)
