"""PNG maps of cell surfaces (matplotlib, no GUI backend needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from ._convert import FrameLike, as_frame, require_columns
from ._wkb import hexagon_rings
from .cells import cell_to_boundary
from .exceptions import InvalidInputError
from .io import atomic_path

__all__ = ["map_png"]


def map_png(
    df: FrameLike,
    column: str,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    cell: str = "cell",
    cmap: str = "viridis",
    diverging: bool = False,
    center: float = 0.0,
    label: str | None = None,
) -> Path:
    """Draw one column of a cell table as a choropleth of hexagons and write it (atomically) as PNG.

    Null values are drawn light grey. With ``diverging=True`` the colour scale is centred on ``center`` (0 for
    changes, 1 for observed/expected ratios) and symmetric about it.
    The map uses an equirectangular projection with the aspect ratio of the data's mean latitude.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import Normalize, TwoSlopeNorm

    df = as_frame(df, "df")
    require_columns(df, [cell, column], "df")
    if df.height == 0:
        raise InvalidInputError(f"map_png: the table has no cells to draw ({column!r} would be an empty map)")
    vals = df.get_column(column).cast(pl.Float64).to_numpy()
    rings = hexagon_rings(cell_to_boundary(df.get_column(cell)))
    fig, ax = plt.subplots(figsize=(8, 9), dpi=120)
    finite = np.isfinite(vals)
    norm: Normalize | None = None
    if diverging and finite.any():
        lim = float(np.nanpercentile(np.abs(vals[finite] - center), 98)) or 1.0
        norm = TwoSlopeNorm(vcenter=center, vmin=center - lim, vmax=center + lim)
    elif finite.any():
        lo, hi = np.nanpercentile(vals[finite], [2, 98])
        norm = Normalize(vmin=float(lo), vmax=float(hi) if hi > lo else float(lo) + 1)
    coll = PolyCollection(
        [r for r, f in zip(rings, finite) if f],
        array=vals[finite],
        cmap=cmap,
        norm=norm,
        edgecolors="none",
        linewidths=0,
    )
    ax.add_collection(coll)
    if (~finite).any():
        ax.add_collection(
            PolyCollection(
                [r for r, f in zip(rings, finite) if not f], facecolors="#dddddd", edgecolors="none"
            )
        )
    allxy = np.concatenate(rings) if rings else np.zeros((1, 2))
    ax.set_xlim(allxy[:, 0].min(), allxy[:, 0].max())
    ax.set_ylim(allxy[:, 1].min(), allxy[:, 1].max())
    ax.set_aspect(1.0 / np.cos(np.deg2rad(allxy[:, 1].mean())))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title or column)
    fig.colorbar(coll, ax=ax, shrink=0.6, label=label or column)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
