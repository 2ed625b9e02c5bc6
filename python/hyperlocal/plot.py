"""PNG maps of cell surfaces for reports (matplotlib, no GUI backend needed).

Maps are drawn in British National Grid metres (EPSG:27700) with the England and Wales outline and local
authority boundaries (ONS, OGL v3.0; see ``data/OUTLINE.md``), a scale bar, a colour bar or class legend, an
explicit "no data" class and a source line. Fine grids on national maps are rolled up to the finest resolution
that is still visible (:func:`hyperlocal.display_resolution`, :func:`rollup_for_display`).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from . import _basemap
from ._basemap import DEFAULT_SOURCE, display_resolution
from ._convert import FrameLike, as_frame, require_columns
from .exceptions import InvalidInputError
from .io import atomic_path, check_output_path

__all__ = ["map_png", "rollup_for_display", "display_resolution", "DEFAULT_SOURCE", "NO_DATA_COLOUR"]

#: Fill of cells with no value (null or NaN): a mid grey no colour map uses, never mistaken for zero.
NO_DATA_COLOUR = "#a3a3a3"
#: Labels of the ten deprivation decile classes.
DECILE_LABELS = tuple(
    f"{d}" + (" (most deprived)" if d == 1 else " (least deprived)" if d == 10 else "") for d in range(1, 11)
)


def _check_classes(
    df: pl.DataFrame, column: str, classes: str | Sequence[str] | None
) -> str | tuple[str, ...] | None:
    """None (a colour scale), "deciles", or the labels of classes coded 1..K in ``column``."""
    if classes is not None and classes != "deciles":
        if isinstance(classes, str) or not all(isinstance(c, str) for c in classes) or not 2 <= len(classes) <= 20:
            raise InvalidInputError(
                f"map_png: classes must be None, 'deciles' or 2..20 class labels, got {classes!r}"
            )
    s = df.get_column(column)
    if not s.dtype.is_numeric():
        raise InvalidInputError(f"map_png: column {column!r} must be numeric, got {s.dtype}")
    if classes is None and column == "decile" and s.dtype.is_integer():
        v = s.drop_nulls()
        if v.len() and v.min() >= 1 and v.max() <= 10:  # type: ignore[operator]
            return "deciles"
    if classes is not None:
        k = 10 if classes == "deciles" else len(classes)
        a = s.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        if a.size and (a.min() < 1 or a.max() > k or (np.round(a) != a).any()):
            raise InvalidInputError(
                f"map_png: classes={'deciles' if k == 10 and classes == 'deciles' else 'labels'} needs whole "
                f"numbers 1..{k} in {column!r}, found {a.min():g}..{a.max():g}"
            )
    return classes if classes is None or classes == "deciles" else tuple(classes)


def rollup_for_display(
    df: FrameLike, column: str, resolution: int, *, cell: str = "cell", weight: str | None = None
) -> pl.DataFrame:
    """Roll a cell table up to coarser parent cells for drawing: one row per parent at ``resolution``.

    The value of a parent is the mean of its children's non-null values, weighted by ``weight`` (e.g. the
    population column, so a parent shows the rate of the people in it) when given, else unweighted. A parent
    whose children are all null (or have no positive weight) has no data (null). With a weight, the output also
    has the summed weight. This is for display only: statistics should be recomputed from counts at the coarser
    resolution (:func:`hyperlocal.rollup`), not averaged.

    Parameters
    ----------
    df
        Cell table with ``cell`` (UInt64) and ``column``.
    column
        The value column to show.
    resolution
        The parent resolution, coarser than or equal to the cells'.
    weight
        Optional weight column (population) for a weighted mean.

    Returns
    -------
    pl.DataFrame
        ``cell``, ``column`` (Float64) and, with a weight, ``weight`` (its sum).

    Examples
    --------
    >>> import polars as pl, hyperlocal as hl
    >>> from hyperlocal.plot import rollup_for_display
    >>> kids = hl.latlng_to_cell([51.50, 51.5005], [-0.12, -0.1205], 9)
    >>> t = pl.DataFrame({"cell": kids, "v": [1.0, 3.0], "pop": [1.0, 3.0]})
    >>> rollup_for_display(t, "v", 5, weight="pop")["v"].item()
    2.5
    """
    frame = as_frame(df, "df")
    require_columns(frame, [cell, column] + ([weight] if weight else []), "df")
    return _basemap.rollup_for_display(frame, column, resolution, cell=cell, weight=weight)


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k metres) of about a fifth of ``span_m``."""
    target = span_m / 5
    k = 10 ** np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * k <= target:
            return float(m * k)
    return float(k)


