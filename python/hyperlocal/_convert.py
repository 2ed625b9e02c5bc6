"""Input coercion and validation shared by the public API (the boundary: validate here, trust inside)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa

from .exceptions import InvalidInputError, SkippedRowsWarning

OnInvalid = Literal["raise", "skip"]
ArrayLike = Any  # pl.Series | np.ndarray | Arrow-exporting object | sequence

KEEP = 5


def rows_text(count: int, first: Sequence[int]) -> str:
    """'3 rows (first at 1, 4, 9)', the row description used in every error message."""
    more = ", …" if count > len(first) else ""
    return f"{count} row{'' if count == 1 else 's'} (first at {', '.join(str(i) for i in first)}{more})"


_FIRST_ROWS = re.compile(r"\(first at ([\d, ]+?)(?:, …)?\)")


def with_codes(err: InvalidInputError, codes: pl.Series) -> InvalidInputError:
    """The same error with the area codes of the rows it names appended, so that a person can find them."""
    m = _FIRST_ROWS.search(str(err))
    if not m:
        return err
    idx = [int(i) for i in m.group(1).split(",") if i.strip()]
    if not idx or max(idx) >= codes.len():
        return err
    return InvalidInputError(
        f"{err} [{codes.name}: {', '.join(str(c) for c in codes.gather(idx).to_list())}]"
    )


def shift_rows(err: InvalidInputError, offset: int) -> InvalidInputError:
    """The same error with the row numbers it names counted from ``offset`` (a streamed batch's first row)."""
    if not offset:
        return err
    text = _FIRST_ROWS.sub(
        lambda m: m.group(0).replace(m.group(1), ", ".join(str(int(i) + offset) for i in m.group(1).split(","))),
        str(err),
        count=1,
    )
    return type(err)(text)


def check_on_invalid(on_invalid: str) -> bool:
    """Return True for "skip", False for "raise"."""
    if on_invalid not in ("raise", "skip"):
        raise InvalidInputError(f"on_invalid: got {on_invalid!r}, expected 'raise' or 'skip'")
    return on_invalid == "skip"


def check_resolution(resolution: Any) -> int:
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, (int, np.integer))
        or not 0 <= resolution <= 15
    ):
        raise InvalidInputError(f"resolution: got {resolution!r}, expected an integer in 0..=15")
    return int(resolution)


def to_series(x: ArrayLike, name: str) -> pl.Series:
    """Any supported array-like as a Polars Series (no copy for Series, numpy and Arrow numeric buffers)."""
    if isinstance(x, pl.Series):
        return x
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            raise InvalidInputError(f"{name}: expected a 1-D array, got shape {x.shape}")
        return pl.Series(name, x)
    if hasattr(x, "__arrow_c_stream__") or hasattr(x, "__arrow_c_array__"):
        arr = pa.array(x) if hasattr(x, "__arrow_c_array__") else pa.chunked_array(x)
        s = pl.from_arrow(arr)
        assert isinstance(s, pl.Series)
        return s.alias(name)
    try:
        return pl.Series(name, list(x) if not isinstance(x, (list, tuple)) else x)
    except Exception as e:  # noqa: BLE001
        raise InvalidInputError(f"{name}: expected a Polars Series, numpy array or Arrow array") from e


FrameLike = Any  # pl.DataFrame | pl.LazyFrame | pyarrow Table | pandas DataFrame | Arrow C stream


def as_frame(df: FrameLike, what: str) -> pl.DataFrame:
    """Any table-like input as a Polars DataFrame: a ``pl.DataFrame`` (as is), a ``pl.LazyFrame`` (collected),
    a pandas ``DataFrame`` or anything exporting the Arrow C stream interface (pyarrow ``Table``, DuckDB
    relations, …; read through Arrow, zero-copy where the types allow)."""
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pl.LazyFrame):
        return df.collect()
    mod = type(df).__module__.split(".")[0]
    try:
        if mod == "pandas":
            return pl.from_pandas(df)
        if hasattr(df, "__arrow_c_stream__"):
            out = pl.DataFrame(df)
            return out
    except Exception as e:  # noqa: BLE001
        raise InvalidInputError(f"{what}: could not read {type(df).__name__} as a table: {e}") from e
    raise InvalidInputError(
        f"{what}: expected a polars DataFrame or LazyFrame, a pandas DataFrame or an Arrow table, "
        f"got {type(df).__name__}"
    )


