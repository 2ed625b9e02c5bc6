"""Spatial statistics on H3 neighbourhoods: the k-ring neighbour graph, k-ring smoothing, Getis–Ord Gi / Gi*
hot spots, local Moran's I (LISA) clusters and global Moran's I, with conditional-permutation inference.

The neighbour graph of a table's cells is every other cell *of the table* within grid distance ``k`` (H3
``grid_disk``, from integer H3 operations in the Rust core, correct around pentagons); cells of the disk that
are not in the table are dropped. Statistics use binary weights (Gi, Gi*) or row-standardised weights (local
and global Moran, ``transform="r"``, the default of esda), exactly as esda computes them on the same graph.

Permutation inference is conditional randomisation (Anselin 1995): each cell keeps its value, its kᵢ
neighbours' values are replaced by kᵢ values drawn without replacement from the other n − 1 cells, and the
observed statistic is compared with ``permutations`` such draws. Each cell's draws come from a generator keyed
by (seed, cell id, draw), so the results depend only on the table's (cell, value) pairs and the seed: not on the
row order, the thread count (``RAYON_NUM_THREADS``) or the chunking, and nothing of size n × permutations is
ever stored. The Rust core's module docs (``spatial.rs``) give the algorithm.

p-values and classes
--------------------
``*_p_sim`` is esda's pseudo p-value ("directed"/folded, the default of esda 2.9's ``crand``):
(min(#{sim ≥ obs}, #{sim ≤ obs}) + 1)/(R + 1). It is the one-sided p-value in the direction the observed
statistic lies, so under the null hypothesis about *twice* ``alpha`` of the cells have ``p_sim ≤ alpha``. The
false-discovery-rate step (Benjamini & Hochberg 1995) therefore uses the two-sided p-value min(1, 2·p_sim)
(without permutations: the analytic two-sided p), and a cell is classed significant when its q-value ≤
``alpha``. esda counts a tie (sim = obs) as "larger" only, which makes a statistic that every draw ties (e.g. a
cell whose value equals the mean, Iᵢ = 0) look maximally significant; here ties count on both sides.

Isolated cells (no other cell of the table within ``k``) have no neighbourhood: their statistics, p-values,
q-values and classes are null and ``isolated`` is true. They still count in n, the mean and the variance, and
can be drawn as another cell's neighbours (as in esda).

References
----------
* A. Getis, J. K. Ord (1992), "The analysis of spatial association by use of distance statistics",
  *Geographical Analysis* 24(3):189–206 (Gi).
* J. K. Ord, A. Getis (1995), "Local spatial autocorrelation statistics: distributional issues and an
  application", *Geographical Analysis* 27(4):286–306 (Gi*, moments under randomisation).
* L. Anselin (1995), "Local indicators of spatial association — LISA", *Geographical Analysis* 27(2):93–115
  (local Moran's I, its moments, conditional randomisation).
* A. D. Cliff, J. K. Ord (1981), *Spatial Processes: Models and Applications*, Pion (moments of Moran's I).
* Y. Benjamini, Y. Hochberg (1995), "Controlling the false discovery rate", *JRSS B* 57(1):289–300.
* S. J. Rey, L. Anselin (2007), "PySAL: A Python Library of Spatial Analytical Methods"; esda 2.9
  (``G_Local``, ``Moran_Local``, ``Moran``), whose definitions are matched here and tested against.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from . import _core
from ._convert import KEEP, FrameLike, as_frame, as_u64_cells, is_table_like, require_columns, rows_text
from .exceptions import InvalidInputError, PermutationWarning

__all__ = ["neighbours", "smooth", "local_gi", "local_moran", "global_moran", "fdr_bh"]

_MAX_K = 255

#: The classes of a hot-spot map, in colour order (cold or low-low first: blue; hot or high-high last: red), for
#: each class column: ``gi_class`` of :func:`local_gi` and ``moran_quadrant`` of :func:`local_moran`.
CLASSES = {"gi_class": ("cold", "not significant", "hot"),
           "moran_quadrant": ("LL", "LH", "not significant", "HL", "HH")}  # fmt: skip


def class_codes(column: str) -> pl.Expr:
    """The classes of ``column`` (a key of :data:`CLASSES`) coded 1..K in :data:`CLASSES` order (null: isolated
    or missing), for ``map_png(..., classes=CLASSES[column])`` and the HTML map."""
    order = CLASSES[column]
    return pl.col(column).replace_strict({c: i + 1 for i, c in enumerate(order)}, default=None,
                                         return_dtype=pl.Int32)  # fmt: skip
_QUADRANTS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}


# ------------------------------------------------------------------------------------------------------------
# validation at the boundary
# ------------------------------------------------------------------------------------------------------------


def _check_int(name: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..={hi}"
        raise InvalidInputError(f"{name}: got {v!r}, expected an integer {rng}")
    return int(v)


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InvalidInputError(f"alpha: got {alpha!r}, expected a number strictly between 0 and 1")
    return float(alpha)


def _values(df: pl.DataFrame, col: str, *, nonnegative: bool = False) -> np.ndarray:
    """Column ``col`` as contiguous float64; null, NaN, infinite (and, with ``nonnegative``, negative) values
    are errors naming the column and the first rows."""
    s = df.get_column(col)
    if not (s.dtype.is_numeric() or s.dtype == pl.Null):
        raise InvalidInputError(f"{col}: expected a numeric column, got {s.dtype}")
    if s.dtype == pl.Float64 and s.null_count() == 0:
        x = s.to_numpy()  # zero-copy view of the column's buffer
    else:
        x = s.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad)
        nulls = int(s.null_count())
        what = "null or NaN/infinite" if nulls else "NaN or infinite"
        raise InvalidInputError(
            f"{col}: {rows_text(rows.size, rows[:KEEP].tolist())} are {what}; expected finite numbers"
        )
    if nonnegative and (x < 0).any():
        rows = np.flatnonzero(x < 0)
        raise InvalidInputError(
            f"{col}: {rows_text(rows.size, rows[:KEEP].tolist())} are negative; Getis–Ord G assumes "
            "non-negative values (a share, a rate, a count). Pass allow_negative=True to compute it anyway "
            "(the statistic is then hard to interpret), or use local_moran"
        )
    return np.ascontiguousarray(x)


def _check_variance(col: str, x: np.ndarray) -> None:
    if x.size and float(np.ptp(x)) == 0.0:
        raise InvalidInputError(
            f"{col}: all {x.size} values are equal ({x[0]!r}); zero variance: the statistic is undefined"
        )


def _renamed(e: InvalidInputError, old: str, new: str) -> InvalidInputError:
    msg = str(e)
    return InvalidInputError(f"{new}:{msg[len(old) + 1 :]}" if msg.startswith(f"{old}:") else msg)


@dataclass(frozen=True)
class _Graph:
    cells: np.ndarray  # uint64
    offsets: np.ndarray  # uint64, n + 1
    index: np.ndarray  # uint32
    distance: np.ndarray  # uint8

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.offsets).astype(np.uint32)


def _graph(cells: Any, k: int, column: str) -> _Graph:
    """The core's k-ring graph of ``cells``; invalid, duplicated or mixed-resolution cells are errors naming
    ``column`` and the rows."""
    c = as_u64_cells(cells, column)
    try:
        offsets, index, distance = _core.grid_neighbours(c, k)
    except InvalidInputError as e:
        raise _renamed(e, "cells", column) from e
    return _Graph(c, offsets, index, distance)


def _prepare(
    table: FrameLike, value: str, k: Any, cell: str, *, nonnegative: bool = False
) -> tuple[pl.DataFrame, np.ndarray, _Graph]:
    df = as_frame(table, "table")
    k = _check_int("k", k, 1, _MAX_K)
    require_columns(df, [cell, value], "table")
    x = _values(df, value, nonnegative=nonnegative)
    g = _graph(df.get_column(cell), k, cell)
    return df, x, g


def _core_call(value: str, f: Any, *args: Any) -> Any:
    try:
        return f(*args)
    except InvalidInputError as e:
        raise _renamed(e, "values", value) from e


def fdr_bh(p: Any) -> np.ndarray:
    """Benjamini–Hochberg (1995) q-values (adjusted p-values) of ``p``; NaN entries are left out of the count
    and stay NaN. Equals ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]``.

    Examples
    --------
    >>> fdr_bh([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    ps = p[ok]
    order = np.argsort(ps, kind="stable")
    ranked = ps[order] * m / np.arange(1, m + 1)
    q = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    tmp = np.empty(m)
    tmp[order] = q
    out[ok] = tmp
    return out


def _two_sided_normal_p(z: np.ndarray) -> np.ndarray:
    from scipy import special

    with np.errstate(invalid="ignore"):
        return 2.0 * special.ndtr(-np.abs(z))


def _warn_permutations(m: int, permutations: int, alpha: float, what: str) -> None:
    """Warn when the smallest attainable two-sided pseudo p-value, 2/(R + 1), is too coarse for the FDR at
    ``alpha`` over ``m`` tests: a cell can only be significant when at least m·p_min/alpha cells share that p."""
    if permutations == 0 or m == 0:
        return
    p_min = min(1.0, 2.0 / (permutations + 1))
    needed = math.ceil(m * p_min / alpha - 1e-9)
    if p_min > alpha or (needed > 1 and needed > 0.05 * m):
        warnings.warn(
            f"{what}: with permutations={permutations} the smallest two-sided pseudo p-value is {p_min:.3g}; "
            f"at alpha={alpha} the Benjamini–Hochberg step can only declare cells significant when at least "
            f"{needed:,} of the {m:,} cells reach it. Use at least {math.ceil(2 * m / alpha) - 1:,} permutations "
            f"to detect a single cell, or {math.ceil(40 / alpha) - 1:,} for clusters of 5% of the cells",
            PermutationWarning,
            stacklevel=3,
        )


def _perm_p(
    g: _Graph, x: np.ndarray, seed: int, permutations: int, value: str
) -> np.ndarray:
    """esda's folded pseudo p-value per cell (NaN for isolated cells)."""
    counts = _core_call(
        value, _core.permutation_counts, g.offsets, g.index, x, g.cells, seed, permutations
    )
    p = (counts.astype(np.float64) + 1.0) / (permutations + 1.0)
    p[counts == np.iinfo(np.uint32).max] = np.nan
    return p


def _f64(name: str, a: np.ndarray) -> pl.Series:
    """Float column with NaN (isolated cells, undefined values) as null."""
    return pl.Series(name, a, dtype=pl.Float64).fill_nan(None)


# ------------------------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------------------------


def neighbours(cells: Any, *, k: int = 1, decay: float | None = None, cell: str = "cell") -> pl.DataFrame:
    """The k-ring neighbour graph of a set of cells, as a tidy table.

    One row per (cell, neighbour) pair: every other cell of the set within grid distance ``k`` (H3
    ``grid_disk``, computed with integer H3 operations in the Rust core; a pentagon has 5 neighbours at k = 1,
    not 6). Cells of the disk that are not in the set are dropped. Rows follow the input order of ``cell``, and
    each cell's neighbours their input order. The graph is symmetric.

    Parameters
    ----------
    cells
        UInt64 H3 cells (a Series, numpy array or list), or a table with a ``cell`` column. Valid, of one
        resolution, each once.
    k
        Neighbourhood radius in grid steps, 1..=255.
    decay
        ``None`` (default): binary weights, ``weight`` = 1. A number a > 0: distance decay, ``weight`` =
        distance⁻ᵃ.
    cell
        Name of the cell column of a table input.

    Returns
    -------
    pl.DataFrame
        ``cell`` (UInt64), ``neighbour`` (UInt64), ``distance`` (UInt8, grid steps 1..k), ``weight``
        (Float64).

    Raises
    ------
    InvalidInputError
        Null, invalid, duplicated or mixed-resolution cells (rows named); ``k`` outside 1..=255; ``decay`` not
        a positive number.

    Examples
    --------
    >>> import hyperlocal as hl
    >>> c = hl.latlng_to_cell([51.5], [-0.12], resolution=9)[0]
    >>> import h3
    >>> disk = [h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 1)]
    >>> nb = neighbours(disk)
    >>> nb.filter(pl.col("cell") == c).height
    6
    """
    k = _check_int("k", k, 1, _MAX_K)
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not decay > 0):
        raise InvalidInputError(f"decay: got {decay!r}, expected None or a number > 0")
    if is_table_like(cells):
        df = as_frame(cells, "cells")
        require_columns(df, [cell], "cells")
        cells = df.get_column(cell)
    g = _graph(cells, k, cell)
    row = np.repeat(np.arange(g.cells.size), g.degree)
    dist = g.distance
    weight = np.ones(dist.size) if decay is None else dist.astype(np.float64) ** (-float(decay))
    return pl.DataFrame(
        {
            "cell": pl.Series(g.cells[row], dtype=pl.UInt64),
            "neighbour": pl.Series(g.cells[g.index], dtype=pl.UInt64),
            "distance": pl.Series(dist, dtype=pl.UInt8),
            "weight": pl.Series(weight, dtype=pl.Float64),
        }
    )


def smooth(
    table: FrameLike, value: str, *, k: int = 1, weight: str | None = None, cell: str = "cell"
) -> pl.DataFrame:
    """k-ring means: each cell's mean of ``value`` over itself and every cell of the table within grid distance
    ``k``, optionally weighted (e.g. by population: Σ wⱼxⱼ / Σ wⱼ).

    Returns ``table`` with ``{value}_smooth`` (null where the weights of a neighbourhood sum to 0) and
    ``smooth_cells`` (cells averaged, the cell included); with ``weight`` also ``smooth_weight`` (Σ w).

    Examples
    --------
    >>> import hyperlocal as hl, h3
    >>> c = hl.latlng_to_cell([51.5], [-0.12], resolution=9)[0]
    >>> disk = sorted(h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 1))
    >>> t = pl.DataFrame({"cell": disk, "x": [7.0 if d == c else 0.0 for d in disk]})
    >>> smooth(t, "x").filter(pl.col("cell") == c)["x_smooth"].item()
    1.0
    """
    df, x, g = _prepare(table, value, k, cell)
    w = None
    if weight is not None:
        require_columns(df, [weight], "table")
        w = _values(df, weight)
        if (w < 0).any():
            rows = np.flatnonzero(w < 0)
            raise InvalidInputError(
                f"{weight}: {rows_text(rows.size, rows[:KEEP].tolist())} are negative; expected weights >= 0"
            )
    mean, total = _core_call(value, _core.smooth, g.offsets, g.index, x, w)
    cols = [_f64(f"{value}_smooth", mean), pl.Series("smooth_cells", g.degree + 1, dtype=pl.UInt32)]
    if w is not None:
        cols.append(pl.Series("smooth_weight", total, dtype=pl.Float64))
    return df.with_columns(cols)


def local_gi(
    table: FrameLike,
    value: str,
    *,
    k: int = 1,
    star: bool = True,
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    allow_negative: bool = False,
    cell: str = "cell",
) -> pl.DataFrame:
    """Getis–Ord hot spots: Gi* (``star=True``, the cell counts in its own neighbourhood) or Gi, with binary
    k-ring weights.

    Gi* = Σⱼ∈N(i)∪{i} xⱼ / Σⱼ xⱼ with expectation (kᵢ + 1)/n and variance (kᵢ+1)(n − kᵢ − 1)/(n − 1) ·
    s²/(n x̄)² under randomisation (Ord & Getis 1995; s² the population variance of all values); Gi (Getis &
    Ord 1992) leaves xᵢ out of the numerator and uses the other n − 1 values for the denominator and the
    moments. These equal esda's ``G_Local(y, w, transform="B", star=...)`` ``Gs``, ``EGs``, ``VGs`` and
    ``Zs``. (esda's default ``transform="R"`` standardises the weights of each row but keeps the binary-weights
    variance kᵢ(N − kᵢ), which is then not the variance of the statistic; binary weights are the statistic of
    Getis & Ord.)

    Parameters
    ----------
    table
        One row per cell (any table: Polars, pandas, Arrow).
    value
        A non-negative numeric column (share, rate, count). Null, NaN, infinite and constant values are errors;
        negative values too, unless ``allow_negative``.
    k
        Neighbourhood radius in grid steps (1..=255).
    star
        Gi* (default) or Gi.
    permutations
        Conditional permutations for the pseudo p-value (0: none, analytic p only).
    seed
        Seed of the permutations (0..2⁶⁴ − 1); the same seed gives identical results on any machine and thread
        count.
    alpha
        The false discovery rate at which cells are classed hot or cold.
    allow_negative
        Accept negative values.
    cell
        The column of UInt64 H3 cells (unique, one resolution).

    Returns
    -------
    pl.DataFrame
        ``table`` plus ``gi`` (the statistic), ``gi_expected``, ``gi_variance``, ``gi_z``, ``gi_p`` (analytic,
        two-sided: 2·Φ(−|z|); esda's ``p_norm`` is the one-sided half of it), ``gi_p_sim`` (esda's folded pseudo
        p-value; null without permutations), ``gi_q`` (Benjamini–Hochberg over the non-isolated cells, of the
        two-sided permutation p min(1, 2·p_sim), or of ``gi_p`` without permutations), ``gi_class`` ("hot" /
        "cold" where q ≤ alpha and z > 0 / z < 0, else "not significant"), ``neighbours`` (UInt32) and
        ``isolated``. Isolated cells have nulls in every statistic column.

    Raises
    ------
    InvalidInputError
        Missing columns; null, NaN, infinite, negative (unless allowed) or constant values; null, invalid,
        duplicated or mixed-resolution cells (rows named); bad ``k``, ``permutations``, ``seed`` or ``alpha``.

    Warns
    -----
    PermutationWarning
        When ``permutations`` is too small for the FDR step to reach ``alpha`` at this number of cells.

    Examples
    --------
    >>> import hyperlocal as hl, h3
    >>> c = hl.latlng_to_cell([53.48], [-2.24], resolution=9)[0]
    >>> disk = sorted(h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 10))
    >>> hot = set(h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 3))
    >>> t = pl.DataFrame({"cell": disk, "x": [5.0 if d in hot else 1.0 for d in disk]})
    >>> out = local_gi(t, "x")
    >>> out.filter(pl.col("cell") == c)["gi_class"].item()
    'hot'
    >>> near = {h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 4)}
    >>> hot_cells = set(out.filter(pl.col("gi_class") == "hot")["cell"].to_list())
    >>> len(hot_cells) >= 19 and hot_cells <= near
    True
    """
    permutations = _check_int("permutations", permutations, 0, 2**32 - 2)
    seed = _check_int("seed", seed, 0, 2**64 - 1)
    alpha = _check_alpha(alpha)
    df, x, g = _prepare(table, value, k, cell, nonnegative=not allow_negative)
    deg = g.degree
    isolated = deg == 0
    if df.height == 0:
        return _empty(df, ["gi", "gi_expected", "gi_variance", "gi_z", "gi_p", "gi_p_sim", "gi_q"], "gi_class")
    _check_variance(value, x)
    if x.sum() <= 0:
        raise InvalidInputError(f"{value}: the values sum to {x.sum()!r}; Getis–Ord G needs a positive total")
    gs, eg, vg, z = _core_call(value, _core.local_g, g.offsets, g.index, x, bool(star))
    p = _two_sided_normal_p(z)
    p_sim = np.full(x.size, np.nan)
    if permutations:
        _warn_permutations(int((~isolated).sum()), permutations, alpha, "local_gi")
        p_sim = _perm_p(g, x, seed, permutations, value)
        q = fdr_bh(np.minimum(1.0, 2.0 * p_sim))
    else:
        q = fdr_bh(p)
    sig = q <= alpha
    code = np.where(isolated, -1, np.where(sig & (z > 0), 1, np.where(sig & (z < 0), 2, 0))).astype(np.int8)
    return df.with_columns(
        _f64("gi", gs),
        _f64("gi_expected", eg),
        _f64("gi_variance", vg),
        _f64("gi_z", z),
        _f64("gi_p", p),
        _f64("gi_p_sim", p_sim),
        _f64("gi_q", q),
        _labels("gi_class", code, ("not significant", "hot", "cold")),
        pl.Series("neighbours", deg, dtype=pl.UInt32),
        pl.Series("isolated", isolated, dtype=pl.Boolean),
    )


def _labels(name: str, code: np.ndarray, labels: tuple[str, ...]) -> pl.Series:
    """String labels of small integer codes (−1: null), without a numpy string array per row."""
    mapping = {i: lab for i, lab in enumerate(labels)}
    return (
        pl.Series(name, code, dtype=pl.Int8)
        .replace_strict(mapping, default=None, return_dtype=pl.String)
        .alias(name)
    )


def _empty(df: pl.DataFrame, floats: list[str], label: str) -> pl.DataFrame:
    return df.with_columns(
        *[pl.Series(c, [], dtype=pl.Float64) for c in floats],
        pl.Series(label, [], dtype=pl.String),
        pl.Series("neighbours", [], dtype=pl.UInt32),
        pl.Series("isolated", [], dtype=pl.Boolean),
    )


def _check_transform(transform: Any) -> bool:
    if not isinstance(transform, str) or transform.lower() not in ("r", "b"):
        raise InvalidInputError(
            f"transform: got {transform!r}, expected 'r' (row-standardised) or 'b' (binary)"
        )
    return transform.lower() == "r"


def local_moran(
    table: FrameLike,
    value: str,
    *,
    k: int = 1,
    transform: str = "r",
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    cell: str = "cell",
) -> pl.DataFrame:
    """Local Moran's I (LISA, Anselin 1995) with k-ring weights, conditional-permutation inference and
    Benjamini–Hochberg FDR.

    With zᵢ = (xᵢ − x̄)/s (population s) and lagᵢ = Σⱼ wᵢⱼ zⱼ (row-standardised: the mean of the neighbours'
    z), Iᵢ = (n − 1) zᵢ lagᵢ / Σⱼ zⱼ², esda's ``Moran_Local(y, w, transformation=transform).Is``. The expectation
    and variance are esda's ``EI`` and ``VI`` (Anselin's moments under total randomisation: E = −wᵢ/(n − 1),
    V = wᵢ₍₂₎(n − b₂)/(n − 1) + (wᵢ² − wᵢ₍₂₎)(2b₂ − n)/((n − 1)(n − 2)) − E²). Those are the moments of Anselin's
    zᵢ lagᵢ / m₂, which is n/(n − 1) × Iᵢ, so the z-score is (n/(n − 1)·Iᵢ − E)/√V (esda gives no analytic z).

    Returns
    -------
    pl.DataFrame
        ``table`` plus ``moran_i``, ``moran_expected``, ``moran_variance``, ``moran_z``, ``moran_p`` (analytic,
        two-sided), ``moran_p_sim`` (esda's folded pseudo p; 1 where zᵢ = 0, since every draw then ties),
        ``moran_q`` (Benjamini–Hochberg of min(1, 2·p_sim), or of ``moran_p`` without permutations),
        ``moran_lag`` (lag of the standardised value), ``moran_quadrant`` ("HH", "LL", "HL", "LH" where q ≤
        alpha, from the signs of zᵢ and lagᵢ as esda's ``q``; else "not significant"), ``neighbours`` and
        ``isolated`` (null statistics).

    Raises
    ------
    InvalidInputError
        As :func:`local_gi` (negative values are fine here); ``transform`` not "r" or "b".

    Examples
    --------
    >>> import hyperlocal as hl, h3
    >>> c = hl.latlng_to_cell([53.48], [-2.24], resolution=9)[0]
    >>> disk = sorted(h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 10))
    >>> hot = set(h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 3))
    >>> t = pl.DataFrame({"cell": disk, "x": [5.0 if d in hot else 1.0 for d in disk]})
    >>> local_moran(t, "x").filter(pl.col("cell") == c)["moran_quadrant"].item()
    'HH'
    """
    row = _check_transform(transform)
    permutations = _check_int("permutations", permutations, 0, 2**32 - 2)
    seed = _check_int("seed", seed, 0, 2**64 - 1)
    alpha = _check_alpha(alpha)
    df, x, g = _prepare(table, value, k, cell)
    deg = g.degree
    isolated = deg == 0
    names = ["moran_i", "moran_expected", "moran_variance", "moran_z", "moran_p", "moran_p_sim", "moran_q",
             "moran_lag"]  # fmt: skip
    if df.height == 0:
        return _empty(df, names, "moran_quadrant")
    _check_variance(value, x)
    i, e, v, z, lag, quad, zv = _core_call(value, _core.local_moran, g.offsets, g.index, x, row)
    p = _two_sided_normal_p(z)
    p_sim = np.full(x.size, np.nan)
    if permutations:
        _warn_permutations(int((~isolated).sum()), permutations, alpha, "local_moran")
        p_sim = _perm_p(g, x, seed, permutations, value)
        p_sim[(zv == 0) & ~isolated] = 1.0
        q = fdr_bh(np.minimum(1.0, 2.0 * p_sim))
    else:
        q = fdr_bh(p)
    code = np.where(isolated, -1, np.where(q <= alpha, quad, 0)).astype(np.int8)
    quadrant = _labels("moran_quadrant", code, ("not significant", "HH", "LH", "LL", "HL"))
    return df.with_columns(
        *[_f64(n, a) for n, a in zip(names, (i, e, v, z, p, p_sim, q, lag))],
        quadrant,
        pl.Series("neighbours", deg, dtype=pl.UInt32),
        pl.Series("isolated", isolated, dtype=pl.Boolean),
    )


def global_moran(
    table: FrameLike,
    value: str,
    *,
    k: int = 1,
    transform: str = "r",
    permutations: int = 999,
    seed: int = 0,
    cell: str = "cell",
) -> pl.DataFrame:
    """Global Moran's I on k-ring weights, as esda's ``Moran(y, w, transformation=transform)``.

    I = n/S₀ · Σᵢ zᵢ Σⱼ wᵢⱼ zⱼ / Σ zᵢ² (z = x − x̄), E[I] = −1/(n − 1), variances under normality and under
    randomisation (Cliff & Ord 1981), their z-scores and two-sided p-values, and ``permutations`` full random
    permutations of the values (each from a generator keyed by (seed, permutation)): ``p_sim`` is esda's folded
    pseudo p-value, ``z_sim`` the standardised I against the permutation mean and standard deviation.

    Returns
    -------
    pl.DataFrame
        One row: ``I``, ``expected``, ``variance_norm``, ``variance_rand``, ``z_norm``, ``z_rand``, ``p_norm``,
        ``p_rand``, ``p_sim``, ``mean_sim``, ``sd_sim``, ``z_sim``, ``n``, ``isolated``, ``k``,
        ``permutations``.

    Examples
    --------
    >>> import hyperlocal as hl, h3
    >>> c = hl.latlng_to_cell([53.48], [-2.24], resolution=9)[0]
    >>> disk = sorted(h3.str_to_int(h) for h in h3.grid_disk(h3.int_to_str(c), 8))
    >>> lat = [h3.cell_to_latlng(h3.int_to_str(d))[0] for d in disk]
    >>> t = pl.DataFrame({"cell": disk, "x": lat})
    >>> float(global_moran(t, "x", permutations=99)["I"].item()) > 0.9
    True
    """
    row = _check_transform(transform)
    permutations = _check_int("permutations", permutations, 0, 2**32 - 2)
    seed = _check_int("seed", seed, 0, 2**64 - 1)
    df, x, g = _prepare(table, value, k, cell)
    _check_variance(value, x)
    out = dict(_core_call(value, _core.global_moran, g.offsets, g.index, x, row, permutations, seed))
    p_norm, p_rand = _two_sided_normal_p(np.array([out["z_norm"], out["z_rand"]]))
    res: dict[str, Any] = {key: out[key] for key in ("I", "expected", "variance_norm", "variance_rand", "z_norm",
                                                     "z_rand")}  # fmt: skip
    res |= {"p_norm": float(p_norm), "p_rand": float(p_rand)}
    if permutations:
        res |= {
            "p_sim": (out["count"] + 1.0) / (permutations + 1.0),
            "mean_sim": out["mean_sim"],
            "sd_sim": out["sd_sim"],
            "z_sim": (out["I"] - out["mean_sim"]) / out["sd_sim"] if out["sd_sim"] > 0 else None,
        }
    else:
        res |= {"p_sim": None, "mean_sim": None, "sd_sim": None, "z_sim": None}
    res |= {"n": x.size, "isolated": int((g.degree == 0).sum()), "k": int(k), "permutations": permutations}
    schema = {key: pl.Float64 for key in res} | {"n": pl.Int64, "isolated": pl.Int64, "k": pl.Int64,
                                                  "permutations": pl.Int64}  # fmt: skip
    return pl.DataFrame({key: [v] for key, v in res.items()}, schema=schema)
