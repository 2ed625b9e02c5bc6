"""Type stubs of the compiled extension ``hyperlocal._core`` (thin glue over the Rust core)."""

import numpy as np
import numpy.typing as npt

__version__: str

__all__ = [
    "__version__",
    "bng_to_latlng",
    "cell_resolutions",
    "cell_to_boundary_wkb",
    "cell_to_latlng",
    "cell_to_parent",
    "cell_to_string",
    "code_runs",
    "count_points",
    "grid_neighbours",
    "area_method_names",
    "is_release_build",
    "merge_counts",
    "latlng_to_cell",
    "latlng_to_cell_nested",
    "global_moran",
    "local_g",
    "local_moran",
    "locate_points",
    "permutation_counts",
    "polygon_crosswalk",
    "smooth",
    "validate_cells",
    "weighted_cell_sums",
]

_Rows = tuple[int, list[int]]

def latlng_to_cell(
    lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64], resolution_: int, skip: bool
) -> tuple[npt.NDArray[np.uint64], _Rows]: ...
def latlng_to_cell_nested(
    lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64], resolution_: int, skip: bool
) -> tuple[npt.NDArray[np.uint64], _Rows]: ...
def bng_to_latlng(
    easting: npt.NDArray[np.float64], northing: npt.NDArray[np.float64], skip: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], _Rows]: ...
def validate_cells(cells_: npt.NDArray[np.uint64], arg: str) -> None: ...
def cell_resolutions(cells_: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]: ...
def cell_to_parent(cells_: npt.NDArray[np.uint64], resolution_: int) -> npt.NDArray[np.uint64]: ...
def cell_to_latlng(
    cells_: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def cell_to_string(cells_: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]: ...
def cell_to_boundary_wkb(
    cells_: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]: ...
def grid_neighbours(
    cells_: npt.NDArray[np.uint64], k: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint8]]: ...
def weighted_cell_sums(
    row_cell: npt.NDArray[np.uint64],
    row_area: npt.NDArray[np.uint32],
    row_weight: npt.NDArray[np.float64],
    n_areas: int,
    extensive: list[npt.NDArray[np.float64]],
    intensive: list[npt.NDArray[np.float64]],
    intensive_weight: npt.NDArray[np.float64] | None = None,
) -> tuple[
    npt.NDArray[np.uint64],
    list[npt.NDArray[np.float64]],
    list[npt.NDArray[np.float64]],
    npt.NDArray[np.float64],
]: ...
def count_points(
    a: list[npt.NDArray[np.float64]],
    b: list[npt.NDArray[np.float64]],
    groups: list[npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.uint32]] | None,
    n_groups: int,
    resolution_: int,
    bng: bool,
    nested: bool,
    skip: bool,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint32], _Rows]: ...
def merge_counts(
    a_cells: npt.NDArray[np.uint64],
    a_groups: npt.NDArray[np.uint32],
    a_counts: npt.NDArray[np.uint64],
    b_cells: npt.NDArray[np.uint64],
    b_groups: npt.NDArray[np.uint32],
    b_counts: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint64]]: ...
def is_release_build() -> bool: ...
def area_method_names() -> list[tuple[int, str]]: ...
def polygon_crosswalk(
    buffers: list[npt.NDArray[np.uint8]], views: npt.NDArray[np.uint8], crs: str, resolution_: int
) -> tuple[
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.uint8],
]: ...
def code_runs(
    row_buffers: list[npt.NDArray[np.uint8]],
    row_views: npt.NDArray[np.uint8],
    code_buffers: list[npt.NDArray[np.uint8]],
    code_views: npt.NDArray[np.uint8],
) -> npt.NDArray[np.uint32] | None: ...
def locate_points(
    buffers: list[npt.NDArray[np.uint8]],
    views: npt.NDArray[np.uint8],
    crs: str,
    lat: npt.NDArray[np.float64],
    lng: npt.NDArray[np.float64],
) -> npt.NDArray[np.uint32]: ...
def smooth(
    offsets: npt.NDArray[np.uint64],
    index: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def local_g(
    offsets: npt.NDArray[np.uint64],
    index: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    star: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def local_moran(
    offsets: npt.NDArray[np.uint64],
    index: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    row_standardised: bool,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint8],
    npt.NDArray[np.float64],
]: ...
def permutation_counts(
    offsets: npt.NDArray[np.uint64],
    index: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    cells_: npt.NDArray[np.uint64],
    seed: int,
    permutations: int,
) -> npt.NDArray[np.uint32]: ...
def global_moran(
    offsets: npt.NDArray[np.uint64],
    index: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float64],
    row_standardised: bool,
    permutations: int,
    seed: int,
) -> list[tuple[str, float]]: ...
