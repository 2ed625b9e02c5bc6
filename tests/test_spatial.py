"""Spatial statistics on H3 neighbourhoods (issue 10): agreement with esda on the same weights, on real
surfaces (TS037 2021 'bad or very bad health' share on the national MSOA-area grid at res 8 and on Greater
Manchester's LSOAs at res 9); the neighbour graph around pentagons; determinism; bad input; isolated cells.

esda's graph is built from our neighbour list (``libpysal.graph.Graph.from_sparse`` of the same CSR), so the
comparison is of the statistics alone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import h3
import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from hyperlocal import _core
from hyperlocal.exceptions import InvalidInputError, PermutationWarning
from hyperlocal.spatial import fdr_bh

sys.path.insert(0, str(Path(__file__).resolve().parent))
import surfaces  # noqa: E402

VALUE = surfaces.VALUE
R = 999


@pytest.fixture(scope="module")
def national8(data: Path) -> pl.DataFrame:
    return surfaces.national(data, 8)


@pytest.fixture(scope="module")
def gm9(data: Path) -> pl.DataFrame:
    return surfaces.greater_manchester(data, 9)


def esda_graph(cells: np.ndarray, k: int = 1):  # noqa: ANN201 - libpysal Graph
    """libpysal Graph of our k-ring neighbour list (binary weights; isolated cells as libpysal islands)."""
    import scipy.sparse as sp
    from libpysal.graph import Graph

    off, idx, _ = _core.grid_neighbours(np.ascontiguousarray(cells, dtype=np.uint64), k)
    n = cells.size
    w = sp.csr_matrix((np.ones(idx.size), idx.astype(np.int64), off.astype(np.int64)), shape=(n, n))
    return Graph.from_sparse(w)


def quiet(f, *a, **kw):  # noqa: ANN001, ANN201
    """Call esda with its deprecation and division warnings silenced (filterwarnings = error)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f(*a, **kw)


def mc_agreement(ours: np.ndarray, theirs: np.ndarray, permutations: int) -> float:
    """Share of cells whose pseudo p-values agree within Monte-Carlo error: |Δp| ≤ 4·√(p(1−p)/R), p the mean
    of the two estimates."""
    ref = np.asarray(theirs, dtype=np.float64)
    p = (ours + ref) / 2
    tol = 4 * np.sqrt(p * (1 - p) / permutations) + 1e-7  # esda's p_sim is float32
    return float(np.mean(np.abs(ours - ref) <= tol))


# --------------------------------------------------------------------------------------------------------
# esda agreement: deterministic statistics on the full national res-8 grid
# --------------------------------------------------------------------------------------------------------


def test_national_res8_statistics_equal_esda(national8: pl.DataFrame) -> None:
    import esda

    n = national8.height
    assert 200_000 < n < 260_000
    x = national8[VALUE].to_numpy()
    w = esda_graph(national8["cell"].to_numpy())
    for star in (True, False):
        ours = hl.local_gi(national8, VALUE, star=star, permutations=0)
        ok = ~ours["isolated"].to_numpy()
        assert ok.sum() >= n - 5  # a few island cells at most
        ref = quiet(esda.G_Local, x, w, transform="B", star=star, permutations=0)
        for col, attr in (("gi", "Gs"), ("gi_expected", "EGs"), ("gi_variance", "VGs"), ("gi_z", "Zs")):
            diff = np.abs(ours[col].to_numpy()[ok] - np.asarray(getattr(ref, attr))[ok])
            assert diff.max() < 1e-9, (star, col, diff.max())
        # our analytic p is two-sided; esda's p_norm is the one-sided half
        assert np.abs(ours["gi_p"].to_numpy()[ok] - 2 * ref.p_norm[ok]).max() < 1e-12
    lm = hl.local_moran(national8, VALUE, permutations=0)
    ref = quiet(esda.Moran_Local, x, w, transformation="r", permutations=0)
    ok = ~lm["isolated"].to_numpy()
    for col, attr in (("moran_i", "Is"), ("moran_expected", "EI"), ("moran_variance", "VI")):
        diff = np.abs(lm[col].to_numpy()[ok] - np.asarray(getattr(ref, attr))[ok])
        assert diff.max() < 1e-9, (col, diff.max())
    z = (ref.Is[ok] * n / (n - 1) - ref.EI[ok]) / np.sqrt(ref.VI[ok])
    assert np.abs(lm["moran_z"].to_numpy()[ok] - z).max() < 1e-9
    quad = np.array(["", "HH", "LH", "LL", "HL"])[ref.q]
    sig = lm["moran_quadrant"].to_numpy()[ok]
    assert (sig[sig != "not significant"] == quad[ok][sig != "not significant"]).all()
    gm = hl.global_moran(national8, VALUE, permutations=0).row(0, named=True)
    ref = quiet(esda.Moran, x, w, transformation="r", permutations=0)
    for col, attr in (("I", "I"), ("expected", "EI"), ("variance_norm", "VI_norm"),
                      ("variance_rand", "VI_rand"), ("z_norm", "z_norm"), ("z_rand", "z_rand")):  # fmt: skip
        assert abs(gm[col] - getattr(ref, attr)) < 1e-9 * max(1.0, abs(getattr(ref, attr))), col
    assert gm["I"] > 0.9 and gm["isolated"] == int((~ok).sum())