def is_table_like(x: object) -> bool:
    """Whether :func:`as_frame` would read ``x`` as a table (not a column or a list)."""
    if isinstance(x, (pl.DataFrame, pl.LazyFrame)):
        return True
    if isinstance(x, pl.Series):
        return False
    mod = type(x).__module__.split(".")[0]
    if mod == "pandas":
        return type(x).__name__ == "DataFrame"
    return hasattr(x, "__arrow_c_stream__") and hasattr(x, "num_columns")


def check_no_nulls(s: pl.Series, name: str) -> None:
    n = s.null_count()
    if n:
        first = s.is_null().arg_true().head(KEEP).to_list()
        raise InvalidInputError(f"{name}: {rows_text(n, first)} are null; expected no nulls")


def as_f64(x: ArrayLike, name: str, *, nulls_as_nan: bool = False) -> np.ndarray:
    """A contiguous float64 numpy view of a numeric column (zero-copy when it already is one).

    ``nulls_as_nan``: nulls become NaN (for coordinates, whose validation in the core then names null and NaN
    rows together, and skips both with ``on_invalid="skip"``); otherwise a null is an error naming the rows.
    """
    if isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 1:
        return np.ascontiguousarray(x)
    s = to_series(x, name)
    if not nulls_as_nan:
        check_no_nulls(s, name)
    if not (s.dtype.is_numeric() or s.dtype == pl.Null):
        raise InvalidInputError(f"{name}: expected a numeric column, got {s.dtype}")
    if s.dtype != pl.Float64:
        s = s.cast(pl.Float64)
    if s.null_count():
        s = s.fill_null(float("nan"))
    return np.ascontiguousarray(s.to_numpy())


def as_u64_cells(x: ArrayLike, name: str = "cells") -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype == np.uint64 and x.ndim == 1:
        return np.ascontiguousarray(x)
    s = to_series(x, name)
    if s.dtype == pl.Null and s.len() == 0:  # e.g. an empty list
        s = s.cast(pl.UInt64)
    check_no_nulls(s, name)
    if s.dtype == pl.String:
        raise InvalidInputError(f"{name}: got strings; use hl.string_to_cell first, or pass UInt64 cells")
    if not s.dtype.is_integer():
        raise InvalidInputError(f"{name}: expected UInt64 H3 cells, got {s.dtype}")
    if s.dtype != pl.UInt64:
        s = s.cast(pl.UInt64, strict=False)
        check_no_nulls(s, name)
    return np.ascontiguousarray(s.to_numpy())


def check_same_length(**arrays: Any) -> None:
    items = list(arrays.items())
    (first_name, first), rest = items[0], items[1:]
    for name, a in rest:
        if len(a) != len(first):
            raise InvalidInputError(
                f"length mismatch: {name} has {len(a)} rows, expected {len(first)} (the length of {first_name})"
            )


def series_from_numpy(name: str, a: np.ndarray) -> pl.Series:
    """Wrap a numpy array that owns a Rust buffer as a Polars Series (no copy)."""
    return pl.from_numpy(a, schema=[name]).to_series()


def arrow_varlen(name: str, data: np.ndarray, offsets: np.ndarray, *, binary: bool) -> pl.Series:
    """Polars String/Binary series from Rust (data, offsets) buffers, via Arrow without copying the bytes."""
    typ = pa.large_binary() if binary else pa.large_string()
    arr = pa.Array.from_buffers(typ, len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    s = pl.from_arrow(arr)
    assert isinstance(s, pl.Series)
    return s.alias(name)


def report_skipped(what: str, rows: tuple[int, list[int]], stacklevel: int = 3) -> int:
    count, first = rows
    if count:
        warnings.warn(
            f"{what}: skipped {rows_text(count, first)} (on_invalid='skip')",
            SkippedRowsWarning,
            stacklevel=stacklevel,
        )
    return count


def require_columns(df: pl.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InvalidInputError(f"{what}: missing column(s) {missing}; available: {df.columns}")


def check_unique(s: pl.Series, what: str) -> None:
    n = s.len()
    if n < 2:
        return
    if (s.dtype == pl.String or s.dtype.is_integer()) and s.null_count() == 0 and s.is_sorted():
        # Codes usually come sorted: then a repeat is two equal neighbours (a scan, ~5x cheaper than hashing)
        if not (s.slice(1) == s.slice(0, n - 1)).any():
            return
    elif s.n_unique() == n:  # the fast, common case; the slow path below names the rows
        return
    dup = s.is_duplicated()
    n = int(dup.sum())
    if n:
        rows = dup.arg_true().head(KEEP).to_list()
        codes = s.filter(dup).unique(maintain_order=True).head(KEEP).to_list()
        raise InvalidInputError(
            f"{what}: {rows_text(n, rows)} carry duplicate codes (e.g. {codes}); expected each code once"
        )
