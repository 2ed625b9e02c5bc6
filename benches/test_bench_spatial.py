"""Hot spots and clusters on the national res-8 grid (every cell of England and Wales, ~232,000 cells; Census 2021
TS037 'bad or very bad health' share per MSOA area), 999 permutations, against esda in the same run.

hyperlocal's timings include building the neighbour graph. esda's include building its graph, either with
libpysal ``Graph.build_h3`` (the usual route) or from our neighbour list (``Graph.from_sparse``), and run with
``n_jobs=-1`` and numba, compiled before timing (a warm-up call on a small grid). esda keeps its default
``keep_simulations=True`` (an n × 999 array). Agreement figures are attached to each esda result as extra info.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import surfaces  # noqa: E402

VALUE = surfaces.VALUE
R = 999
RESULTS: dict[str, pl.DataFrame] = {}


@pytest.fixture(scope="module")
def grid() -> pl.DataFrame:
    return surfaces.national(surfaces.data_dir(), 8)


@pytest.fixture(scope="module")
def connected(grid: pl.DataFrame) -> pl.DataFrame:
    """The grid without its isolated cells (2 at res 8): libpysal's ``build_h3`` leaves isolated cells out of
    its graph, so esda on that graph needs the values without them."""
    deg = np.diff(hl.spatial._graph(grid["cell"], 1, "cell").offsets)
    return grid.filter(pl.Series(deg > 0))


@pytest.fixture(scope="module")
def esda_ready(grid: pl.DataFrame):  # noqa: ANN201
    """esda with numba compiled (one small call of each statistic), or skip."""
    esda = pytest.importorskip("esda")
    pytest.importorskip("numba")
    small = grid.head(2_000)
    w = _graph_ours(small)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        esda.G_Local(small[VALUE].to_numpy(), w, transform="B", star=True, permutations=99, n_jobs=-1, seed=1)
        esda.Moran_Local(small[VALUE].to_numpy(), w, permutations=99, n_jobs=-1, seed=1)
    return esda


def _graph_ours(t: pl.DataFrame):  # noqa: ANN202
    import scipy.sparse as sp
    from hyperlocal import _core
    from libpysal.graph import Graph

    off, idx, _ = _core.grid_neighbours(t["cell"].to_numpy(), 1)
    n = t.height
    return Graph.from_sparse(
        sp.csr_matrix((np.ones(idx.size), idx.astype(np.int64), off.astype(np.int64)), shape=(n, n))
    )


def _graph_h3(t: pl.DataFrame):  # noqa: ANN202
    from libpysal.graph import Graph

    return Graph.build_h3(hl.cell_to_string(t["cell"]).to_list(), order=1, weight="binary")


def _agreement(ours: np.ndarray, theirs: np.ndarray) -> float:
    ok = np.isfinite(ours)
    p = (ours[ok] + theirs[ok]) / 2
    return float(np.mean(np.abs(ours[ok] - theirs[ok]) <= 4 * np.sqrt(p * (1 - p) / R) + 1e-7))


@pytest.mark.benchmark(group="Gi* national res 8 (~232k cells), 999 permutations, with the graph")
def test_hyperlocal_gi_star(benchmark, grid: pl.DataFrame) -> None:
    out = benchmark.pedantic(hl.local_gi, args=(grid, VALUE), kwargs={"permutations": R}, rounds=3, iterations=1,
                             warmup_rounds=1)  # fmt: skip
    RESULTS["gi"] = out
    assert (out["gi_class"] == "hot").sum() > 0.05 * grid.height


@pytest.mark.benchmark(group="Gi* national res 8 (~232k cells), 999 permutations, with the graph")
@pytest.mark.parametrize("graph", ["build_h3", "our neighbour list"])
def test_esda_gi_star(benchmark, grid: pl.DataFrame, connected: pl.DataFrame, esda_ready, graph: str) -> None:  # noqa: ANN001
    t = connected if graph == "build_h3" else grid

    def run():  # noqa: ANN202
        w = _graph_h3(t) if graph == "build_h3" else _graph_ours(t)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return esda_ready.G_Local(t[VALUE].to_numpy(), w, transform="B", star=True, permutations=R,
                                      n_jobs=-1, seed=1)  # fmt: skip

    ref = benchmark.pedantic(run, rounds=1, iterations=1)
    if "gi" in RESULTS and graph != "build_h3":
        ours = RESULTS["gi"]
        ok = ~ours["isolated"].to_numpy()
        benchmark.extra_info["max_abs_z_diff"] = float(np.abs(ours["gi_z"].to_numpy()[ok] - ref.Zs[ok]).max())
        benchmark.extra_info["max_abs_g_diff"] = float(np.abs(ours["gi"].to_numpy()[ok] - ref.Gs[ok]).max())
        benchmark.extra_info["p_agreement"] = _agreement(ours["gi_p_sim"].to_numpy(), np.asarray(ref.p_sim, float))


@pytest.mark.benchmark(group="local Moran national res 8 (~232k cells), 999 permutations, with the graph")
def test_hyperlocal_local_moran(benchmark, grid: pl.DataFrame) -> None:
    out = benchmark.pedantic(hl.local_moran, args=(grid, VALUE), kwargs={"permutations": R}, rounds=3,
                             iterations=1, warmup_rounds=1)  # fmt: skip
    RESULTS["moran"] = out
    assert (out["moran_quadrant"] == "HH").sum() > 0.05 * grid.height


@pytest.mark.benchmark(group="local Moran national res 8 (~232k cells), 999 permutations, with the graph")
@pytest.mark.parametrize("graph", ["build_h3", "our neighbour list"])
def test_esda_local_moran(benchmark, grid: pl.DataFrame, connected: pl.DataFrame, esda_ready, graph: str) -> None:  # noqa: ANN001
    t = connected if graph == "build_h3" else grid

    def run():  # noqa: ANN202
        w = _graph_h3(t) if graph == "build_h3" else _graph_ours(t)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return esda_ready.Moran_Local(t[VALUE].to_numpy(), w, permutations=R, n_jobs=-1, seed=1)

    ref = benchmark.pedantic(run, rounds=1, iterations=1)
    if "moran" in RESULTS and graph != "build_h3":
        ours = RESULTS["moran"]
        ok = ~ours["isolated"].to_numpy()
        benchmark.extra_info["max_abs_i_diff"] = float(np.abs(ours["moran_i"].to_numpy()[ok] - ref.Is[ok]).max())
        benchmark.extra_info["max_abs_vi_diff"] = float(
            np.abs(ours["moran_variance"].to_numpy()[ok] - ref.VI[ok]).max()
        )
        benchmark.extra_info["p_agreement"] = _agreement(
            ours["moran_p_sim"].to_numpy(), np.asarray(ref.p_sim, float)
        )


@pytest.mark.benchmark(group="k-ring graph national res 8 (~232k cells)")
def test_hyperlocal_neighbours(benchmark, grid: pl.DataFrame) -> None:
    out = benchmark.pedantic(hl.neighbours, args=(grid,), rounds=5, iterations=1, warmup_rounds=1)
    assert out.height > 5 * grid.height


@pytest.mark.benchmark(group="k-ring graph national res 8 (~232k cells)")
def test_libpysal_build_h3(benchmark, grid: pl.DataFrame, connected: pl.DataFrame) -> None:
    pytest.importorskip("libpysal")
    out = benchmark.pedantic(_graph_h3, args=(grid,), rounds=1, iterations=1)
    assert out.n == connected.height  # isolated cells are left out
    assert len(out.adjacency) == hl.neighbours(grid).height  # the same edges as ours