# --------------------------------------------------------------------------------------------------------
# esda agreement: permutation p-values (Greater Manchester res 9, and a national res-8 region)
# --------------------------------------------------------------------------------------------------------


def _pvalue_agreement(t: pl.DataFrame) -> dict[str, float]:
    """Agreement of our pseudo p-values with esda's, the reference being the mean of two esda runs (seeds 11
    and 12). esda draws one set of permutation ids for all cells, so its Monte-Carlo errors are correlated
    across cells: a single run can shift the p-values of a whole region together (seen: mean shift 0.002 over
    17,000 cells with seed 11). Two runs halve that variance; ours are independent per cell."""
    import esda

    x = t[VALUE].to_numpy()
    w = esda_graph(t["cell"].to_numpy())
    out = {}
    gi = hl.local_gi(t, VALUE, permutations=R, seed=3)
    ok = ~gi["isolated"].to_numpy()
    ref = np.mean([quiet(esda.G_Local, x, w, transform="B", star=True, permutations=R, seed=s, n_jobs=1,
                         keep_simulations=False).p_sim for s in (11, 12)], axis=0)  # fmt: skip
    out["gi*"] = mc_agreement(gi["gi_p_sim"].to_numpy()[ok], ref[ok], R)
    lm = hl.local_moran(t, VALUE, permutations=R, seed=3)
    ref = np.mean([quiet(esda.Moran_Local, x, w, transformation="r", permutations=R, seed=s, n_jobs=1,
                         keep_simulations=False).p_sim for s in (11, 12)], axis=0)  # fmt: skip
    out["moran"] = mc_agreement(lm["moran_p_sim"].to_numpy()[ok], ref[ok], R)
    print("p-value agreement with esda:", t.height, "cells", out)
    return out


def test_permutation_p_values_agree_with_esda_greater_manchester(gm9: pl.DataFrame) -> None:
    assert 10_000 < gm9.height < 20_000
    agree = _pvalue_agreement(gm9)
    assert all(a >= 0.99 for a in agree.values()), agree


def test_permutation_p_values_agree_with_esda_national_region(national8: pl.DataFrame) -> None:
    ll = hl.cell_to_latlng(national8["cell"])
    box = (ll["lat"].is_between(52.0, 53.0) & ll["lng"].is_between(-3.0, -1.5)).to_numpy()
    region = national8.filter(pl.Series(box))
    assert 10_000 < region.height < 25_000
    agree = _pvalue_agreement(region)
    assert all(a >= 0.99 for a in agree.values()), agree


def test_global_moran_permutation_p_agrees_with_esda(gm9: pl.DataFrame) -> None:
    import esda

    t = gm9.with_columns(pl.Series(VALUE, np.random.default_rng(5).permutation(gm9[VALUE].to_numpy())))
    gm = hl.global_moran(t, VALUE, permutations=199, seed=2).row(0, named=True)
    np.random.seed(1)
    ref = quiet(esda.Moran, t[VALUE].to_numpy(), esda_graph(t["cell"].to_numpy()), permutations=199)
    assert abs(gm["I"] - ref.I) < 1e-12
    # values shuffled over the map: no autocorrelation, p well inside (0, 1) for both, within MC error
    assert abs(gm["p_sim"] - ref.p_sim) <= 4 * np.sqrt(ref.p_sim * (1 - ref.p_sim) / 199) + 0.01
    assert abs(gm["mean_sim"] - ref.EI_sim) < 4 * ref.seI_sim / np.sqrt(199)
    assert abs(gm["sd_sim"] / ref.seI_sim - 1) < 0.25


