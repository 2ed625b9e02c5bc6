"""Map furniture shared by the PNG and HTML maps: projecting cell hexagons to map metres, the packaged England
and Wales outline (``data/outline_ew.json``, made by ``tools/make_outline.py``; provenance and licence in
``data/OUTLINE.md``), and the choice of a display resolution.

Cells in and around Great Britain are drawn in British National Grid (EPSG:27700) metres; cells elsewhere in an
azimuthal equidistant projection centred on the data, so both maps have true shapes and a metric scale anywhere.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import polars as pl

from ._convert import as_u64_cells
from ._wkb import hexagon_rings
from .cells import cell_to_boundary, cell_to_latlng, cell_to_parent

__all__ = [
    "DEFAULT_SOURCE",
    "OUTLINE_LICENCE",
    "Projected",
    "choose_crs",
    "project_centres",
    "project_cells",
    "outline",
    "outline_applies",
    "display_resolution",
    "resolution_of",
]

#: Default attribution line under every map.
DEFAULT_SOURCE = "Contains OS data © Crown copyright and database right; ONS"
#: Attribution of the packaged outline (see data/OUTLINE.md).
OUTLINE_LICENCE = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0; "
    "Contains OS data © Crown copyright and database right"
)

#: Average H3 hexagon edge length in metres by resolution (H3 documentation, "Tables of cell statistics").
EDGE_M = (
    1_281_256.011, 483_056.839, 182_512.956, 68_979.222, 26_071.760, 9_854.091, 3_724.533, 1_406.476,
    531.414, 200.786, 75.864, 28.664, 10.830, 4.092, 1.546, 0.584,
)  # fmt: skip

# Where BNG is the right projection: the grid's own extent, in degrees (with a margin).
_GB_LNG = (-9.5, 3.5)
_GB_LAT = (49.0, 61.5)


@dataclass(frozen=True)
class Projected:
    """Hexagons in map metres: ``rings[i]`` is cell ``i``'s closed ring, an (n, 2) array; ``crs`` the projection."""

    rings: list[np.ndarray]
    crs: str
    bng: bool

    def extent(self) -> tuple[float, float, float, float]:
        if not self.rings:
            return (0.0, 0.0, 1.0, 1.0)
        xy = np.concatenate(self.rings)
        return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))


