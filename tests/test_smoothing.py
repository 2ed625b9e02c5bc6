"""Empirical-Bayes smoothing: Marshall's global estimator against esda's formula (and esda itself), the floor
at zero on under-dispersed data, the local estimator against an independent loop over h3-py disks, the
neighbour graph against h3-py, invariants and errors."""

from __future__ import annotations

import h3
import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal import _core
from hyperlocal.exceptions import InvalidInputError
from hyperlocal.smoothing import eb_smooth
from scipy.stats import gamma


def esda_formula(e: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float, float]:
    """esda.smoothing.Empirical_Bayes, written out: (smoothed rates, prior mean, prior variance, unfloored)."""
    r_mean = e.sum() / b.sum()
    rate = e / b
    r_variat = np.sum(b * (rate - r_mean) ** 2) / b.sum()
    r_var = r_variat - r_mean / (b.sum() / len(e))
    weight = r_var / (r_var + r_mean / b)
    return weight * rate + (1.0 - weight) * r_mean, r_mean, r_var


def overdispersed(n: int = 200, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    pop = rng.integers(20, 3000, n).astype(float)
    risk = rng.gamma(4.0, 0.01 / 4.0, n)  # true rates vary around 1%: s² > 0
    return pl.DataFrame({"y": rng.poisson(risk * pop).astype(float), "n": pop})


def test_global_equals_esda_formula_when_overdispersed():
    t = overdispersed()
    ref, m, s2 = esda_formula(t["y"].to_numpy(), t["n"].to_numpy())
    assert s2 > 0
    out = eb_smooth(t, count="y", population="n")
    np.testing.assert_allclose(out["eb_rate"].to_numpy(), ref, rtol=1e-12)
    assert out["eb_prior_mean"][0] == pytest.approx(m, rel=1e-14)
    assert out["eb_prior_var"][0] == pytest.approx(s2, rel=1e-12)
    scaled = eb_smooth(t, count="y", population="n", multiplier=1000)
    np.testing.assert_allclose(scaled["eb_rate"].to_numpy(), ref * 1000, rtol=1e-12)
    assert scaled["eb_prior_var"][0] == pytest.approx(s2 * 1e6, rel=1e-12)


def test_global_equals_esda_itself():
    smoothing = pytest.importorskip("esda.smoothing")
    t = overdispersed(seed=5)
    e, b = t["y"].to_numpy(), t["n"].to_numpy()
    ref = np.asarray(smoothing.Empirical_Bayes(e, b).r).ravel()
    np.testing.assert_allclose(eb_smooth(t, count="y", population="n")["eb_rate"].to_numpy(), ref, rtol=1e-12)


def test_floor_on_underdispersed_data_where_esda_pushes_rates_away():
    # Counts closer to proportional to the population than Poisson noise allows: the moment estimate of the
    # prior variance is negative. esda keeps it, so its "weights" exceed 1 and rates move away from the mean;
    # Marshall (and hyperlocal) floor it at 0, so every rate is the prior mean with a degenerate posterior.
    pop = np.array([100.0, 200.0, 400.0, 800.0, 1600.0, 50.0])
    y = np.round(0.02 * pop) + np.array([1, -1, 0, 1, 0, 0])
    ref, m, s2 = esda_formula(y, pop)
    assert s2 < 0
    raw = y / pop
    assert np.any(np.abs(ref - m) > np.abs(raw - m))  # esda: pushed beyond the crude rate
    out = eb_smooth(pl.DataFrame({"y": y, "n": pop}), count="y", population="n")
    assert out["eb_prior_var"].to_list() == [0.0] * 6
    assert out["eb_weight"].to_list() == [0.0] * 6
    np.testing.assert_allclose(out["eb_rate"].to_numpy(), m, rtol=1e-15)
    # A point-mass posterior has no interval worth publishing: null limits, and a note saying why.
    assert out["eb_lo"].null_count() == 6 and out["eb_hi"].null_count() == 6
    assert set(out["eb_note"].to_list()) == {"prior variance 0: fully shrunk to the prior mean, no interval"}


def test_posterior_is_poisson_gamma():
    t = overdispersed(seed=2)
    out = eb_smooth(t, count="y", population="n", confidence=0.9)
    m, s2 = out["eb_prior_mean"][0], out["eb_prior_var"][0]
    y, n = t["y"].to_numpy(), t["n"].to_numpy()
    post = gamma(m * m / s2 + y, scale=1.0 / (m / s2 + n))
    np.testing.assert_allclose(post.mean(), out["eb_rate"].to_numpy(), rtol=1e-10)  # EB rate = posterior mean
    np.testing.assert_allclose(post.cdf(out["eb_lo"].to_numpy()), 0.05, rtol=1e-8)
    np.testing.assert_allclose(post.sf(out["eb_hi"].to_numpy()), 0.05, rtol=1e-8)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", ["global", "local"])
def test_invariants(seed, method):
    t = grid_table(seed)
    out = eb_smooth(t, count="y", population="n", method=method, k=2)
    raw = (t["y"] / t["n"]).to_numpy()
    eb, m, w = out["eb_rate"].to_numpy(), out["eb_prior_mean"].to_numpy(), out["eb_weight"].to_numpy()
    slack = 1e-12
    assert np.all((np.minimum(raw, m) - slack <= eb) & (eb <= np.maximum(raw, m) + slack))
    assert np.all((w >= 0) & (w <= 1))
    assert np.all(out["eb_prior_var"].to_numpy() >= 0)
    lo, hi = out["eb_lo"].to_numpy(), out["eb_hi"].to_numpy()
    has = out["eb_prior_var"].to_numpy() > 0
    assert np.all(np.isnan(lo) == ~has) and np.all(np.isnan(hi) == ~has)  # intervals exactly where s² > 0
    assert np.all((lo[has] <= eb[has] + slack) & (eb[has] <= hi[has] + slack) & (lo[has] < hi[has]))


def grid_table(seed: int = 0, res: int = 8) -> pl.DataFrame:
    """Cells of a small patch of London (unique, one resolution) with Poisson counts, rates varying in space."""
    lat, lng = np.meshgrid(np.linspace(51.48, 51.53, 12), np.linspace(-0.16, -0.08, 12))
    cells = hl.latlng_to_cell(pl.Series(lat.ravel()), pl.Series(lng.ravel()), res).unique(maintain_order=True)
    rng = np.random.default_rng(seed)
    pop = rng.integers(30, 2000, cells.len()).astype(float)
    risk = 0.01 * (1 + np.arange(cells.len()) / cells.len()) * rng.gamma(5.0, 1 / 5.0, cells.len())
    return pl.DataFrame({"cell": cells, "y": rng.poisson(risk * pop).astype(float), "n": pop})


def local_loop(cells: list[int], y: np.ndarray, n: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Marshall's local moments, one cell at a time, neighbourhoods from h3-py (independent of the core)."""
    where = {c: i for i, c in enumerate(cells)}
    m_out, s2_out = np.empty(len(cells)), np.empty(len(cells))
    for i, c in enumerate(cells):
        hood = [
            where[h3.str_to_int(d)] for d in h3.grid_disk(h3.int_to_str(c), k) if h3.str_to_int(d) in where
        ]
        e, b = y[hood], n[hood]
        m = e.sum() / b.sum()
        s2 = np.sum(b * (e / b - m) ** 2) / b.sum() - m / b.mean()
        m_out[i], s2_out[i] = m, max(s2, 0.0)
    return m_out, s2_out


@pytest.mark.parametrize("k", [1, 2])
def test_local_equals_independent_loop(k):
    t = grid_table(seed=k)
    out = eb_smooth(t, count="y", population="n", method="local", k=k)
    y, n = t["y"].to_numpy(), t["n"].to_numpy()
    m, s2 = local_loop(t["cell"].to_list(), y, n, k)
    assert (s2 > 0).any() and (s2 == 0).any()  # both branches exercised
    np.testing.assert_allclose(out["eb_prior_mean"].to_numpy(), m, rtol=1e-12)
    np.testing.assert_allclose(out["eb_prior_var"].to_numpy(), s2, rtol=1e-9, atol=1e-18)
    w = np.where(s2 > 0, s2 / (s2 + m / n), 0.0)
    np.testing.assert_allclose(out["eb_rate"].to_numpy(), m + w * (y / n - m), rtol=1e-9)


def test_neighbour_graph_matches_h3py():
    t = grid_table()
    cells = t["cell"].to_numpy()
    offsets, index, dist = _core.grid_neighbours(cells, 2)
    assert offsets.dtype == np.uint64 and index.dtype == np.uint32 and dist.dtype == np.uint8
    where = {int(c): i for i, c in enumerate(cells)}
    for i, c in enumerate(cells):
        want = sorted(
            (where[h3.str_to_int(d)], h3.grid_distance(h3.int_to_str(int(c)), d))
            for d in h3.grid_disk(h3.int_to_str(int(c)), 2)
            if h3.str_to_int(d) in where and h3.str_to_int(d) != c
        )
        got = list(
            zip(index[offsets[i] : offsets[i + 1]].tolist(), dist[offsets[i] : offsets[i + 1]].tolist())
        )
        assert got == want


def test_local_errors_name_the_cell_column_and_rows():
    t = grid_table().rename({"cell": "hex"})
    dup = pl.concat([t, t.slice(3, 1)])
    with pytest.raises(InvalidInputError, match=rf"hex: 1 row \(first at {t.height}\)"):
        eb_smooth(dup, count="y", population="n", method="local", cell="hex")
    parent = hl.cell_to_parent(t["hex"].slice(2, 1), 7)[0]
    mixed = t.with_columns(pl.when(pl.int_range(t.height) == 2).then(parent).otherwise("hex").alias("hex"))
    with pytest.raises(InvalidInputError, match=r"hex: 1 row \(first at 2\) invalid; expected cells of one"):
        eb_smooth(mixed, count="y", population="n", method="local", cell="hex")
    with pytest.raises(InvalidInputError, match="k: got 0"):
        eb_smooth(t, count="y", population="n", method="local", cell="hex", k=0)
    with pytest.raises(InvalidInputError, match="missing column"):
        eb_smooth(t, count="y", population="n", method="local")


@pytest.mark.parametrize(
    ("y", "n", "kwargs", "match"),
    [
        (
            [1.0, 2.0, 3.0],
            [10.0, 0.0, 30.0],
            {},
            r"n: 1 row \(first at 1\) invalid; expected finite numbers > 0",
        ),
        (
            [1.0, -2.0, 3.0],
            [10.0, 20.0, 30.0],
            {},
            r"y: 1 row \(first at 1\) invalid; expected finite numbers >= 0",
        ),
        ([1.0, None, 3.0], [10.0, 20.0, 30.0], {}, r"y: 1 row \(first at 1\) invalid"),
        ([1.0, 2.0, 3.0], [10.0, 20.0, 30.0], {"confidence": 1.0}, "confidence"),
        ([1.0, 2.0, 3.0], [10.0, 20.0, 30.0], {"method": "spatial"}, "method"),
        ([1.0, 2.0, 3.0], [10.0, 20.0, 30.0], {"multiplier": -1}, "multiplier"),
    ],
)
def test_errors(y, n, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        eb_smooth(pl.DataFrame({"y": y, "n": n}), count="y", population="n", **kwargs)


def test_empty_and_other_tables():
    empty = eb_smooth(
        pl.DataFrame({"y": [], "n": []}, schema={"y": pl.Float64, "n": pl.Float64}), count="y", population="n"
    )
    assert empty.columns[2:] == [
        "eb_rate", "eb_lo", "eb_hi", "eb_prior_mean", "eb_prior_var", "eb_weight", "eb_note"
    ]  # fmt: skip
    t = overdispersed(20)
    assert eb_smooth(t.to_arrow(), count="y", population="n").equals(eb_smooth(t, count="y", population="n"))


def test_isolated_cells_use_the_global_prior():
    """A cell with no other cell of the table within k has no neighbourhood: it borrows the global prior."""
    import hyperlocal as hl

    t = grid_table(3)
    far = hl.latlng_to_cell([53.0, 54.0], [-2.0, -1.0], 8)  # hundreds of km from the London patch
    t = pl.concat(
        [t, pl.DataFrame({"cell": far, "y": [3.0, 0.0], "n": [3591.0, 500.0]})], how="diagonal_relaxed"
    )
    local = eb_smooth(t, count="y", population="n", method="local", k=1)
    glob = eb_smooth(t, count="y", population="n", method="global")
    iso = local.filter(pl.col("cell").is_in(far.implode()))
    assert iso["eb_note"].to_list() == ["no neighbour within k: global prior"] * 2
    g = glob.filter(pl.col("cell").is_in(far.implode()))
    for col in ("eb_rate", "eb_lo", "eb_hi", "eb_prior_mean", "eb_prior_var"):
        np.testing.assert_allclose(iso[col].to_numpy(), g[col].to_numpy(), rtol=1e-12)
    raw = (iso["y"] / iso["n"]).to_numpy()
    assert np.all(np.abs(iso["eb_rate"].to_numpy() - raw) > 1e-9)  # actually smoothed, not the crude rate