def test_pseudo_p_values_are_calibrated_under_the_null(gm9: pl.DataFrame) -> None:
    """Values shuffled over the grid: the two-sided p = 2·p_sim is uniform, so ~5% are ≤ 0.05, and the FDR
    step finds (almost) nothing."""
    x = np.random.default_rng(0).permutation(gm9[VALUE].to_numpy())
    t = gm9.with_columns(pl.Series(VALUE, x))
    out = hl.local_gi(t, VALUE, permutations=R)
    p2 = np.minimum(1, 2 * out["gi_p_sim"].to_numpy())
    assert 0.035 < np.mean(p2 <= 0.05) < 0.065
    assert (out["gi_class"] != "not significant").sum() <= 0.002 * t.height
    # and the real surface has clusters
    real = hl.local_gi(gm9, VALUE, permutations=R)
    assert (real["gi_class"] == "hot").sum() > 0.05 * gm9.height
    assert (real["gi_class"] == "cold").sum() > 0.05 * gm9.height


# --------------------------------------------------------------------------------------------------------
# neighbour graph
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("res", [3, 8])
def test_neighbour_graph_equals_the_true_k_ring_around_a_pentagon(res: int) -> None:
    pent = next(p for p in h3.get_pentagons(res))
    cells = sorted(h3.grid_disk(pent, 4))
    ints = np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64)
    in_set = set(cells)
    for k in (1, 2, 3):
        nb = hl.neighbours(pl.Series("cell", ints), k=k)
        got: dict[str, set[tuple[str, int]]] = {}
        for a, b, d in nb.select("cell", "neighbour", "distance").iter_rows():
            got.setdefault(h3.int_to_str(a), set()).add((h3.int_to_str(b), d))
        for c in cells:
            # ring distance = the smallest disk holding the cell (h3.grid_distance fails across pentagons)
            dist: dict[str, int] = {}
            for d in range(k, 0, -1):
                dist |= {o: d for o in h3.grid_disk(c, d)}
            want = {(o, d) for o, d in dist.items() if o != c and o in in_set}
            assert got.get(c, set()) == want, (c, k)
        assert len(got[pent]) == {1: 5, 2: 15, 3: 30}[k]


def test_neighbours_frame_weights_and_symmetry(gm9: pl.DataFrame) -> None:
    nb = hl.neighbours(gm9, k=2)
    assert nb.columns == ["cell", "neighbour", "distance", "weight"]
    assert nb.schema["cell"] == pl.UInt64 and nb.schema["distance"] == pl.UInt8
    assert (nb["weight"] == 1.0).all() and set(nb["distance"].unique()) == {1, 2}
    back = nb.select(pl.col("neighbour").alias("cell"), pl.col("cell").alias("neighbour"), "distance")
    assert back.sort("cell", "neighbour").equals(nb.select("cell", "neighbour", "distance").sort("cell", "neighbour"))
    dec = hl.neighbours(gm9["cell"], k=2, decay=2.0)
    assert np.allclose(dec["weight"].to_numpy(), dec["distance"].to_numpy().astype(float) ** -2.0)


# --------------------------------------------------------------------------------------------------------
# smoothing
# --------------------------------------------------------------------------------------------------------


def test_smooth_equals_an_independent_k_ring_loop(gm9: pl.DataFrame) -> None:
    rng = np.random.default_rng(4)
    t = gm9.with_columns(pop=pl.Series(rng.integers(0, 500, gm9.height).astype(float)))
    plain = hl.smooth(t, VALUE, k=2)
    weighted = hl.smooth(t, VALUE, k=2, weight="pop")
    lookup = dict(zip(t["cell"].to_list(), zip(t[VALUE].to_list(), t["pop"].to_list())))
    for i in rng.choice(t.height, 300, replace=False):
        c = t["cell"][int(i)]
        ring = [lookup[h3.str_to_int(o)] for o in h3.grid_disk(h3.int_to_str(c), 2) if h3.str_to_int(o) in lookup]
        vals = np.array([v for v, _ in ring])
        pops = np.array([p for _, p in ring])
        assert abs(plain[f"{VALUE}_smooth"][int(i)] - vals.mean()) < 1e-12
        assert plain["smooth_cells"][int(i)] == len(ring)
        if pops.sum() > 0:
            assert abs(weighted[f"{VALUE}_smooth"][int(i)] - (vals * pops).sum() / pops.sum()) < 1e-12
        else:
            assert weighted[f"{VALUE}_smooth"][int(i)] is None