def _transformer(crs: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def choose_crs(lng: np.ndarray, lat: np.ndarray) -> tuple[str, bool]:
    """The map projection for points at ``lng``, ``lat`` (degrees): ``("EPSG:27700", True)`` around Great
    Britain, else an azimuthal equidistant projection centred on them (and ``False``)."""
    if len(lng) == 0:
        return "EPSG:27700", True
    if (
        lng.min() >= _GB_LNG[0]
        and lng.max() <= _GB_LNG[1]
        and lat.min() >= _GB_LAT[0]
        and lat.max() <= _GB_LAT[1]
    ):
        return "EPSG:27700", True
    lat0 = float((lat.min() + lat.max()) / 2)
    lng0 = float(np.angle(np.exp(1j * np.deg2rad(lng)).mean(), deg=True))
    return f"+proj=aeqd +lat_0={lat0:.6f} +lon_0={lng0:.6f} +datum=WGS84 +units=m +no_defs", False


def project_centres(cells: pl.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """Cell centres in map metres: ``x, y, crs, is_bng`` (see :func:`choose_crs`)."""
    ll = cell_to_latlng(as_u64_cells(cells, "cell"))
    lng, lat = ll.get_column("lng").to_numpy(), ll.get_column("lat").to_numpy()
    crs, bng = choose_crs(lng, lat)
    x, y = _transformer(crs).transform(lng, lat)
    return np.asarray(x), np.asarray(y), crs, bng


def project_cells(cells: pl.Series | np.ndarray, crs: str | None = None) -> Projected:
    """Each cell's hexagon (from :func:`hyperlocal.cell_to_boundary`) projected to metres, in ``crs`` or, by
    default, the projection :func:`choose_crs` picks for the cells."""
    c = as_u64_cells(cells, "cell")
    lnglat = hexagon_rings(cell_to_boundary(c))
    if not lnglat:
        return Projected([], crs or "EPSG:27700", (crs or "EPSG:27700") == "EPSG:27700")
    counts = np.fromiter((len(r) for r in lnglat), np.int64, len(lnglat))
    flat = np.concatenate(lnglat)
    lng, lat = flat[:, 0], flat[:, 1]
    if crs is None:
        crs, _ = choose_crs(lng, lat)
    x, y = _transformer(crs).transform(lng, lat)
    xy = np.column_stack([x, y])
    return Projected(np.split(xy, np.cumsum(counts)[:-1]), crs, crs == "EPSG:27700")


@functools.lru_cache(maxsize=1)
def outline() -> dict[str, Any]:
    """The packaged outline: ``outline`` (coast and Scottish border), ``border`` (England–Wales), ``lad`` (local
    authority boundaries, LAD 2022) as lists of (n, 2) int arrays of BNG metres, ``land`` polygons, ``bbox``."""
    text = resources.files("hyperlocal").joinpath("data/outline_ew.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    out: dict[str, Any] = {k: doc[k] for k in ("crs", "bbox", "source", "licence")}
    for k in ("outline", "border", "lad", "land"):
        out[k] = [np.asarray(f, dtype=np.int64).reshape(-1, 2) for f in doc[k]]
    return out


def outline_applies(proj: Projected, extent: tuple[float, float, float, float]) -> bool:
    """Whether the data lie within England and Wales (BNG, inside the outline's box with a 20 km margin)."""
    if not proj.bng:
        return False
    bx0, by0, bx1, by1 = outline()["bbox"]
    m = 20_000
    x0, y0, x1, y1 = extent
    return x0 >= bx0 - m and y0 >= by0 - m and x1 <= bx1 + m and y1 <= by1 + m


def resolution_of(cells: pl.Series | np.ndarray) -> int | None:
    """The H3 resolution of the cells if they all share one, else ``None`` (bits 52–55 of the index)."""
    c = as_u64_cells(cells, "cell")
    if len(c) == 0:
        return None
    res = np.unique((c >> np.uint64(52)) & np.uint64(0xF))
    return int(res[0]) if len(res) == 1 else None


def display_resolution(
    extent: tuple[float, float, float, float] | pl.Series | np.ndarray,
    width_px: float,
    *,
    height_px: float | None = None,
    min_px: float = 3.0,
) -> int:
    """The finest H3 resolution whose hexagons are at least ``min_px`` pixels across on a map of this size.

    Finer cells than that merge into a blur on screen or paper (and cost memory and drawing time for nothing), so
    national maps of fine grids are best drawn rolled up to this resolution
    (:func:`hyperlocal.plot.rollup_for_display`).

    Parameters
    ----------
    extent
        ``(xmin, ymin, xmax, ymax)`` of the map in metres (British National Grid for Great Britain), or the cells
        to be drawn (``UInt64``), whose projected extent is used.
    width_px, height_px
        Size of the map area in pixels (for a PNG: inches × dpi). With ``height_px`` the tighter of the two
        scales applies, as on an equal-aspect map.
    min_px
        Smallest acceptable hexagon width (flat side to flat side, √3 × the average edge length) in pixels.

    Returns
    -------
    int
        A resolution in 0..=15 (0 if even resolution-0 hexagons would be too small, i.e. never in practice).

    Examples
    --------
    >>> from hyperlocal import display_resolution
    >>> display_resolution((85_000, 7_000, 656_000, 658_000), 900)  # England and Wales, 900 px wide
    7
    >>> display_resolution((370_000, 380_000, 410_000, 420_000), 900)  # a 40 km city region
    9
    >>> display_resolution((370_000, 380_000, 410_000, 420_000), 900, min_px=2)
    10
    """
    if isinstance(extent, tuple | list):
        x0, y0, x1, y1 = (float(v) for v in extent)
    else:
        x0, y0, x1, y1 = project_cells(extent).extent()
    if width_px <= 0 or (height_px is not None and height_px <= 0):
        from .exceptions import InvalidInputError

        raise InvalidInputError(
            f"display_resolution: map size must be positive, got {width_px} x {height_px}"
        )
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    px_per_m = width_px / w if height_px is None else min(width_px / w, height_px / h)
    best = 0
    for res, edge in enumerate(EDGE_M):
        if np.sqrt(3.0) * edge * px_per_m >= min_px:
            best = res
    return best


def rollup_for_display(
    df: pl.DataFrame, column: str, resolution: int, *, cell: str = "cell", weight: str | None = None
) -> pl.DataFrame:
    """``df`` rolled up to parent cells at ``resolution`` (see :func:`hyperlocal.plot.rollup_for_display`)."""
    parent = cell_to_parent(df.get_column(cell), resolution).alias(cell)
    v = pl.col(column).cast(pl.Float64).fill_nan(None)
    frame = df.select(
        parent, v.alias(column), *([pl.col(weight).cast(pl.Float64).alias("__w")] if weight else [])
    )
    if weight:
        w = pl.when(pl.col(column).is_not_null()).then(pl.col("__w")).otherwise(None)
        agg = [
            ((pl.col(column) * w).sum() / w.sum()).alias(column),
            pl.col("__w").sum().alias(weight),
        ]
        out = frame.group_by(cell, maintain_order=True).agg(agg)
        # No positive weight behind a parent: no data (not 0/0 = NaN).
        out = out.with_columns(pl.col(column).fill_nan(None))
    else:
        out = frame.group_by(cell, maintain_order=True).agg(pl.col(column).mean())
    return out
