"""Interactive HTML maps of cell surfaces: one self-contained file that works offline.

:func:`map_html` writes a single HTML file with the data, a small canvas renderer (``_webmap/map.js``) and its
styles inline. It makes no network request at all (a Content-Security-Policy forbids them), so it can be
e-mailed, opened from a shared drive or archived with a report. The map shows one of several layers at a time
(radio buttons), coloured like :func:`hyperlocal.map_png` (continuous scale with limits, or ten decile
classes; no data in grey), with pan (drag), zoom (wheel, buttons), the England and Wales outline and local
authority boundaries, and a tooltip per cell: its H3 id, the value, its interval and population when given.

Cells are drawn in British National Grid metres (an azimuthal equidistant projection outside Great Britain).
Geometry is sent once for the union of all layers' cells: centres rounded to metres (Int32) and each hexagon's
vertices as metre offsets from its centre (Int16 at resolution 5 and finer), base64-encoded; values as Float32.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import _basemap
from ._basemap import DEFAULT_SOURCE
from ._convert import FrameLike, as_frame, check_unique, require_columns
from .cells import string_to_cell
from .exceptions import InvalidInputError
from .io import atomic_path, check_output_path
from .plot import DECILE_LABELS, NO_DATA_COLOUR, _limits

__all__ = ["MapLayer", "map_html", "CSP"]

#: The page's Content-Security-Policy: nothing may be fetched; only the inline script and styles run.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


@dataclass
class MapLayer:
    """One switchable layer of :func:`map_html`.

    Attributes
    ----------
    table
        Cell table (Polars, Arrow, pandas, …) with a ``cell`` column of UInt64 H3 ids or H3 strings.
    column
        Numeric column to colour by; null or NaN is "no data" (grey).
    label
        Name of the layer in the layer switcher and legend (default ``column``).
    cell
        Name of the cell column.
    diverging, center
        Colour scale centred on ``center`` and symmetric about it (as :func:`hyperlocal.map_png`).
    classes
        ``"deciles"``: ten classes, 1 = most deprived … 10 = least deprived (chosen automatically for an integer
        column named ``decile`` with values 1..10).
    lo, hi
        Columns with the lower and upper limits of an interval for ``column``, shown in the tooltip.
    population
        Population column, shown in the tooltip.
    cmap
        Matplotlib colour map name (default ``viridis``; ``RdBu_r`` when diverging; ``RdYlBu`` for deciles).
    limits
        ``(lo, hi)`` of the colour scale (default: 2nd–98th percentiles); values beyond take the end colours and
        the legend shows an arrow at that end.
    nodata
        Legend and tooltip text for null values (e.g. "suppressed: fewer than 100 residents").
    """

    table: pl.DataFrame | FrameLike
    column: str
    label: str | None = None
    cell: str = "cell"
    diverging: bool = False
    center: float = 0.0
    classes: str | None = None
    lo: str | None = None
    hi: str | None = None
    population: str | None = None
    cmap: str | None = None
    limits: Sequence[float] | None = None
    nodata: str = "no data"


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _f32(s: pl.Series) -> np.ndarray:
    return s.cast(pl.Float64).fill_nan(None).fill_null(float("nan")).to_numpy().astype("<f4")


def _cells(df: pl.DataFrame, name: str, what: str) -> pl.Series:
    s = df.get_column(name)
    if s.dtype == pl.String:
        s = string_to_cell(s)
    elif not s.dtype.is_integer():
        raise InvalidInputError(
            f"{what}: column {name!r} must hold H3 cells (UInt64 or strings), got {s.dtype}"
        )
    s = s.cast(pl.UInt64).alias("cell")
    if s.null_count():
        raise InvalidInputError(f"{what}: column {name!r} has {s.null_count()} null cells")
    check_unique(s, f"{what}: column {name!r}")
    return s


def _lines(parts: list[np.ndarray]) -> dict[str, str]:
    """Polylines as one flat Int32 array of x, y metres and Uint32 start offsets (in points)."""
    if not parts:
        return {"xy": "", "start": ""}
    starts = np.cumsum([0] + [len(p) for p in parts]).astype("<u4")
    return {"xy": _b64(np.concatenate(parts).astype("<i4")), "start": _b64(starts)}


def _layer_payload(i: int, layer: MapLayer, union: pl.DataFrame) -> dict[str, Any]:
    from matplotlib import colormaps

    from .plot import _check_classes

    what = f"map_html: layer {i} ({layer.label or layer.column})"
    df = as_frame(layer.table, what)
    extra = [c for c in (layer.lo, layer.hi, layer.population) if c]
    require_columns(df, [layer.cell, layer.column, *extra], what)
    kind = _check_classes(df, layer.column, layer.classes)
    for c in extra:
        if not df.get_column(c).dtype.is_numeric():
            raise InvalidInputError(f"{what}: column {c!r} must be numeric, got {df.get_column(c).dtype}")
    cmap = layer.cmap or ("RdYlBu" if kind == "deciles" else "RdBu_r" if layer.diverging else "viridis")
    if cmap not in colormaps:
        raise InvalidInputError(f"{what}: unknown colour map {cmap!r}")
    t = df.select(_cells(df, layer.cell, what), *[pl.col(c) for c in [layer.column, *extra]])
    t = union.join(t, on="cell", how="left", maintain_order="left")
    present = union.join(
        t.select("cell", pl.lit(True).alias("__p")), on="cell", how="left", maintain_order="left"
    )
    present_mask = present.get_column("__p").fill_null(False).to_numpy()
    vals = _f32(t.get_column(layer.column))
    out: dict[str, Any] = {
        "label": layer.label or layer.column,
        "column": layer.column,
        "values": _b64(vals),
        "present": None if present_mask.all() else _b64(present_mask.astype(np.uint8)),
        "nodata": bool((present_mask & ~np.isfinite(vals)).any()),
        "nodataLabel": layer.nodata,
    }
    for key, col in (("ilo", layer.lo), ("ihi", layer.hi), ("pop", layer.population)):
        out[key] = _b64(_f32(t.get_column(col))) if col else None
    finite = vals[present_mask & np.isfinite(vals)].astype(np.float64)
    if kind == "deciles":
        base = colormaps[cmap].resampled(10)
        lut = np.array([base(k)[:3] for k in range(10)])
        out |= {"kind": "deciles", "classes": list(DECILE_LABELS)}
    else:
        lo, hi = _limits(finite, layer.diverging, layer.center, layer.limits)
        lut = colormaps[cmap](np.linspace(0, 1, 256))[:, :3]
        below, above = bool((finite < lo).any()), bool((finite > hi).any())
        out |= {
            "kind": "continuous",
            "vmin": lo,
            "vmax": hi,
            "center": layer.center if layer.diverging and lo < layer.center < hi else None,
            "extend": "both" if below and above else "min" if below else "max" if above else "neither",
        }
    out["lut"] = _b64(np.rint(lut * 255).astype(np.uint8))
    out["ncolours"] = len(lut)
    return out


def map_html(
    layers: Sequence[MapLayer],
    path: str | os.PathLike[str],
    *,
    title: str,
    outline: bool = True,
    source: str = DEFAULT_SOURCE,
) -> Path:
    """Write an interactive, self-contained HTML map of one or more cell layers (atomically).

    The file needs no network: every script, style and datum is inline and its Content-Security-Policy forbids
    requests. Open it in any current browser: drag to pan, scroll (or the +/− buttons) to zoom, double-click to
    reset, hover a cell for its H3 id, value, interval and population; the radio buttons switch layers.

    Parameters
    ----------
    layers
        One :class:`MapLayer` per switchable layer (the first is shown first). Layers may cover different
        cells; a cell missing from a layer is not drawn in it, a null value is drawn as "no data".
    path
        Output ``.html`` file.
    title
        Page and map title.
    outline
        Draw the England and Wales outline and local authority boundaries (packaged ONS boundaries, OGL v3.0)
        when the cells lie within England and Wales.
    source
        Attribution line under the map.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidInputError
        No layers, a missing or non-numeric column, invalid or duplicate cells, or a bad output path.

    Notes
    -----
    A national resolution-7 map of England and Wales (33,787 cells) with three layers is 3.4 MB and is drawn
    0.5 s after navigation starts in headless Chromium (the drawing itself ~0.14 s). Finer national grids grow
    the file linearly (resolution 8: 232,000 cells, 17 MB, 1.7 s); roll them up first
    (:func:`hyperlocal.plot.rollup_for_display`) for a national view.
    """
    check_output_path(path, (".html", ".htm"))
    if isinstance(layers, MapLayer):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise InvalidInputError("map_html: no layers to draw; pass at least one MapLayer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, MapLayer):
            raise InvalidInputError(f"map_html: layers[{i}] is a {type(layer).__name__}, expected a MapLayer")
    cell_lists = []
    for i, layer in enumerate(layers):
        df = as_frame(layer.table, f"map_html: layer {i}")
        require_columns(df, [layer.cell], f"map_html: layer {i}")
        cell_lists.append(_cells(df, layer.cell, f"map_html: layer {i} ({layer.label or layer.column})"))
    union = pl.concat(cell_lists).unique(maintain_order=True).sort().to_frame("cell")
    if union.height == 0:
        raise InvalidInputError("map_html: the layers have no cells to draw")

    cells = union.get_column("cell")
    cx, cy, crs, _ = _basemap.project_centres(cells)
    proj = _basemap.project_cells(cells, crs)
    icx, icy = np.rint(cx).astype("<i4"), np.rint(cy).astype("<i4")
    nv = np.fromiter((len(r) - 1 for r in proj.rings), np.int64, len(proj.rings))  # rings are closed
    offs = np.concatenate([r[:-1] - np.array([x, y]) for r, x, y in zip(proj.rings, icx, icy)])
    offs = np.rint(offs)
    vtype = "i16" if np.abs(offs).max() < 32_000 else "i32"
    offs_arr = offs.astype("<i2" if vtype == "i16" else "<i4")
    ids = cells.to_numpy().astype("<u8")
    extent = proj.extent()

    payload: dict[str, Any] = {
        "title": title,
        "source": source,
        "crs": crs,
        "n": int(union.height),
        "extent": [round(v) for v in extent],
        "cx": _b64(icx),
        "cy": _b64(icy),
        "nv": _b64(nv.astype(np.uint8)),
        "vtype": vtype,
        "v": _b64(offs_arr),
        "idhi": _b64((ids >> np.uint64(32)).astype("<u4")),
        "idlo": _b64((ids & np.uint64(0xFFFFFFFF)).astype("<u4")),
        "nodata": NO_DATA_COLOUR,
        "layers": [_layer_payload(i, layer, union) for i, layer in enumerate(layers)],
        "outline": None,
    }
    if outline and _basemap.outline_applies(proj, extent):
        ol = _basemap.outline()
        payload["outline"] = {k: _lines(ol[k]) for k in ("outline", "border", "lad", "land")}
        if "Open Government Licence" not in source:
            payload["source"] = f"{source}; boundaries: ONS, OGL v3.0"

    pkg = resources.files("hyperlocal").joinpath("_webmap")
    js = pkg.joinpath("map.js").read_text(encoding="utf-8")
    css = pkg.joinpath("map.css").read_text(encoding="utf-8")
    # JSON inside <script>: "</" and "<!--" must not appear, whatever the title or labels say.
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = _PAGE.format(
        csp=CSP,  # a constant with single quotes only: safe in a double-quoted attribute
        title=html.escape(title),
        source=html.escape(payload["source"]),
        css=css,
        data=data,
        js=js,
    )
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hyperlocal">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header><h1 id="hl-title">{title}</h1></header>
<main>
<div id="hl-map" aria-label="map">
<canvas id="hl-canvas"></canvas>
<div id="hl-tooltip" role="status" hidden></div>
<div id="hl-zoom"><button type="button" id="hl-zoom-in" title="Zoom in">+</button><button type="button"
 id="hl-zoom-out" title="Zoom out">&minus;</button><button type="button" id="hl-reset"
 title="Show everything">&#8962;</button></div>
<div id="hl-scale"><div id="hl-scale-bar"></div><span id="hl-scale-text"></span></div>
<noscript><p class="hl-noscript">This map needs JavaScript.</p></noscript>
</div>
<aside id="hl-panel">
<fieldset id="hl-layers"><legend>Layer</legend></fieldset>
<div id="hl-legend"></div>
<p class="hl-help">Drag to pan, scroll to zoom, double-click to reset. Hover a hexagon for its values.</p>
</aside>
</main>
<footer id="hl-source">{source}</footer>
<script type="application/json" id="hl-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""