# --------------------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------------------

SCRIPT = """
import sys, hashlib
sys.path.insert(0, sys.argv[2])
from pathlib import Path
import numpy as np, polars as pl, hyperlocal as hl, surfaces
t = surfaces.greater_manchester(Path(sys.argv[1]), 9)
outs = [hl.local_gi(t, "bad_share"), hl.local_gi(t, "bad_share", star=False, k=2),
        hl.local_moran(t, "bad_share"), hl.global_moran(t, "bad_share", permutations=99),
        hl.smooth(t, "bad_share", k=3), hl.neighbours(t, k=2)]
for o in outs:
    h = hashlib.sha256()
    for c in o.columns:
        s = o[c]
        h.update(c.encode())
        if s.dtype == pl.String:
            h.update("\\x00".join(s.fill_null("null").to_list()).encode())
        else:
            h.update(s.to_numpy().tobytes())
        h.update(s.is_null().to_numpy().tobytes())
    print(h.hexdigest())
"""


def test_identical_bytes_with_one_and_two_threads_and_across_runs(data: Path) -> None:
    here = str(Path(__file__).resolve().parent)
    digests = []
    for threads in ("1", "2", "2"):
        env = {**os.environ, "RAYON_NUM_THREADS": threads, "POLARS_MAX_THREADS": threads}
        r = subprocess.run([sys.executable, "-c", SCRIPT, str(data), here], check=True, env=env,
                           capture_output=True, text=True)  # fmt: skip
        digests.append(r.stdout.split())
    assert len(digests[0]) == 6
    assert digests[0] == digests[1] == digests[2]


def test_results_depend_on_cells_not_row_order_and_on_the_seed(gm9: pl.DataFrame) -> None:
    a = hl.local_moran(gm9, VALUE, seed=7)
    perm = np.random.default_rng(1).permutation(gm9.height)
    b = hl.local_moran(gm9[perm.tolist()], VALUE, seed=7).sort("cell")
    a_sorted = a.sort("cell")
    for col in ("moran_i", "moran_p_sim", "moran_q", "moran_quadrant"):
        if a_sorted.schema[col] == pl.Float64:
            assert np.allclose(a_sorted[col].to_numpy(), b[col].to_numpy(), rtol=0, atol=1e-12), col
        else:
            assert a_sorted[col].equals(b[col]), col
    assert (a_sorted["moran_p_sim"] == b["moran_p_sim"]).all()  # exactly: draws keyed by cell
    c = hl.local_moran(gm9, VALUE, seed=8)
    assert not np.array_equal(a["moran_p_sim"].to_numpy(), c["moran_p_sim"].to_numpy())


# --------------------------------------------------------------------------------------------------------
# isolated cells, FDR, warnings
# --------------------------------------------------------------------------------------------------------


def _two_clusters_and_a_lone_cell() -> pl.DataFrame:
    a = [h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(53.48, -2.24, 9), 5)]
    b = [h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(51.5, -0.12, 9), 5)]
    lone = h3.str_to_int(h3.latlng_to_cell(52.2, 0.12, 9))
    cells = a + b + [lone]
    x = np.random.default_rng(0).uniform(1, 2, len(cells))
    return pl.DataFrame({"cell": pl.Series(cells, dtype=pl.UInt64), "x": x})


def test_isolated_cells_get_nulls_and_a_flag_not_nan() -> None:
    t = _two_clusters_and_a_lone_cell()
    for perms in (999, 0):
        for out in (hl.local_gi(t, "x", permutations=perms), hl.local_moran(t, "x", permutations=perms)):
            iso = out["isolated"].to_numpy()
            assert iso.sum() == 1 and iso[-1]
            assert out["neighbours"][-1] == 0 and (out["neighbours"][:-1] > 0).all()
            stats = [c for c in out.columns if c.startswith(("gi", "moran"))]
            assert all(out[c][-1] is None for c in stats)
            for c in stats:
                if out.schema[c] == pl.Float64:
                    assert out[c].is_nan().sum() == 0, c
                    no_sim = perms == 0 and c.endswith("_p_sim")
                    assert out[c].null_count() == (out.height if no_sim else 1), c
                else:
                    assert out[c].null_count() == 1, c
    gm = hl.global_moran(t, "x").row(0, named=True)
    assert gm["isolated"] == 1 and np.isfinite(gm["I"])


