"""Apportion area values onto cells, roll cells up to coarser resolutions, count point events per cell.

Extensive variables (counts of people, households, events) are shared out by the crosswalk weights and summed:
``cell = Σ w·x``. Intensive variables (scores, rates, percentages) are averaged: ``cell = Σ w·p·x / Σ w·p`` with
``p`` the ``weight`` column (e.g. population), or ``p = 1`` (crosswalk shares only) when no weight is given.
Sums use Neumaier compensated summation in a fixed order, so totals are conserved to rounding and results do
not depend on the number of threads.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from . import _core
from ._convert import (
    KEEP,
    FrameLike,
    OnInvalid,
    as_frame,
    check_no_nulls,
    check_on_invalid,
    check_resolution,
    check_unique,
    report_skipped,
    require_columns,
    rows_text,
    series_from_numpy,
    shift_rows,
)
from ._wkb import string_views
from .exceptions import InvalidInputError, UnmatchedAreasWarning

__all__ = ["apportion", "rollup", "count_points"]


def _names(x: str | Sequence[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def _numeric(df: pl.DataFrame, col: str, *, nonneg: bool, codes: pl.Series | None = None) -> np.ndarray:
    """A column as contiguous float64; nulls, NaN, infinities (and negatives for counts) are an error that names
    the rows and, when ``codes`` is given, their area codes."""
    return _numeric_series(df.get_column(col), col, nonneg=nonneg, codes=codes)


def _numeric_series(s: pl.Series, col: str, *, nonneg: bool, codes: pl.Series | None = None) -> np.ndarray:
    """:func:`_numeric` of a column already taken out of its frame."""
    if not (s.dtype.is_numeric() or s.dtype == pl.Null):
        raise InvalidInputError(f"{col}: expected a numeric column, got {s.dtype}")
    if s.dtype.is_integer() and s.null_count() == 0 and not (nonneg and len(s) and s.min() < 0):  # type: ignore[operator]
        # Integers are finite: without nulls (or negatives, for counts) there is nothing to find.
        return np.ascontiguousarray(s.cast(pl.Float64).to_numpy())
    if s.dtype == pl.Float64 and s.null_count() == 0:
        a = np.ascontiguousarray(s.to_numpy())  # zero-copy for one chunk: no cast, nothing to fill
    else:
        a = np.ascontiguousarray(s.cast(pl.Float64).fill_null(float("nan")).to_numpy())
    bad = ~np.isfinite(a)
    if nonneg:
        bad |= a < 0
    if bad.any():
        idx = np.flatnonzero(bad)
        what = "non-negative finite values (counts are extensive)" if nonneg else "finite values"
        where = (
            f" [{codes.name}: {', '.join(str(c) for c in codes.gather(idx[:KEEP]).to_list())}]"
            if codes is not None
            else ""
        )
        raise InvalidInputError(
            f"{col}: {rows_text(len(idx), idx[:KEEP].tolist())} null, NaN{', negative' if nonneg else ''} or "
            f"infinite{where}; expected {what}"
        )
    return a


def _check_columns(extensive: list[str], intensive: list[str], weight: str | None) -> None:
    both = set(extensive) & set(intensive)
    if both:
        raise InvalidInputError(f"columns {sorted(both)} are declared both extensive and intensive")
    if weight is not None and weight in intensive:
        raise InvalidInputError(f"weight column {weight!r} cannot itself be intensive")


def _assemble(
    cells: np.ndarray,
    ext: list[np.ndarray],
    ints: list[np.ndarray],
    wsum: np.ndarray,
    extensive: list[str],
    intensive: list[str],
    weight: str | None,
) -> pl.DataFrame:
    cols = [series_from_numpy("cell", cells)]
    cols += [series_from_numpy(n, a) for n, a in zip(extensive, ext)]
    if weight is not None and weight not in extensive:
        cols.append(series_from_numpy(weight, wsum))
    cols += [series_from_numpy(n, a).fill_nan(None) for n, a in zip(intensive, ints)]
    return pl.DataFrame(cols)


def apportion(
    values: FrameLike,
    crosswalk: FrameLike,
    *,
    code: str = "code",
    extensive: str | Sequence[str] = (),
    intensive: str | Sequence[str] = (),
    weight: str | None = None,
) -> pl.DataFrame:
    """Share area values out over cells through a crosswalk.

    Parameters
    ----------
    values
        One row per area: the ``code`` column and the value columns. Codes must be unique and non-null.
    crosswalk
        From :func:`hyperlocal.crosswalk`: ``code``, ``cell``, ``weight`` (each area's weights sum to 1).
        It may cover more areas than ``values``: those areas contribute nothing, and an
        :class:`~hyperlocal.exceptions.UnmatchedAreasWarning` names them.
    extensive
        Count columns, apportioned as ``Σ w·x`` (must be finite and non-negative). National totals are
        conserved.
    intensive
        Score/rate columns, apportioned as means ``Σ w·p·x / Σ w·p`` weighted by ``p = values[weight]`` (e.g.
        population), or by the crosswalk shares alone when ``weight`` is None. A cell whose total weight is 0
        gets null, never NaN.
    weight
        Column of ``values`` weighting the intensive means. It is also apportioned as an extensive column, so
        the result carries it; :func:`rollup` needs it to stay consistent.

    Returns
    -------
    pl.DataFrame
        One row per cell (ascending): ``cell``, the extensive columns (Float64), the weight column, then the
        intensive columns.

    Raises
    ------
    InvalidInputError
        Codes of ``values`` absent from the crosswalk (named), nulls, negative counts, duplicate codes.
    """
    extensive, intensive = _names(extensive), _names(intensive)
    if isinstance(values, pl.LazyFrame):  # read only the columns used (one row per area: collected, see README)
        cols = [c for c in dict.fromkeys([code, *extensive, *intensive, weight]) if c]
        if set(cols) <= set(values.collect_schema()):
            values = values.select(cols)
    values, crosswalk = as_frame(values, "values"), as_frame(crosswalk, "crosswalk")
    _check_columns(extensive, intensive, weight)
    if not extensive and not intensive:
        raise InvalidInputError("apportion: name at least one extensive or intensive column")
    need = [code, *extensive, *intensive] + ([weight] if weight else [])
    require_columns(values, need, "values")
    require_columns(crosswalk, [code, "cell", "weight"], "crosswalk")
    codes = values.get_column(code)
    check_no_nulls(codes, f"values[{code!r}]")
    check_unique(codes, f"values[{code!r}]")
    ext = [_numeric(values, c, nonneg=True, codes=codes) for c in extensive]
    ints = [_numeric(values, c, nonneg=False, codes=codes) for c in intensive]
    p = _numeric(values, weight, nonneg=True, codes=codes) if weight else None

    xw_code, cell, wcol = (crosswalk.get_column(c) for c in (code, "cell", "weight"))
    if crosswalk.height == values.height and xw_code.dtype == codes.dtype and xw_code.equals(codes):
        # The crosswalk lists the same areas in the same order, one row each (a centroid crosswalk of this very
        # table): row i is area i, no join needed.
        area = np.arange(crosswalk.height, dtype=np.uint32)
    elif (by_runs := _area_by_runs(xw_code, codes)) is not None:
        # The crosswalk lists the areas of ``values`` in its order, each area's rows together (a crosswalk of
        # this very table): area i is the i-th run of codes, no join needed (the codes are unique, so each
        # appears in one run only: the join would give the same rows in the same order).
        area = by_runs
    else:
        rows = _join_rows(values, crosswalk.select(code, "cell", "weight"), code)
        cell, wcol, area = rows["cell"], rows["weight"], np.ascontiguousarray(rows["__area"].to_numpy())
    check_no_nulls(cell, "crosswalk['cell']")
    w = _numeric_series(wcol, "weight", nonneg=True)
    cells, e_out, i_out, wsum = _core.weighted_cell_sums(
        np.ascontiguousarray(cell.cast(pl.UInt64).to_numpy()), area, w, values.height, ext, ints, p
    )
    return _assemble(cells, e_out, i_out, wsum, extensive, intensive, weight)


def _area_by_runs(xw_codes: pl.Series, codes: pl.Series) -> np.ndarray | None:
    """The index in ``codes`` (unique) of each row of ``xw_codes`` when its runs of equal codes are exactly
    ``codes`` in order, else None."""
    if xw_codes.dtype != codes.dtype or xw_codes.len() < codes.len():
        return None
    if codes.dtype == pl.String and xw_codes.null_count() == 0:
        # Compared in place on the Arrow string views (no run-length frame): ~10x faster.
        return _core.code_runs(*string_views(xw_codes), *string_views(codes))
    rle = xw_codes.rle()
    value = rle.struct.field("value")
    if value.len() != codes.len() or not value.equals(codes):
        return None
    runs = rle.struct.field("len").to_numpy()
    return np.repeat(np.arange(len(runs), dtype=np.uint32), runs)


def _join_rows(values: pl.DataFrame, xw: pl.DataFrame, code: str) -> pl.DataFrame:
    """Crosswalk rows with the index of their area in ``values``; codes of ``values`` the crosswalk lacks are
    an error that names them."""
    index = values.select(pl.col(code), pl.int_range(pl.len(), dtype=pl.UInt32).alias("__area"))
    if xw.schema[code] != index.schema[code]:
        try:
            xw = xw.with_columns(pl.col(code).cast(index.schema[code]))
        except Exception as e:  # noqa: BLE001
            raise InvalidInputError(
                f"{code}: crosswalk codes are {xw.schema[code]}, values codes {values.schema[code]}"
            ) from e
    xw_codes = xw.select(code).unique(maintain_order=True)
    missing = index.join(xw_codes, on=code, how="anti")
    if missing.height:
        raise InvalidInputError(
            f"values[{code!r}]: {rows_text(missing.height, missing['__area'].head(KEEP).to_list())} have codes "
            f"absent from the crosswalk (e.g. {missing[code].head(KEEP).to_list()}); expected every code in it"
        )
    extra = xw_codes.join(index, on=code, how="anti")
    if extra.height:
        warnings.warn(
            f"crosswalk[{code!r}]: {extra.height} area(s) have no row in values (e.g. "
            f"{extra[code].head(KEEP).to_list()}); their cells get nothing from them",
            UnmatchedAreasWarning,
            stacklevel=3,
        )
    return xw.join(index, on=code, how="inner", maintain_order="left")  # crosswalk row order: a fixed summation order


def rollup(
    table: FrameLike,
    *,
    resolution: int,
    cell: str = "cell",
    extensive: str | Sequence[str] = (),
    intensive: str | Sequence[str] = (),
    weight: str | None = None,
) -> pl.DataFrame:
    """Aggregate a cell table to a coarser ``resolution``, consistently with :func:`apportion`.

    Extensive columns are summed over children. Intensive columns are means weighted by the ``weight`` column
    (the apportioned weight, e.g. population, that :func:`apportion` returns), so rolling res 9 up to res 7
    gives the same table as apportioning directly at res 7. Cells must all be at resolution ≥ ``resolution``;
    intensive nulls are allowed only where the weight is 0.
    """
    table = as_frame(table, "table")
    extensive, intensive = _names(extensive), _names(intensive)
    _check_columns(extensive, intensive, weight)
    res = check_resolution(resolution)
    need = [cell, *extensive, *intensive] + ([weight] if weight else [])
    require_columns(table, need, "table")
    cells = table.get_column(cell)
    check_no_nulls(cells, cell)
    if cells.dtype != pl.UInt64:
        raise InvalidInputError(f"{cell}: expected UInt64 H3 cells, got {cells.dtype}")
    parents = _core.cell_to_parent(np.ascontiguousarray(cells.to_numpy()), res)
    ext = [_numeric(table, c, nonneg=True) for c in extensive]
    p = _numeric(table, weight, nonneg=True) if weight else None
    ints = []
    for c in intensive:
        s = table.get_column(c)
        if p is not None:
            nulls = s.is_null().to_numpy()
            bad = nulls & (p > 0)
            if bad.any():
                idx = np.flatnonzero(bad)
                raise InvalidInputError(
                    f"{c}: {rows_text(len(idx), idx[:KEEP].tolist())} are null where {weight!r} > 0"
                )
            s = s.fill_null(0.0)
        ints.append(_numeric(table.with_columns(s.alias(c)), c, nonneg=False))
    n = table.height
    out = _core.weighted_cell_sums(
        parents, np.arange(n, dtype=np.uint32), np.ones(n, dtype=np.float64), n, ext, ints, p
    )
    return _assemble(*out, extensive, intensive, weight).rename({"cell": cell} if cell != "cell" else {})


def _dense_codes(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(codes, categories): dense unsigned codes of a column (any chunking) and the value of each code.

    Enum columns are used as they are (their physical codes, no copy); String/Categorical columns become an Enum
    of their sorted distinct values (UInt8/16/32 codes, lexical order); anything else is ranked densely.
    """
    if isinstance(s.dtype, pl.Enum):
        return s.to_physical(), pl.Series(s.name, s.dtype.categories).cast(s.dtype)
    if s.dtype in (pl.String, pl.Categorical):
        text = s.cast(pl.String)
        cats = text.unique().sort()
        return text.cast(pl.Enum(cats)).to_physical(), cats.alias(s.name)
    return (s.rank("dense") - 1).cast(pl.UInt32), s.unique().sort()


def _chunks(s: pl.Series) -> list[np.ndarray]:
    """Zero-copy numpy views of a column's chunks."""
    return [np.ascontiguousarray(c.to_numpy()) for c in s.get_chunks()]


def _same_chunks(cols: list[pl.Series]) -> list[pl.Series]:
    lengths = {tuple(len(c) for c in s.get_chunks()) for s in cols}
    return cols if len(lengths) == 1 else [s.rechunk() for s in cols]


def _group_codes(events: pl.DataFrame, by: list[str]) -> tuple[pl.Series, pl.DataFrame]:
    """(dense group code per event, decoder frame with one row per code) for one or more ``by`` columns.

    Several columns are combined one at a time, each step compacted to the dense rank of the combinations seen
    so far (< number of events), so the intermediate code is at most n_events × n_distinct < 2⁶⁴ and cannot
    overflow however many distinct values the columns have. Codes follow the lexical order of the columns'
    own codes.
    """
    parts = []
    for col in by:
        s = events.get_column(col)
        check_no_nulls(s, col)
        parts.append(_dense_codes(s))
    if len(parts) == 1:
        codes, cats = parts[0]
        return codes, pl.DataFrame([cats])
    combined = parts[0][0].cast(pl.UInt64).to_numpy()
    for codes, cats in parts[1:]:
        _, inv = np.unique(combined, return_inverse=True)
        combined = inv.astype(np.uint64) * np.uint64(len(cats)) + codes.cast(pl.UInt64).to_numpy()
    _, first, inv = np.unique(combined, return_index=True, return_inverse=True)
    decoder = events.select(by).gather(pl.Series(first.astype(np.int64)))
    return pl.Series("g", inv.astype(np.uint32)), decoder


def count_points(
    events: FrameLike,
    *,
    resolution: int,
    lat: str = "lat",
    lng: str = "lng",
    easting: str | None = None,
    northing: str | None = None,
    by: str | Sequence[str] = (),
    nested: bool = True,
    on_invalid: OnInvalid = "raise",
    batch_rows: int = 2_000_000,
) -> pl.DataFrame:
    """Count point events per cell (and per ``by`` group) at ``resolution``.

    Point → cell → count is fused in Rust: each point's cell (from lat/lng, or from British National Grid
    easting/northing converted per point) is packed with its group code into one sort key; the keys are sorted
    in parallel and run-length counted in place. No cell column is materialised in Python, the columns are read
    chunk by chunk without copying, and extra memory is about 8 bytes per event plus the output.

    ``events``: a Polars DataFrame, a pandas DataFrame or an Arrow table, counted in memory; or a Polars
    **LazyFrame** (e.g. ``pl.scan_parquet("events/*.parquet")``), which is **streamed**: only the coordinate and
    ``by`` columns are read, ``batch_rows`` rows at a time (``LazyFrame.collect_batches``); each batch is
    counted by the core and merged into a running total of (cell, group) counts by the core's linear merge of
    sorted runs (``_core.merge_counts``; integers, so exact, associative and commutative). Memory is bounded by
    one batch plus the output, whatever the number of events; the result is identical to the in-memory call on
    the same rows. Row numbers in errors and warnings count from the start of the stream.

    ``by`` columns: Enum columns are cheapest (their codes are used directly); String columns are coded by
    their sorted distinct values; other types are ranked. Groups come out in that order. Any number of
    columns with any number of distinct values can be combined.

    ``nested``: the cell convention, the same as :func:`hyperlocal.crosswalk`'s (see "Cell convention" in
    :mod:`hyperlocal.cells`). ``True`` (default): the ancestor at ``resolution`` of the point's resolution-15
    cell, so an event lands in the same cell as an area centroid at the same place and counts roll up exactly
    from finer resolutions. ``False``: the cell that geometrically contains the point.

    ``on_invalid="skip"`` drops events whose coordinates are null, NaN or out of range, and reports how many
    (and the first rows) with a :class:`~hyperlocal.exceptions.SkippedRowsWarning`; ``"raise"`` names them.

    Returns
    -------
    pl.DataFrame
        ``cell`` (UInt64), the ``by`` columns, ``count`` (UInt32, like Polars' ``len()``); sorted by cell, then
        group. Only non-empty (cell, group) pairs appear. The counts add up to the number of events, less those
        skipped with ``on_invalid="skip"`` (reported by a warning).
    """
    skip = check_on_invalid(on_invalid)
    res = check_resolution(resolution)
    by = _names(by)
    if (easting is None) != (northing is None):
        raise InvalidInputError("easting/northing: give both column names, or neither (to use lat/lng)")
    bng = easting is not None and northing is not None
    xy: list[str] = [easting, northing] if bng else [lat, lng]  # type: ignore[list-item]
    if isinstance(events, pl.LazyFrame):
        return count_stream(events, xy=xy, by=by, res=res, bng=bng, nested=nested, skip=skip, batch_rows=batch_rows)
    events = as_frame(events, "events")
    require_columns(events, [*xy, *by], "events")
    cells, g, counts, bad, decoder = _count_frame(events, xy, by, res, bng, nested, skip)
    report_skipped(f"count_points({xy[0]}/{xy[1]})", bad)
    return _count_output(cells, g, counts, decoder, by)


def _count_frame(
    events: pl.DataFrame, xy: list[str], by: list[str], res: int, bng: bool, nested: bool, skip: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, list[int]], pl.DataFrame | None]:
    """Count one in-memory frame: (cells, local group codes, counts, skipped rows, decoder of the codes)."""
    coords = []
    for c in xy:
        s = events.get_column(c)
        if not (s.dtype.is_numeric() or s.dtype == pl.Null):
            raise InvalidInputError(f"{c}: expected a numeric column, got {s.dtype}")
        s = s if s.dtype == pl.Float64 else s.cast(pl.Float64)
        # Null coordinates are invalid points like NaN: named with them, or skipped with them.
        coords.append(s.fill_null(float("nan")) if s.null_count() else s)
    decoder: pl.DataFrame | None = None
    n_groups = 1
    group_col: pl.Series | None = None
    if by:
        group_col, decoder = _group_codes(events, by)
        n_groups = decoder.height
    aligned = _same_chunks(coords + ([group_col] if group_col is not None else []))
    groups = _chunks(aligned[2]) if group_col is not None else None
    cells, g, counts, bad = _core.count_points(
        _chunks(aligned[0]), _chunks(aligned[1]), groups, n_groups, res, bng, bool(nested), skip
    )
    return cells, g, counts, bad, decoder