def _limits(
    vals: np.ndarray, diverging: bool, center: float, limits: Sequence[float] | None
) -> tuple[float, float]:
    if limits is not None:
        if len(limits) != 2:
            raise InvalidInputError(f"map_png: limits must be two finite numbers lo < hi, got {limits!r}")
        lo, hi = (float(v) for v in limits)
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise InvalidInputError(f"map_png: limits must be two finite numbers lo < hi, got {limits!r}")
        return lo, hi
    if vals.size == 0:
        return (center - 1.0, center + 1.0) if diverging else (0.0, 1.0)
    p2, p98 = (float(v) for v in np.percentile(vals, [2, 98]))
    if diverging:
        half = max(abs(p2 - center), abs(p98 - center)) or 1.0
        return center - half, center + half
    if p98 <= p2:
        return p2 - 0.5, p2 + 0.5
    return p2, p98


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
    classes: Literal["deciles"] | Sequence[str] | None = None,
    limits: Sequence[float] | None = None,
    source: str = DEFAULT_SOURCE,
    outline: bool = True,
    display_res: int | Literal["auto"] | None = "auto",
    weight: str | None = None,
    width_in: float | None = None,
    dpi: int = 150,
) -> Path:
    """Draw one column of a cell table as a map of hexagons and write it, atomically, as a PNG.

    The map is in British National Grid metres (EPSG:27700; an azimuthal equidistant projection for cells
    outside Great Britain), with a scale bar instead of coordinate ticks, and a shape that follows the data.

    Parameters
    ----------
    df
        Cell table with ``cell`` (UInt64 H3) and ``column``.
    column
        Numeric column to colour by. Null and NaN values are **no data**: mid grey, with a "no data" legend
        entry; never a colour of the scale.
    path
        Output ``.png`` (written through a temporary file and renamed: a failure leaves no file).
    title, label
        Title above the map (default ``column``) and the colour bar / legend title (default ``column``).
    cmap
        Matplotlib colour map name.
    diverging, center
        Centre the colour scale on ``center`` (0 for changes, 1 for observed/expected ratios), symmetric about
        it; use a diverging ``cmap`` (``"RdBu"``, ``"RdBu_r"``).
    classes
        ``"deciles"``: ten discrete classes 1..10 with a categorical legend (1 = most deprived, 10 = least
        deprived) and no colour bar. Chosen automatically for an integer column named ``decile`` with values
        in 1..10. A sequence of K labels: K discrete classes coded 1..K in ``column`` (e.g. cold / not
        significant / hot), coloured from ``cmap`` in that order, with a categorical legend; class maps are not
        rolled up for display.
    limits
        ``(lo, hi)`` of the colour scale. Default: the 2nd and 98th percentiles of the values (symmetric about
        ``center`` when diverging). Values outside the limits take the end colours, and the colour bar then
        shows **extend arrows** at that end (``extend="min"``, ``"max"`` or ``"both"``), so a clipped scale is
        visible.
    source
        Attribution line under the map (default ``"Contains OS data © Crown copyright and database right;
        ONS"``). When cells were rolled up for display, "shown at res N" is added to it.
    outline
        Draw the England and Wales outline and local authority boundaries (packaged ONS boundaries, OGL v3.0)
        when the data lie within England and Wales; ``False`` to skip.
    display_res
        ``"auto"`` (default): when the cells are finer than :func:`hyperlocal.display_resolution` for this map
        size (hexagons under ~3 pixels across, e.g. res 8+ on a national map), they are rolled up to it for
        drawing with :func:`rollup_for_display` (mean of the children, population-weighted with ``weight``;
        decile classes are rounded to the nearest class). An int: roll up to that resolution if finer. ``None``:
        draw the cells as given.
    weight
        Weight column (population) for the display roll-up.
    width_in, dpi
        Figure width in inches (default 7) and resolution (default 150).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidInputError
        A missing or non-numeric column, an empty table, bad ``limits`` or ``classes``, or a bad output path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colormaps, patheffects
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.colors import BoundaryNorm, Colormap, ListedColormap, Normalize, TwoSlopeNorm
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    check_output_path(path)
    frame = as_frame(df, "df")
    require_columns(frame, [cell, column] + ([weight] if weight else []), "df")
    if frame.height == 0:
        raise InvalidInputError(f"map_png: the table has no cells to draw ({column!r} would be an empty map)")
    kind = _check_classes(frame, column, classes)
    if cmap not in colormaps:
        raise InvalidInputError(f"map_png: unknown colour map {cmap!r}")
    if display_res not in ("auto", None) and not (isinstance(display_res, int) and 0 <= display_res <= 15):
        raise InvalidInputError(f"map_png: display_res must be 'auto', None or 0..15, got {display_res!r}")

    # Layout in inches, from the extent of the cell centres.
    W = float(width_in or 7.0)
    side = 1.75  # colour bar or legend strip on the right
    pad = 0.12
    cx, cy, crs, _ = _basemap.project_centres(frame.get_column(cell))
    span_w = max(float(np.ptp(cx)), 1.0)
    span_h = max(float(np.ptp(cy)), 1.0)
    mw = W - side - 2 * pad
    mh = float(np.clip(mw * span_h / span_w, 2.5, 9.5))
    mw = min(mw, mh * span_w / span_h)

    # Roll fine cells up to what the page can show.
    shown_note = ""
    res_now = _basemap.resolution_of(frame.get_column(cell))
    target = display_res
    if display_res == "auto":
        target = display_resolution((0.0, 0.0, span_w, span_h), mw * dpi, height_px=mh * dpi)
    if isinstance(target, int) and res_now is not None and res_now > target and not isinstance(kind, tuple):
        frame = _basemap.rollup_for_display(frame, column, target, cell=cell, weight=weight)
        if kind == "deciles":
            frame = frame.with_columns(pl.col(column).round(0))
        how = f"population-weighted mean ({weight})" if weight else "mean"
        shown_note = f"shown at res {target} ({how} of res {res_now} cells)"

    vals = frame.get_column(column).cast(pl.Float64).fill_nan(None).fill_null(float("nan")).to_numpy()
    proj = _basemap.project_cells(frame.get_column(cell), crs)
    rings = proj.rings
    x0, y0, x1, y1 = proj.extent()
    finite = np.isfinite(vals)

    title_lines = textwrap.wrap(title or column, width=int(W * 9.4)) or [column]
    th = 0.25 + 0.22 * len(title_lines)
    bh = 0.42
    H = th + mh + bh
    fig = Figure(figsize=(W, H), dpi=dpi)
    ax = fig.add_axes((pad / W, bh / H, mw / W, mh / H))
    ax.set_axis_off()
    ax.set_aspect("equal", adjustable="datalim")
    mx, my = 0.02 * (x1 - x0), 0.02 * (y1 - y0)
    ax.set_xlim(x0 - mx, x1 + mx)
    ax.set_ylim(y0 - my, y1 + my)

    # Colours.
    extend = "neither"
    cm: Colormap
    norm: Normalize
    if kind is not None:
        k = 10 if kind == "deciles" else len(kind)
        base = colormaps[cmap].resampled(k)
        cm = ListedColormap([base(i) for i in range(k)], name=f"{cmap}_classes{k}")
        norm = BoundaryNorm(np.arange(0.5, k + 1.0, 1.0), k)
    else:
        lo, hi = _limits(vals[finite], diverging, center, limits)
        cm = colormaps[cmap]
        if diverging and lo < center < hi:
            norm = TwoSlopeNorm(vcenter=center, vmin=lo, vmax=hi)
        else:
            norm = Normalize(vmin=lo, vmax=hi)
        below = bool((vals[finite] < lo).any())
        above = bool((vals[finite] > hi).any())
        extend = "both" if below and above else "min" if below else "max" if above else "neither"

    face = [r for r, f in zip(rings, finite) if f]
    coll = PolyCollection(face, array=vals[finite], cmap=cm, norm=norm, edgecolors="face", linewidths=0.35)
    coll.set_clim(norm.vmin, norm.vmax)
    ax.add_collection(coll)
    has_nodata = bool((~finite).any())
    if has_nodata:
        ax.add_collection(
            PolyCollection(
                [r for r, f in zip(rings, finite) if not f],
                facecolors=NO_DATA_COLOUR,
                edgecolors=NO_DATA_COLOUR,
                linewidths=0.35,
                label="no data",
            )
        )

    # Outline and local authority boundaries.
    drew_outline = False
    if outline and _basemap.outline_applies(proj, (x0, y0, x1, y1)):
        ol = _basemap.outline()
        national = (x1 - x0) > 250_000
        ax.add_collection(
            LineCollection(
                ol["lad"], colors="#3a3a3a", linewidths=0.15 if national else 0.4, alpha=0.55, zorder=3
            )
        )
        ax.add_collection(LineCollection(ol["border"], colors="#222222", linewidths=0.6, zorder=4))
        ax.add_collection(LineCollection(ol["outline"], colors="#222222", linewidths=0.5, zorder=4))
        drew_outline = True

    # Scale bar, lower right.
    xl, yl = ax.get_xlim(), ax.get_ylim()
    length = _nice_length(xl[1] - xl[0])
    bx1 = xl[1] - 0.04 * (xl[1] - xl[0])
    by = yl[0] + 0.035 * (yl[1] - yl[0])
    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    ax.plot([bx1 - length, bx1], [by, by], color="#222222", lw=2.2, solid_capstyle="butt", zorder=5,
            path_effects=halo)  # fmt: skip
    ax.text(bx1 - length / 2, by + 0.012 * (yl[1] - yl[0]), f"{length / 1000:g} km", ha="center", va="bottom",
            fontsize=7, color="#222222", zorder=5, path_effects=halo)  # fmt: skip

    # Legend: colour bar, or ten classes; plus "no data".
    nodata_patch = Patch(facecolor=NO_DATA_COLOUR, edgecolor="#666666", linewidth=0.4, label="no data")
    side_x = (pad + mw + 0.2) / W
    cbar = None
    if kind is not None:
        present = set(np.unique(vals[finite]).astype(int).tolist())
        labels = DECILE_LABELS if kind == "deciles" else kind
        handles = [
            Patch(
                facecolor=cm(i), edgecolor="none", label=labels[i] + ("" if i + 1 in present else " –")
            )
            for i in range(len(labels))
        ]
        if has_nodata:
            handles.append(nodata_patch)
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(side_x, (bh + mh / 2) / H), frameon=False,
                   fontsize=7.5, title=textwrap.fill(label or "decile", 24), title_fontsize=8,
                   alignment="left")  # fmt: skip
    else:
        ch = min(0.62 * mh, 4.0)
        cax = fig.add_axes((side_x, (bh + (mh - ch) / 2 + 0.2) / H, 0.16 / W, ch / H))
        cbar = fig.colorbar(coll, cax=cax, extend=extend, extendfrac=0.06)
        cbar.set_label(textwrap.fill(label or column, 34), fontsize=8)
        cbar.ax.tick_params(labelsize=7)
        if has_nodata:
            fig.legend(handles=[nodata_patch], loc="upper left", frameon=False, fontsize=7.5,
                       bbox_to_anchor=(side_x - 0.01, (bh + (mh - ch) / 2 + 0.05) / H))  # fmt: skip

    fig.text(pad / W, 1 - 0.18 / H, "\n".join(title_lines), ha="left", va="top", fontsize=11, weight="bold")
    foot = "; ".join(p for p in (source, shown_note) if p)
    if drew_outline and "Open Government Licence" not in foot:
        foot += "; boundaries: ONS, OGL v3.0"
    fig.text(pad / W, 0.12 / H, textwrap.fill(foot, int(W * 17)), ha="left", va="bottom", fontsize=6.5,
             color="#444444")  # fmt: skip
    fig.hl_meta = {  # type: ignore[attr-defined]  # for tests and callers that inspect the figure
        "extend": extend, "classes": kind, "outline": drew_outline, "display_res": target, "shown_res": (
            _basemap.resolution_of(frame.get_column(cell))), "crs": proj.crs, "colorbar": cbar,
    }  # fmt: skip
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    _LAST.clear()
    _LAST.append(fig)
    return Path(path)


#: The most recent figure drawn by :func:`map_png` (for tests and inspection; holds at most one).
_LAST: list[Any] = []