def test_fdr_equals_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(3).beta(0.3, 1.0, 5_000)
    assert np.allclose(fdr_bh(p), multipletests(p, method="fdr_bh")[1], rtol=0, atol=1e-15)
    with_nan = np.concatenate([p, [np.nan]])
    q = fdr_bh(with_nan)
    assert np.isnan(q[-1]) and np.allclose(q[:-1], fdr_bh(p))


def test_too_few_permutations_warn(gm9: pl.DataFrame) -> None:
    with pytest.warns(PermutationWarning, match="permutations=99.*at least"):
        hl.local_gi(gm9, VALUE, permutations=99)
    with pytest.warns(PermutationWarning):
        hl.local_moran(gm9.head(30), VALUE, permutations=19)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hl.local_gi(gm9, VALUE, permutations=999)  # enough at this n
        hl.local_gi(gm9, VALUE, permutations=0)


# --------------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------------


@pytest.fixture()
def small(gm9: pl.DataFrame) -> pl.DataFrame:
    return gm9.head(500)


FUNCS = [
    lambda t, **kw: hl.local_gi(t, VALUE, permutations=9, **kw),
    lambda t, **kw: hl.local_moran(t, VALUE, permutations=9, **kw),
    lambda t, **kw: hl.global_moran(t, VALUE, permutations=9, **kw),
    lambda t, **kw: hl.smooth(t, VALUE, **kw),
]


@pytest.mark.parametrize("f", FUNCS)
def test_bad_values_are_named(small: pl.DataFrame, f) -> None:  # noqa: ANN001
    bad = small.with_columns(pl.when(pl.int_range(pl.len()).is_in([3, 7])).then(float("nan"))
                             .otherwise(pl.col(VALUE)).alias(VALUE))  # fmt: skip
    with pytest.raises(InvalidInputError, match=rf"{VALUE}: 2 rows \(first at 3, 7\)"):
        f(bad)
    null = small.with_columns(pl.when(pl.int_range(pl.len()) == 11).then(None).otherwise(pl.col(VALUE)).alias(VALUE))
    with pytest.raises(InvalidInputError, match=rf"{VALUE}: 1 row \(first at 11\) are null"):
        f(null)
    if f is not FUNCS[3]:
        with pytest.raises(InvalidInputError, match=rf"{VALUE}: all 500 values are equal.*zero variance"):
            f(small.with_columns(pl.lit(0.25).alias(VALUE)))


@pytest.mark.parametrize("f", FUNCS)
def test_bad_cells_and_parameters_are_named(small: pl.DataFrame, f) -> None:  # noqa: ANN001
    dup = pl.concat([small, small[[4, 9]]])
    with pytest.raises(InvalidInputError, match=r"cell: 2 rows \(first at 500, 501\).*each cell once"):
        f(dup)
    parent = hl.cell_to_parent(small["cell"][:1], resolution=8)
    mixed = small.with_columns(pl.when(pl.int_range(pl.len()) == 6).then(parent.item())
                               .otherwise(pl.col("cell")).alias("cell"))  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"cell: 1 row \(first at 6\).*one resolution"):
        f(mixed)
    for k in (0, -1, 1.5, True, 256):
        with pytest.raises(InvalidInputError, match=r"^k: got"):
            f(small, k=k)
    with pytest.raises(InvalidInputError, match="missing column"):
        f(small.drop(VALUE))


def test_bad_permutations_seed_alpha_transform(small: pl.DataFrame) -> None:
    for p in (-1, 2.5, None):
        with pytest.raises(InvalidInputError, match=r"^permutations: got"):
            hl.local_gi(small, VALUE, permutations=p)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match=r"^permutations: got"):
            hl.local_moran(small, VALUE, permutations=p)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match=r"^permutations: got"):
            hl.global_moran(small, VALUE, permutations=p)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^seed: got -1"):
        hl.local_gi(small, VALUE, seed=-1)
    for a in (0, 1, -0.1, "0.05"):
        with pytest.raises(InvalidInputError, match=r"^alpha: got"):
            hl.local_moran(small, VALUE, alpha=a)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^transform: got 'x'"):
        hl.local_moran(small, VALUE, transform="x")