def _count_output(
    cells: np.ndarray, g: np.ndarray, counts: np.ndarray, decoder: pl.DataFrame | None, by: list[str]
) -> pl.DataFrame:
    out = [series_from_numpy("cell", cells)]
    if decoder is not None:
        gi = series_from_numpy("g", g)
        out += [decoder.get_column(c).gather(gi) for c in by]
    out.append(series_from_numpy("count", counts))
    return pl.DataFrame(out)


def count_dtype(largest: int | None) -> type[pl.DataType]:
    """The ``count`` column's type of merged counts: UInt32 as the in-memory call, UInt64 only if a count
    exceeds 2³² − 1 (possible only when partial counts of a stream or of Spark partitions are added)."""
    return pl.UInt32 if largest is None or largest <= np.iinfo(np.uint32).max else pl.UInt64


def count_stream(
    events: pl.LazyFrame,
    *,
    xy: list[str],
    by: list[str],
    res: int,
    bng: bool,
    nested: bool,
    skip: bool,
    batch_rows: int,
    progress: Callable[[int], object] | None = None,
) -> pl.DataFrame:
    """Streamed :func:`count_points` of a LazyFrame (see there); ``progress(rows)`` is called after each batch."""
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidInputError(f"batch_rows: got {batch_rows!r}, expected a positive integer")
    schema = events.collect_schema()
    missing = [c for c in [*xy, *by] if c not in schema]
    if missing:
        raise InvalidInputError(f"events: missing column(s) {missing}; available: {list(schema)}")
    total = (np.zeros(0, np.uint64), np.zeros(0, np.uint32), np.zeros(0, np.uint64))
    combos: pl.DataFrame | None = None  # every group seen so far: the by columns and its global code
    offset, n_bad, first_bad = 0, 0, list[int]()
    for batch in events.select(*xy, *by).collect_batches(chunk_size=batch_rows, maintain_order=True):
        try:
            cells, g, counts, bad, decoder = _count_frame(batch, xy, by, res, bng, nested, skip)
        except InvalidInputError as e:
            raise shift_rows(e, offset) from None
        if bad[0]:
            n_bad += bad[0]
            first_bad += [offset + i for i in bad[1]][: KEEP - len(first_bad)]
        if decoder is not None:
            combos, to_global = _global_codes(combos, decoder, by)
            g = to_global[g]
            if to_global.size > 1 and not (np.diff(to_global.astype(np.int64)) > 0).all():
                # new groups arrived out of order: put the batch's run in (cell, global code) order for the merge
                order = np.lexsort((g, cells))
                cells, g, counts = cells[order], g[order], counts[order]
        total = _core.merge_counts(*total, cells, g.astype(np.uint32), counts.astype(np.uint64))
        offset += batch.height
        if progress is not None:
            progress(batch.height)
    report_skipped(f"count_points({xy[0]}/{xy[1]})", (n_bad, first_bad))
    cells, g, counts = total
    dtype = count_dtype(int(counts.max()) if counts.size else None)
    out = _count_output(cells, g, counts.astype(np.uint32 if dtype == pl.UInt32 else np.uint64), None, [])
    if not by:
        return out
    assert combos is not None or cells.size == 0
    if combos is None:  # no events at all: the groups' columns, empty, with the in-memory dtypes
        empty = _count_frame(events.select(*xy, *by).head(0).collect(), xy, by, res, bng, nested, skip)[4]
        assert empty is not None
        return pl.concat([out.select("cell"), empty.head(0), out.select("count")], how="horizontal")
    decoded = combos.sort("__code").drop("__code").gather(series_from_numpy("g", g))
    out = pl.concat([out.select("cell"), decoded, out.select("count")], how="horizontal")
    return out.sort(["cell", *by], maintain_order=True)  # the in-memory order: cell, then the groups' order


def _global_codes(
    combos: pl.DataFrame | None, decoder: pl.DataFrame, by: list[str]
) -> tuple[pl.DataFrame, np.ndarray]:
    """Add a batch's groups to ``combos`` (new ones get the next codes); map its local codes to global ones."""
    if combos is None:
        combos = decoder.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__code"))
        return combos, combos.get_column("__code").to_numpy()
    joined = decoder.join(combos, on=by, how="left", maintain_order="left", nulls_equal=True)
    new = joined.get_column("__code").is_null()
    if new.any():
        start = combos.height
        added = decoder.filter(new).with_columns(
            (pl.int_range(pl.len(), dtype=pl.UInt32) + start).alias("__code")
        )
        combos = pl.concat([combos, added.cast(combos.schema)])  # type: ignore[arg-type]
        joined = decoder.join(combos, on=by, how="left", maintain_order="left", nulls_equal=True)
    return combos, joined.get_column("__code").to_numpy()
