"""hyperlocal: census areas and health-service events onto H3 hexagons, fast and mass-conserving.

Typical use::

    import hyperlocal as hl
    xw = hl.crosswalk(areas, resolution=8, easting="x", northing="y")
    grid = hl.apportion(values, xw, extensive=["very_good", "bad"])
    hl.write(grid, "grid.parquet")
"""

from __future__ import annotations

import warnings

from . import _core, exceptions, synth
from .aggregate import apportion, count_points, rollup
from .cells import (
    bng_to_cell,
    bng_to_latlng,
    cell_to_boundary,
    cell_to_latlng,
    cell_to_parent,
    cell_to_string,
    latlng_to_cell,
    string_to_cell,
)
from .crosswalk import crosswalk
from .demand import (
    demand_surface,
    dsr,
    eb_smooth,
    funnel_curves,
    funnel_limits,
    funnel_plot,
    isr,
    proportion,
    rate,
    reference_rates,
    sii,
)
from .deprivation import carstairs, deciles, deprivation_surface, imd_score, townsend
from .evaluate import ProgrammeEvaluation, evaluate_programme
from .health import compare_groups, health_change
from .io import read_areas, write
from .plot import display_resolution, map_png
from .spatial import global_moran, local_gi, local_moran, neighbours, smooth
from .standardise import age_standardise, standardised_change
from .webmap import MapLayer, map_html

__version__ = _core.__version__

__all__ = [
    "age_standardise",
    "standardised_change",
    "apportion",
    "demand_surface",
    "dsr",
    "eb_smooth",
    "funnel_curves",
    "funnel_limits",
    "funnel_plot",
    "isr",
    "proportion",
    "rate",
    "reference_rates",
    "sii",
    "neighbours",
    "smooth",
    "local_gi",
    "local_moran",
    "global_moran",
    "bng_to_cell",
    "bng_to_latlng",
    "cell_to_boundary",
    "cell_to_latlng",
    "compare_groups",
    "evaluate_programme",
    "ProgrammeEvaluation",
    "carstairs",
    "deciles",
    "deprivation_surface",
    "imd_score",
    "townsend",
    "health_change",
    "cell_to_parent",
    "cell_to_string",
    "count_points",
    "crosswalk",
    "exceptions",
    "latlng_to_cell",
    "map_png",
    "map_html",
    "MapLayer",
    "display_resolution",
    "read_areas",
    "rollup",
    "string_to_cell",
    "synth",
    "write",
]

if not _core.is_release_build():
    warnings.warn(
        "hyperlocal's extension is a debug build and will be ~20x slower; build with `maturin develop --release`",
        exceptions.HyperlocalWarning,
        stacklevel=2,
    )