def test_negative_values_are_rejected_for_gi_unless_allowed(small: pl.DataFrame) -> None:
    neg = small.with_columns((pl.col(VALUE) - pl.col(VALUE).mean()).alias(VALUE))
    pattern = rf"{VALUE}: \d+ rows \(first at .*negative.*non-negative.*allow_negative"
    with pytest.raises(InvalidInputError, match=pattern):
        hl.local_gi(neg, VALUE)
    shifted = neg.with_columns((pl.col(VALUE) + 0.03).alias(VALUE))
    if (shifted[VALUE] < 0).any():
        out = hl.local_gi(shifted, VALUE, allow_negative=True, permutations=0)
        assert out["gi_z"].null_count() == 0
    hl.local_moran(neg, VALUE, permutations=0)  # Moran takes any values


def test_empty_table_returns_empty_columns() -> None:
    t = pl.DataFrame({"cell": pl.Series([], dtype=pl.UInt64), "x": pl.Series([], dtype=pl.Float64)})
    assert hl.local_gi(t, "x").height == 0 and "gi_class" in hl.local_gi(t, "x").columns
    assert hl.local_moran(t, "x").height == 0
    assert hl.neighbours(t).height == 0


def test_large_inputs_are_not_copied_at_the_boundary(national8: pl.DataFrame) -> None:
    """The numeric column reaches the core as the table's own buffer (float64, no nulls: no copy)."""
    from hyperlocal.spatial import _values

    x = _values(national8, VALUE)
    assert np.shares_memory(x, national8[VALUE].to_numpy())
    assert hashlib.sha256(x.tobytes()).digest() == hashlib.sha256(national8[VALUE].to_numpy().tobytes()).digest()


# --------------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------------


def _cli() -> str:
    import shutil

    beside = Path(sys.executable).parent / "hyperlocal"
    exe = str(beside) if beside.exists() else shutil.which("hyperlocal")
    assert exe
    return exe


def test_cli_hotspots_writes_geoparquet_and_a_map(tmp_path: Path, gm9: pl.DataFrame) -> None:
    import geopandas as gpd

    src = tmp_path / "surface.parquet"
    hl.write(gm9, src)  # GeoParquet input: its geometry column is replaced on output
    out = tmp_path / "hot.parquet"
    r = subprocess.run([_cli(), "hotspots", "--input", str(src), "--value", VALUE, "--out", str(out),
                        "--statistic", "both"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.with_suffix(".png").stat().st_size > 20_000
    g = gpd.read_parquet(out)
    assert len(g) == gm9.height and g.geometry.geom_type.eq("Polygon").all()
    direct = hl.local_moran(hl.local_gi(gm9, VALUE), VALUE)
    assert (g["gi_class"].to_numpy() == direct["gi_class"].to_numpy()).all()
    assert (g["moran_quadrant"].to_numpy() == direct["moran_quadrant"].to_numpy()).all()
    assert "hot:" in r.stdout and "wrote map" in r.stdout
    # CSV with H3 strings, Gi without the cell itself, explicit PNG path
    csv = tmp_path / "surface.csv"
    hl.write(gm9, csv)
    png = tmp_path / "gi.png"
    r = subprocess.run([_cli(), "hotspots", "--input", str(csv), "--value", VALUE, "--out", str(tmp_path / "gi.csv"),
                        "--gi", "--png", str(png), "--permutations", "0"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert png.is_file() and pl.read_csv(tmp_path / "gi.csv")["gi_p_sim"].null_count() == gm9.height


def test_cli_hotspots_errors_are_one_line(tmp_path: Path, gm9: pl.DataFrame) -> None:
    src = tmp_path / "s.parquet"
    pl.concat([gm9, gm9.head(3)]).write_parquet(src)
    cases = [
        (["--value", VALUE], 1, rf"cell: 3 rows \(first at {gm9.height}, "),
        (["--value", "nope"], 1, r"no column\(s\) \['nope'\]"),
        (["--value", VALUE, "--k", "0"], 2, r"--k: got 0"),
        (["--value", VALUE, "--permutations", "-5"], 2, r"--permutations: got -5"),
        (["--value", VALUE, "--alpha", "2"], 2, r"--alpha: got 2"),
    ]
    import re

    for extra, status, pattern in cases:
        r = subprocess.run([_cli(), "hotspots", "--input", str(src), "--out", str(tmp_path / "o.parquet"), *extra],
                           capture_output=True, text=True)  # fmt: skip
        assert r.returncode == status, (extra, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and re.search(pattern, lines[0]), (extra, r.stderr)
    assert not (tmp_path / "o.parquet").exists() and not list(tmp_path.glob(".o.parquet*"))
