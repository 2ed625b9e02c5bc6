"""Funnel plots against PHEindicatormethods 2.1.0's published test figures, and the over-dispersion model
against an independent computation of Spiegelhalter's (2005, QSHC) method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hyperlocal.exceptions import InvalidInputError
from hyperlocal.funnel import funnel_curves, funnel_limits, funnel_plot
from scipy import special, stats

REF = ("reference", "phe_indicator_methods")
LIMITS = ["lo95", "hi95", "lo998", "hi998"]
PHE_LIMITS = ["lower_2s", "upper_2s", "lower_3s", "upper_3s"]
PHE_LABELS = {
    "High (0.001)": "above 99.8",
    "High (0.025)": "above 95",
    "Not significant": "within",
    "Low (0.025)": "below 95",
    "Low (0.001)": "below 99.8",
    "Not applicable for events less than 10 for dsrs": None,
}
TOL = 1e-6
WORST: dict[str, float] = {}


def _ref(data: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(data.joinpath(*REF, name), null_values="NA")


def _rel(ours: pl.Series | np.ndarray, phe: pl.Series | np.ndarray) -> float:
    """Worst relative difference (absolute where PHE's figure is 0)."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(phe, dtype=np.float64)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b) / np.where(b != 0, np.abs(b), 1.0)))


def _record(statistic: str, worst: float) -> None:
    WORST[statistic] = max(WORST.get(statistic, 0.0), worst)
    print(f"\nworst relative difference vs PHE so far, {statistic}: {WORST[statistic]:.2e}")


# ------------------------------------------------------------------------------------------ PHE curves


@pytest.mark.parametrize(
    ("outputs", "max_denominator"),
    [
        ("testdata_funnel_prop_outputs.csv", None),
        ("testdata_funnel_prop_outputs_with_axis_variation.csv", 31000),
    ],
)
def test_proportion_curves_match_phe(data: Path, outputs: str, max_denominator: int | None) -> None:
    inputs = _ref(data, "testdata_funnel_prop_inputs.csv")
    if max_denominator is not None:  # PHE's "axis variation": all denominators within a factor of 2
        inputs = inputs.filter(pl.col("denominator") < max_denominator)
    phe = _ref(data, outputs)
    ours = funnel_curves(
        inputs, statistic="proportion", numerator="numerator", denominator="denominator", multiplier=100
    )
    assert ours.height == phe.height == 100
    assert ours["lo95_denominator"].to_list() == phe["Population"].to_list()
    worst = 0.0
    for ours_col, phe_col in zip([*LIMITS, "target"], phe.columns[1:]):
        worst = max(worst, _rel(ours[ours_col], phe[phe_col]))
    for lim in LIMITS:
        assert ours[f"{lim}_denominator"].to_list() == phe["Population"].to_list()
    _record("proportion", worst)
    assert worst < TOL  # PHE prints 6 decimals: 1.1e-7 is the rounding of its smallest limits


@pytest.mark.parametrize("multiplier", [100, 1])
def test_ratio_curves_match_phe(data: Path, multiplier: int) -> None:
    """ratio_type "isr" (ratio × 100) and "count" (ratio − 1), observed events on PHE's grid."""
    inputs = _ref(data, "testdata_funnel_ratio_inputs.csv")
    phe = _ref(data, "testdata_funnel_ratio_outputs.csv")
    ours = funnel_curves(
        inputs, statistic="ratio", numerator="obs", denominator="expected", multiplier=multiplier
    )
    assert ours["events"].to_list() == phe[phe.columns[0]].cast(pl.Float64).to_list()  # "Observed_events"
    worst = 0.0
    for lim, ph in zip(LIMITS, PHE_LIMITS):
        worst = max(worst, _rel(ours[f"{lim}_denominator"], phe[f"{ph}_exp_events"]))
        if multiplier == 100:
            worst = max(worst, _rel(ours[lim], phe[f"{ph}_isr"]))
        else:
            # the "count" limits are ratio − 1: compare as ratios (relative to count + 1), as the ISR column is
            count = phe[f"{ph}_count"].to_numpy()
            assert _rel(ours[lim].to_numpy(), count + 1) < TOL
            print(f"\n  ratio − 1 ({ph}), relative to itself: {_rel(ours[lim].to_numpy() - 1, count):.2e}")
    _record("ratio", worst)
    assert worst < TOL


def _rate_inputs(data: Path, case: str) -> tuple[pl.DataFrame, dict]:
    """The three rate cases of testFunnels.R, with the arguments PHE's test passes."""
    raw = _ref(data, "testdata_funnel_rate_input_funnels.csv")
    largest = pl.col("ev") == pl.col("ev").max()
    if case == "dsr":
        return raw, dict(rate_type="dsr", denominator=None)
    if case == "crude, fewer than 10 events":
        return raw.with_columns(ev=pl.when(largest).then(5).otherwise(pl.col("ev"))), dict(
            rate_type="crude", denominator=None
        )
    df = (
        raw.select("ev", "rate")
        .with_columns(pop=1e5 * pl.col("ev") / pl.col("rate"))
        .with_columns(
            rate=pl.when(largest).then(0).otherwise(pl.col("rate")),
            ev=pl.when(largest).then(0).otherwise(pl.col("ev")),
        )
        .filter(pl.col("pop") > pl.col("pop").max() / 2)
    )
    return df, dict(rate_type="crude", denominator="pop")


@pytest.mark.parametrize(
    ("case", "outputs"),
    [
        ("dsr", "testdata_funnel_rate_outputs.csv"),
        ("crude, fewer than 10 events", "testdata_funnel_rate_outputs_2.csv"),
        ("crude, zero events and a denominator", "testdata_funnel_rate_outputs_3.csv"),
    ],
)
def test_rate_curves_match_phe(data: Path, case: str, outputs: str) -> None:
    df, kw = _rate_inputs(data, case)
    phe = _ref(data, outputs)
    ours = funnel_curves(
        df, statistic="rate", numerator="ev", rate="rate", multiplier=1e5, years_of_data=3, **kw
    )
    assert ours["events"].to_list() == phe["Events"].cast(pl.Float64).to_list()
    worst = _rel(ours["target"], phe["baseline"])
    for lim, ph in zip(LIMITS, PHE_LIMITS):
        worst = max(worst, _rel(ours[f"{lim}_denominator"], phe[f"{ph}_population_1_year"]))
        worst = max(worst, _rel(ours[lim], phe[f"{ph}_limit"]))
    _record(f"rate ({case})", worst)
    assert worst < TOL


# ------------------------------------------------------------------------------------------ positions


def _positions_match(ours: pl.DataFrame, phe: pl.Series) -> None:
    expected = phe.replace_strict(PHE_LABELS, return_dtype=pl.String)
    assert ours["funnel_position"].to_list() == expected.to_list()


def test_proportion_positions_match_phe(data: Path) -> None:
    inputs = _ref(data, "testdata_funnel_prop_inputs.csv")
    ours = funnel_limits(inputs, statistic="proportion", multiplier=100)
    _positions_match(ours, inputs["significance"])
    # the per-unit limits are the curves' formula at each unit's own denominator
    p0 = inputs["numerator"].sum() / inputs["denominator"].sum()
    n = inputs["denominator"].to_numpy()
    half = 1.959963984540054 * np.sqrt(p0 * (1 - p0) / n)
    assert _rel(ours["funnel_lo95"], 100 * (p0 - half)) < 1e-12
    assert _rel(ours["funnel_hi95"], 100 * (p0 + half)) < 1e-12


def test_ratio_positions_match_phe(data: Path) -> None:
    inputs = _ref(data, "testdata_funnel_ratio_inputs.csv")
    ours = funnel_limits(inputs, statistic="ratio", numerator="obs", denominator="expected", multiplier=100)
    _positions_match(ours, inputs["significance"])
    # each unit is outside a limit curve exactly when its exact test says so
    v, lo, hi = (ours[c].to_numpy() for c in ("funnel_value", "funnel_lo95", "funnel_hi95"))
    pos = ours["funnel_position"]
    assert ((v < lo) == pos.is_in(["below 95", "below 99.8"]).to_numpy()).all()
    assert ((v > hi) == pos.is_in(["above 95", "above 99.8"]).to_numpy()).all()


@pytest.mark.parametrize(
    ("rate", "rate_type", "multiplier", "expected", "drop_zero"),
    [
        ("rate_dsr", "dsr", 1e5, "dsr_per_100000_with_0", False),
        ("rate_dsr", "dsr", 1e5, "dsr_per_100000_without_0", True),
        ("rate_dsr", "dsr", 100, "dsr_per_100_without_0", True),
        ("rate_crude_per_100", "crude", 100, "crude_per_100_with_0", False),
        ("rate_crude_per_100", "crude", 100, "crude_per_100_without_0", True),
        ("rate_crude_per_100000", "crude", 1e5, "crude_per_100000_with_0", False),
        ("rate_crude_per_100000", "crude", 1e5, "crude_per_100000_without_0", True),
    ],
)
def test_rate_positions_match_phe(
    data: Path, rate: str, rate_type: str, multiplier: float, expected: str, drop_zero: bool
) -> None:
    inputs = _ref(data, "testdata_funnel_rate_dsr_inputs.csv")
    if drop_zero:
        inputs = inputs.filter(pl.col("count") != 0)
    ours = funnel_limits(
        inputs,
        statistic="rate",
        numerator="count",
        denominator="pop",
        rate=rate,
        rate_type=rate_type,
        multiplier=multiplier,
    )
    _positions_match(ours, inputs[expected])


def test_curves_pass_through_the_exact_limits() -> None:
    """At a PHE curve point (E, O/E) the per-unit exact limit is O/E, to the precision of PHE's bisection
    (a step of 6e-8 in E/(1 + O + E): 2e-7 relative in E mid-curve, 5e-5 at E = 0.001 for one event)."""
    rng = np.random.default_rng(1)
    expected = rng.uniform(5, 500, 200)
    t = pl.DataFrame({"obs": rng.poisson(expected).astype(float), "expected": expected})
    curves = funnel_curves(t, statistic="ratio", numerator="obs", denominator="expected")
    for lim in LIMITS:
        at = funnel_limits(
            statistic="ratio",
            numerator=curves["events"],
            denominator=curves[f"{lim}_denominator"],
            confidence=(0.95, 0.998),
        )
        col = f"funnel_{lim}"
        assert _rel(at[col], curves[lim]) < 1e-4
        assert _rel(at[col][5:], curves[lim][5:]) < 1e-6


# ------------------------------------------------------------------------------------------ over-dispersion


def _dl_by_hand(
    o: np.ndarray, n: np.ndarray, statistic: str
) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """Spiegelhalter (2005, QSHC) written out unit by unit: (θ₀, φ, τ², 95% lower, 95% upper)."""
    theta = sum(o) / sum(n)
    ys, ss = [], []
    for oi, ni in zip(o, n):
        if statistic == "proportion":
            ys.append(oi / ni)
            ss.append(theta * (1 - theta) / ni)
        else:  # √(O/E) with E = θ₀·n, target 1, s² = 1/(4E)
            ys.append((oi / (theta * ni)) ** 0.5)
            ss.append(1 / (4 * theta * ni))
    centre = theta if statistic == "proportion" else 1.0
    z = sorted((y - centre) / s**0.5 for y, s in zip(ys, ss))
    k = len(z)

    def quantile(q: float) -> float:  # R type 7
        h = (k - 1) * q
        return z[int(h)] + (h - int(h)) * (z[min(int(h) + 1, k - 1)] - z[int(h)])

    lo_q, hi_q = quantile(0.1), quantile(0.9)
    phi = sum(min(max(zi, lo_q), hi_q) ** 2 for zi in z) / k
    w = [1 / s for s in ss]
    tau2 = max(0.0, (k * phi - (k - 1)) / (sum(w) - sum(x * x for x in w) / sum(w)))
    zc = stats.norm.ppf(0.975)
    lower, upper = [], []
    for s in ss:
        half = zc * (s + tau2) ** 0.5
        if statistic == "proportion":
            lower.append(max(theta - half, 0.0))
            upper.append(min(theta + half, 1.0))
        else:
            lower.append(max(1 - half, 0.0) ** 2 * theta)
            upper.append((1 + half) ** 2 * theta)
    return theta, phi, tau2, np.array(lower), np.array(upper)


def _overdispersed(statistic: str, spread: float, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(200, 20000, 400).astype(float)
    if statistic == "proportion":
        p = np.clip(0.2 * np.exp(rng.normal(0, spread, n.size)), 0.01, 0.9)
        o = rng.binomial(n.astype(np.int64), p).astype(float)
    else:
        o = rng.poisson(0.01 * n * np.exp(rng.normal(0, spread, n.size))).astype(float)
    return pl.DataFrame({"o": o, "n": n})


@pytest.mark.parametrize("statistic", ["proportion", "rate", "ratio"])
@pytest.mark.parametrize("spread", [0.0, 0.3])
def test_dl_matches_an_independent_computation(statistic: str, spread: float) -> None:
    t = _overdispersed(statistic, spread)
    if statistic == "ratio":  # expected events from the pooled rate, so the target is 1 either way
        t = t.with_columns(n=pl.col("n") * pl.col("o").sum() / pl.col("n").sum())
    ours = funnel_limits(t, statistic=statistic, numerator="o", denominator="n", overdispersion="dl")
    theta, phi, tau2, lower, upper = _dl_by_hand(t["o"].to_numpy(), t["n"].to_numpy(), statistic)
    print(f"\nDL {statistic}, spread {spread}: φ = {phi:.4f}, τ² = {tau2:.3g}")
    assert ours["funnel_phi"][0] == pytest.approx(phi, rel=1e-12)
    assert ours["funnel_tau2"][0] == pytest.approx(tau2, rel=1e-12, abs=1e-300)
    assert _rel(ours["funnel_lo95"], lower) < 1e-12
    assert _rel(ours["funnel_hi95"], upper) < 1e-12
    exact = funnel_limits(t, statistic=statistic, numerator="o", denominator="n")
    width = (ours["funnel_hi95"] - ours["funnel_lo95"]).to_numpy()
    n = t["n"].to_numpy()
    if statistic == "proportion":  # the same limits with τ² = 0 (no clipping at these n)
        normal_width = 2 * 1.959963984540054 * np.sqrt(theta * (1 - theta) / n)
    else:
        h = 1.959963984540054 / (2 * np.sqrt(n * theta))
        normal_width = theta * ((1 + h) ** 2 - np.maximum(1 - h, 0) ** 2)
    if spread == 0:
        assert _rel(width, normal_width) < 1e-12
        assert tau2 == 0.0  # binomial/Poisson data: no excess variation once the tails are winsorised
        if statistic == "proportion":  # τ² = 0: exactly Fingertips' limits
            assert _rel(ours["funnel_lo95"], exact["funnel_lo95"]) < 1e-12
            assert _rel(ours["funnel_hi998"], exact["funnel_hi998"]) < 1e-12
        else:  # τ² = 0: the square-root normal limits, close to the exact ones once E is not small
            big = (t["n"] * theta >= 100).to_numpy() if statistic == "rate" else (t["n"] >= 100).to_numpy()
            for col in ("funnel_lo95", "funnel_hi95", "funnel_lo998", "funnel_hi998"):
                diff = _rel(ours[col].to_numpy()[big], exact[col].to_numpy()[big])
                print(
                    f"  {col}: square-root normal vs exact at E ≥ 100, worst relative difference {diff:.3f}"
                )
                assert diff < 0.05
    else:
        assert phi > 1 and tau2 > 0
        assert (width > normal_width).all()  # wider than the τ² = 0 limits everywhere when φ > 1
        assert (ours["funnel_position"] == "above 99.8").sum() < (
            exact["funnel_position"] == "above 99.8"
        ).sum()


def test_dl_widens_exactly_when_phi_exceeds_one() -> None:
    """τ² > 0 exactly when Iφ > I − 1: scale the z-scores about the target and watch the limits."""
    rng = np.random.default_rng(3)
    n = rng.integers(500, 5000, 100).astype(float)
    base = rng.normal(0, 1, n.size)
    base = (base - base.mean()) / base.std()
    p0 = 0.3
    s = np.sqrt(p0 * (1 - p0) / n)
    for scale in (0.5, 0.9, 1.2, 2.0):
        t = pl.DataFrame({"o": (p0 + scale * base * s) * n, "n": n})
        out = funnel_limits(
            t, statistic="proportion", numerator="o", denominator="n", target=p0, overdispersion="dl"
        )
        phi, tau2 = out["funnel_phi"][0], out["funnel_tau2"][0]
        widened = bool((out["funnel_hi95"].to_numpy() > p0 + 1.959963984540054 * s + 1e-15).all())
        assert (tau2 > 0) == (n.size * phi > n.size - 1) == widened


def test_dl_curves_follow_the_unit_limits() -> None:
    t = _overdispersed("rate", 0.3)
    curves = funnel_curves(
        t, statistic="rate", numerator="o", denominator="n", multiplier=1e3, overdispersion="dl"
    )
    units = funnel_limits(
        statistic="rate", numerator=t["o"], denominator=t["n"], multiplier=1e3, overdispersion="dl"
    )
    assert curves["events"].null_count() == curves.height
    at = np.interp(t["n"].to_numpy(), curves["hi95_denominator"].to_numpy(), curves["hi95"].to_numpy())
    assert _rel(at, units["funnel_hi95"]) < 1e-3


# ------------------------------------------------------------------------------------------ API and errors


def test_arrays_without_a_table_and_zero_denominators() -> None:
    out = funnel_limits(
        statistic="rate",
        numerator=np.array([0.0, 3.0, 40.0, 0.0]),
        denominator=np.array([0.0, 1000.0, 9000.0, 200.0]),
        multiplier=1e3,
    )
    assert out.columns[:2] == ["numerator", "denominator"]
    assert out["funnel_position"].to_list() == [None, "within", "within", "within"]
    assert out["funnel_lo95"][0] is None
    assert out["funnel_target"][0] == pytest.approx(1e3 * 43 / 10200)


def test_small_expected_counts_use_the_exact_test() -> None:
    """One event on E = 0.0005 is significantly high (P(X ≥ 1) = 1 − e^(−0.0005) < 0.001), so the outer upper
    curve is below 1 event there: the continued limits stay exact for counts below 1."""
    out = funnel_limits(
        statistic="ratio", numerator=[1.0, 0.0, 0.0, 1.0], denominator=[0.0005, 0.0005, 8.0, 0.01]
    )
    assert out["funnel_position"].to_list() == ["above 99.8", "within", "below 99.8", "above 95"]
    assert out["funnel_hi998"][0] * 0.0005 == pytest.approx(special.gdtrib(1.0, 0.001, 0.0005), rel=1e-12)
    assert out["funnel_hi998"][0] * 0.0005 < 1


def test_custom_confidence_names_the_columns() -> None:
    out = funnel_limits(
        statistic="proportion", numerator=[5.0, 50.0], denominator=[10.0, 200.0], confidence=(0.8, 0.99)
    )
    assert {"funnel_lo80", "funnel_hi99"} <= set(out.columns)


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        ({"x": [1.0, -2.0, 3.0], "n": [10.0, 10.0, 10.0]}, {}, r"x: 1 row \(first at 1\) are negative"),
        (
            {"x": [1.0, 2.0, 3.0], "n": [10.0, float("nan"), 10.0]},
            {},
            r"n: 1 row \(first at 1\) are null or NaN",
        ),
        ({"x": [1.0, 2.0, 3.0], "n": [10.0, None, 10.0]}, {}, r"n: 1 row \(first at 1\) are null"),
        ({"x": [1.0, 12.0, 13.0], "n": [10.0, 10.0, 10.0]}, {}, r"x: 2 rows \(first at 1, 2\) exceed n"),
        (
            {"x": [1.0, 2.0], "n": [10.0, 0.0]},
            {"statistic": "ratio"},
            r"n: 1 row \(first at 1\).*zero expected",
        ),
        (
            {"x": [1.0, 2.0], "n": [10.0, 0.0]},
            {"statistic": "rate"},
            r"n: 1 row \(first at 1\).*zero denominator",
        ),
        ({"x": [1.0], "n": [10.0]}, {"statistic": "mean"}, r"statistic: got 'mean'"),
        ({"x": [1.0], "n": [10.0]}, {"confidence": (0.95, 1.2)}, r"confidence: got 1.2"),
        ({"x": [1.0], "n": [10.0]}, {"confidence": (0.0, 0.95)}, r"confidence: got 0.0"),
        ({"x": [1.0], "n": [10.0]}, {"denominator": "pop"}, r"missing column\(s\) \['pop'\]"),
        ({"x": [1.0], "n": [10.0]}, {"overdispersion": "mom"}, r"overdispersion: got 'mom'"),
        ({"x": [1.0], "n": [10.0]}, {"multiplier": -1}, r"multiplier: got -1"),
        ({"x": [0.0, 0.0], "n": [10.0, 5.0]}, {}, r"pooled proportion is 0"),
    ],
)
def test_bad_input_names_column_and_rows(frame: dict, kwargs: dict, match: str) -> None:
    args = {"statistic": "proportion", "numerator": "x", "denominator": "n", **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        funnel_limits(pl.DataFrame(frame), **args)


def test_rate_without_events_needs_a_denominator() -> None:
    t = pl.DataFrame({"ev": [0, 12, 30], "rate": [None, 50.0, 80.0]})
    with pytest.raises(InvalidInputError, match=r"ev: 1 row \(first at 0\) have no events"):
        funnel_limits(t, statistic="rate", numerator="ev", denominator=None, rate="rate", multiplier=1e5)
    t = pl.DataFrame({"ev": [5, 12, 30], "rate": [None, 50.0, 80.0]})
    with pytest.raises(InvalidInputError, match=r"rate: 1 row \(first at 0\) are null"):
        funnel_limits(t, statistic="rate", numerator="ev", denominator=None, rate="rate", multiplier=1e5)


# ------------------------------------------------------------------------------------------ plot


def _synthetic_cells(k: int, seed: int = 11) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    pop = np.round(np.exp(rng.normal(6.5, 1.0, k)))
    risk = 0.02 * np.exp(rng.normal(0, 0.15, k))
    cases = rng.binomial(pop.astype(np.int64), np.clip(risk, 0, 1)).astype(float)
    return pl.DataFrame({"cell": [f"c{i:05d}" for i in range(k)], "cases": cases, "pop": pop})


@pytest.mark.parametrize("overdispersion", [None, "dl"])
def test_plot_writes_a_png_for_30000_cells(tmp_path: Path, overdispersion: str | None) -> None:
    cells = _synthetic_cells(30_000)
    path = funnel_plot(
        cells,
        tmp_path / "funnel.png",
        statistic="proportion",
        numerator="cases",
        denominator="pop",
        multiplier=100,
        label="cell",
        overdispersion=overdispersion,
    )
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["funnel.png"]  # no temporary file left behind


def test_plot_ratio_with_labels(tmp_path: Path, data: Path) -> None:
    inputs = _ref(data, "testdata_funnel_ratio_inputs.csv").with_row_index("unit")
    path = funnel_plot(
        inputs,
        tmp_path / "ratio.png",
        statistic="ratio",
        numerator="obs",
        denominator="expected",
        multiplier=100,
        label="unit",
        max_labels=10,
    )
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_positions_agree_with_the_limits_for_fractional_counts() -> None:
    """Apportioned cells carry fractional counts: the position must agree with the continuous limits."""
    o = np.linspace(0, 15, 2000)
    out = funnel_limits(numerator=o, denominator=np.full(2000, 4.0), statistic="ratio")
    v = out["funnel_value"].to_numpy()
    lo95, hi95 = out["funnel_lo95"].to_numpy(), out["funnel_hi95"].to_numpy()
    lo998, hi998 = out["funnel_lo998"].to_numpy(), out["funnel_hi998"].to_numpy()
    expected = np.where(v < lo998, "below 99.8", np.where(v < lo95, "below 95", np.where(
        v > hi998, "above 99.8", np.where(v > hi95, "above 95", "within"))))  # fmt: skip
    got = np.array(out["funnel_position"].to_list())
    # Points exactly on a limit (to rounding) may go either way.
    on_edge = np.isclose(v, lo95) | np.isclose(v, hi95) | np.isclose(v, lo998) | np.isclose(v, hi998)
    assert (got[~on_edge] == expected[~on_edge]).all(), np.flatnonzero((got != expected) & ~on_edge)[:5]
