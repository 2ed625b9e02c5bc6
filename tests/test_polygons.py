"""Polygon crosswalks (area and population shares) on real boundaries, against tobler and invariants."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import geopandas as gpd
import h3
import hyperlocal as hl
import numpy as np
import polars as pl
import pyproj
import pytest
import shapely
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning
from polars.testing import assert_frame_equal


@pytest.fixture(scope="module")
def msoa11(data: Path) -> pl.DataFrame:
    return hl.read_areas(
        data / "geography" / "msoa2011_bsc_ew" / "msoa2011_bsc_ew.shp",
        code="MSOA11CD",
        columns=["MSOA11NM", "Shape__Are", "BNG_E"],
    )


@pytest.fixture(scope="module")
def gm_lsoa(data: Path, ts037: pl.DataFrame) -> pl.DataFrame:
    areas = hl.read_areas(
        data / "geography" / "greater_manchester_lsoa21_generalised.geojson", code="area_code"
    )
    return areas.join(ts037.rename({"LSOA21CD": "area_code"}), on="area_code", how="inner")


@pytest.mark.parametrize("res", [6, 7, 8])
def test_msoa2011_weights_sum_to_one_and_areas_add_up(msoa11: pl.DataFrame, res: int) -> None:
    assert msoa11.height == 7_201 and msoa11["crs"][0] == "EPSG:27700"
    xw, audit = hl.crosswalk(msoa11, resolution=res, code="MSOA11CD", method="area", audit=True)
    assert audit.height == 7_201
    sums = xw.group_by("MSOA11CD").agg(pl.col("weight").sum())
    assert sums.height == 7_201
    # Weights are normalised by the covered area, so they sum to one by construction; the independent check is
    # that the clipped and whole cells add up to the polygon's own (shoelace) area (observed: 1.4e-12).
    assert (sums["weight"] - 1.0).abs().max() <= 1e-12
    assert (audit["weight_sum"] - 1.0).abs().max() <= 1e-12
    rel = ((audit["covered_m2"] - audit["area_m2"]).abs() / audit["area_m2"]).max()
    assert rel <= 1e-9
    assert (audit["n_cells"] >= 1).all() and (audit["method"] == "area").all()
    assert shapely.is_valid(shapely.from_wkb(msoa11["geometry"].to_numpy())).all()
    assert not audit["repaired"].any()
    # Cells are real H3 cells at that resolution.
    assert {h3.get_resolution(h3.int_to_str(c)) for c in xw["cell"].head(100)} == {res}


def test_msoa2011_shares_match_shapely_on_a_sample(msoa11: pl.DataFrame) -> None:
    """Shares of 116 MSOAs (every 8th multipolygon or polygon with holes, and every 100th area) against
    shapely's exact intersection with the hexagons, in the same projection; BNG vertices converted by the
    core's own BNG → WGS84 (tested in test_cells.py), so both sides start from the same lat/lng polygons."""
    geoms = shapely.from_wkb(msoa11["geometry"].to_numpy())
    special = np.flatnonzero((shapely.get_type_id(geoms) == 6) | (shapely.get_num_interior_rings(geoms) > 0))
    pick = np.unique(np.concatenate([special[::8], np.arange(0, len(geoms), 100)]))
    assert len(pick) >= 100
    sub = msoa11[pick.tolist()]

    def to_latlng(xy: np.ndarray) -> np.ndarray:
        ll = hl.bng_to_latlng(pl.Series(xy[:, 0]), pl.Series(xy[:, 1]))
        return np.column_stack([ll["lng"].to_numpy(), ll["lat"].to_numpy()])

    geoms_ll = [shapely.transform(g, to_latlng) for g in geoms[pick]]
    centres = [_projection_centre(*_vertex_box(g)) for g in geoms_ll]
    for res in (7, 8):
        xw, audit = hl.crosswalk(sub, resolution=res, code="MSOA11CD", method="area", audit=True)
        rows = _against_reference(xw, audit, "MSOA11CD", geoms_ll, res, centres)
        assert max(r["share_diff"] for r in rows) < 1e-6
        assert max(abs(r["area_m2"] / r["ref_area"] - 1) for r in rows) < 1e-9
        assert not any(r["missing"] for r in rows)


def test_polygon_areas_agree_with_the_files_grid_areas(msoa11: pl.DataFrame) -> None:
    """Ellipsoidal areas vs the shapefile's planar BNG areas, corrected by the grid's point scale factor."""
    _, audit = hl.crosswalk(msoa11, resolution=6, code="MSOA11CD", method="area", audit=True)
    k = 0.9996012717 * (1 + (msoa11["BNG_E"] - 400_000) ** 2 / (2 * 6_375_000.0**2))
    ratio = (audit["area_m2"] * k * k / msoa11["Shape__Are"]).to_numpy()
    assert abs(np.median(ratio) - 1) < 5e-4
    assert np.percentile(np.abs(ratio - 1), 99) < 2e-3


def test_gm_lsoa_area_method_agrees_with_tobler(gm_lsoa: pl.DataFrame) -> None:
    from tobler.area_weighted import area_interpolate

    assert gm_lsoa.height > 1_600
    total = gm_lsoa["residents"].sum()
    xw = hl.crosswalk(gm_lsoa, resolution=9, code="area_code", method="area")
    grid = hl.apportion(gm_lsoa, xw, code="area_code", extensive="residents")
    assert abs(grid["residents"].sum() - total) < 1e-6

    src = gpd.GeoDataFrame(
        {"residents": gm_lsoa["residents"].cast(pl.Float64).to_numpy()},
        geometry=shapely.from_wkb(gm_lsoa["geometry"].to_numpy()),
        crs="EPSG:4326",
    ).to_crs(27700)
    hexes = gpd.GeoDataFrame(
        {"cell": grid["cell"].to_numpy()},
        geometry=shapely.from_wkb(hl.cell_to_boundary(grid["cell"]).to_numpy()),
        crs="EPSG:4326",
    ).to_crs(27700)
    with warnings.catch_warnings():  # scipy FutureWarnings raised inside tobler, not ours
        warnings.simplefilter("ignore", FutureWarning)
        ref = area_interpolate(src, hexes, extensive_variables=["residents"], allocate_total=True)
    theirs = ref["residents"].to_numpy()
    assert abs(theirs.sum() - total) < 1e-6 * total
    ours = grid["residents"].to_numpy()
    big = ours > 100
    assert big.sum() > 1000
    rel = np.abs(ours[big] - theirs[big]) / theirs[big]
    assert rel.max() < 1e-5, rel.max()  # observed 1.4e-6 (tobler intersects in BNG, we in a local LAEA)


def test_population_method_msoa2011_with_lsoa21_centroids(
    msoa11: pl.DataFrame, lsoa_pwc: pl.DataFrame, ts037: pl.DataFrame
) -> None:
    pts = lsoa_pwc.join(ts037.select("LSOA21CD", "residents"), on="LSOA21CD")
    with pytest.warns(SkippedRowsWarning, match="no area containing them") as rec:
        xw, audit = hl.crosswalk(
            msoa11, resolution=7, code="MSOA11CD", method="population", points=pts, population="residents",
            points_easting="x", points_northing="y", audit=True,
        )  # fmt: skip
    unmatched = int(str(rec[0].message).split(": ")[1].split(" ")[0])
    assert unmatched < 50  # centroids on coasts the clipped boundaries cut away
    assert (audit["weight_sum"] - 1).abs().max() <= 1e-12
    counts = audit["method"].value_counts()
    assert set(counts["method"]) <= {"population", "fallback"}
    assert audit.filter(pl.col("method") == "population").height > 7_000
    # Mass: MSOA totals of the people placed through the centroids are conserved through the crosswalk.
    msoa_pop = audit.select("MSOA11CD", "population")
    grid = hl.apportion(msoa_pop, xw, code="MSOA11CD", extensive="population")
    assert abs(grid["population"].sum() - msoa_pop["population"].sum()) < 1e-6
    # Where people are unevenly spread the population shares differ from area shares.
    area_xw = hl.crosswalk(msoa11, resolution=7, code="MSOA11CD", method="area")
    both = xw.join(area_xw, on=["MSOA11CD", "cell"], how="full", coalesce=True, suffix="_area").with_columns(
        pl.col("weight", "weight_area").fill_null(0.0)
    )
    diff = both.group_by("MSOA11CD").agg(
        (pl.col("weight") - pl.col("weight_area")).abs().sum().alias("l1") / 2
    )
    # The largest shift: E02005727 Northumberland 019, a large rural MSOA whose people live in a few places;
    # 98% of its weight moves between cells when people, not land, are apportioned.
    worst = diff.sort("l1", descending=True).row(0, named=True)
    assert worst["l1"] > 0.5
    assert diff.filter(pl.col("MSOA11CD") == "E02005727")["l1"].item() > 0.9
    name = msoa11.filter(pl.col("MSOA11CD") == worst["MSOA11CD"])["MSOA11NM"].item()
    print(f"largest area→population shift: {worst['MSOA11CD']} {name}: {worst['l1']:.2f} of the weight moves")
    assert diff["l1"].median() > 0.05


def _wkb(geom: shapely.Geometry) -> bytes:
    return shapely.to_wkb(geom)


def test_tiny_square_and_thin_strip() -> None:
    cell = h3.latlng_to_cell(51.5, -0.12, 9)
    lat, lng = h3.cell_to_latlng(cell)
    d = 0.00004  # about 4-5 m: a 10 m square
    sq = shapely.box(lng - d, lat - d, lng + d * 1.6, lat + d)
    strip = shapely.box(-0.2, 51.5, -0.15, 51.50005)  # 3.5 km long, 5.5 m wide
    areas = pl.DataFrame({"code": ["sq", "strip"], "geometry": [_wkb(sq), _wkb(strip)]})
    xw = hl.crosswalk(areas, resolution=9, method="area", crs="EPSG:4326")
    one = xw.filter(pl.col("code") == "sq")
    assert one["cell"].to_list() == [h3.str_to_int(cell)] and one["weight"].to_list() == [1.0]
    touched = {h3.str_to_int(h3.latlng_to_cell(51.500025, x, 9)) for x in np.linspace(-0.2, -0.15, 5000)}
    got = set(xw.filter(pl.col("code") == "strip")["cell"].to_list())
    assert touched <= got


def test_bad_geometries_name_rows() -> None:
    good = _wkb(shapely.box(-0.2, 51.5, -0.1, 51.6))
    point = _wkb(shapely.Point(0, 51))
    empty = struct.pack("<BII", 1, 3, 0)
    far = _wkb(shapely.box(-0.2, 91.5, -0.1, 91.6))
    with pytest.raises(
        InvalidInputError, match=r"geometry: 2 rows \(first at 1, 3\).*Polygon or MultiPolygon"
    ):
        hl.crosswalk(pl.DataFrame({"code": list("abcd"), "geometry": [good, point, good, point]}), resolution=7,
                     method="area", crs="EPSG:4326")  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"geometry: 1 row \(first at 1\).*non-empty"):
        hl.crosswalk(pl.DataFrame({"code": list("ab"), "geometry": [good, empty]}), resolution=7, method="area",
                     crs="EPSG:4326")  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"geometry: 1 row \(first at 0\) have empty \(null\)"):
        hl.crosswalk(pl.DataFrame({"code": list("ab"), "geometry": [None, good]}), resolution=7, method="area",
                     crs="EPSG:4326")  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"geometry: 1 row \(first at 1\).*in range for WGS84"):
        hl.crosswalk(pl.DataFrame({"code": list("ab"), "geometry": [good, far]}), resolution=7, method="area",
                     crs="EPSG:4326")  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"in range for British National Grid"):
        hl.crosswalk(pl.DataFrame({"code": ["a"], "geometry": [good]}), resolution=7, method="area",
                     crs="EPSG:27700")  # fmt: skip
    with pytest.raises(InvalidInputError, match="unknown coordinate reference system"):
        hl.crosswalk(pl.DataFrame({"code": ["a"], "geometry": [good]}), resolution=7, method="area",
                     crs="EPSG:3857")  # fmt: skip


def test_self_intersecting_polygon_is_repaired_and_counted() -> None:
    bow = shapely.Polygon([(-0.2, 51.5), (-0.1, 51.55), (-0.1, 51.5), (-0.2, 51.55)])
    assert not bow.is_valid
    fixed = shapely.make_valid(bow)
    ok = shapely.box(-0.3, 51.4, -0.25, 51.45)
    areas = pl.DataFrame({"code": ["bow", "ok"], "geometry": [_wkb(bow), _wkb(ok)]})
    xw, audit = hl.crosswalk(areas, resolution=8, method="area", crs="EPSG:4326", audit=True)
    assert audit["repaired"].to_list() == [True, False]
    assert (audit["weight_sum"] - 1).abs().max() < 1e-12
    # Repaired like shapely.make_valid: both triangles. shapely repaired in lon/lat, where the crossing point
    # differs slightly from the crossing of the projected edges; the exact comparison is in the corpus below.
    centre = _projection_centre(*_vertex_box(bow))
    laea = f"+proj=laea +lat_0={centre[0]!r} +lon_0={centre[1]!r} +ellps=WGS84"
    ref = gpd.GeoSeries([fixed], crs="EPSG:4326").to_crs(laea).area.iloc[0]
    assert abs(audit["area_m2"][0] / ref - 1) < 1e-5
    ref_area, _ = _reference_shares(bow, 8, centre)
    assert abs(audit["area_m2"][0] / ref_area - 1) < 1e-9


def test_read_areas_formats_round_trip(tmp_path: Path) -> None:
    polys = [shapely.box(-0.2 + i * 0.01, 51.5, -0.19 + i * 0.01, 51.51) for i in range(5)]
    gdf = gpd.GeoDataFrame(
        {"code": [f"A{i}" for i in range(5)], "n": range(5)}, geometry=polys, crs="EPSG:4326"
    )
    outs = {
        "a.parquet": lambda p: gdf.to_parquet(p),
        "a.gpkg": lambda p: gdf.to_file(p, driver="GPKG"),
        "a.geojson": lambda p: gdf.to_file(p, driver="GeoJSON"),
        "a.shp": lambda p: gdf.to_crs(27700).to_file(p),
    }
    ref = None
    for name, write in outs.items():
        path = tmp_path / name
        write(path)
        areas = hl.read_areas(path, code="code", columns=["n"])
        assert areas.columns == ["code", "geometry", "n", "crs"]
        assert areas["crs"][0] == ("EPSG:27700" if name.endswith(".shp") else "EPSG:4326")
        xw = hl.crosswalk(areas, resolution=9, method="area")
        sums = xw.group_by("code").agg(pl.col("weight").sum().alias("w"))["w"]
        assert (sums - 1).abs().max() < 1e-12
        cells = sorted(xw["cell"].to_list())
        ref = ref or cells
        if not name.endswith(".shp"):
            assert cells == ref


def test_population_by_code_with_fallback_and_unmatched() -> None:
    a = shapely.box(-0.30, 51.40, -0.20, 51.50)  # ~7 km wide: many res-8 cells
    b = shapely.box(-0.10, 51.40, 0.00, 51.50)
    areas = pl.DataFrame({"code": ["A", "B"], "geometry": [_wkb(a), _wkb(b)]})
    # All of A's people live at two points; B has no points at all; one point names an unknown area.
    pts = pl.DataFrame(
        {
            "area": ["A", "A", "Z"],
            "lat": [51.45, 51.41, 51.45],
            "lng": [-0.25, -0.29, -0.05],
            "pop": [300, 100, 5],
        }
    )
    with pytest.warns(SkippedRowsWarning, match=r"1 row \(first at 2\) have codes absent"):
        xw, audit = hl.crosswalk(
            areas, resolution=8, method="population", crs="EPSG:4326", points=pts, population="pop",
            points_code="area", audit=True,
        )  # fmt: skip
    assert audit["method"].to_list() == ["population", "fallback"]
    assert audit["population"].to_list() == [400.0, 0.0]
    wa = xw.filter(pl.col("code") == "A").sort("weight")
    assert wa["weight"].to_list() == [0.25, 0.75]
    assert wa["cell"].to_list() == [
        h3.str_to_int(h3.cell_to_parent(h3.latlng_to_cell(51.41, -0.29, 15), 8)),
        h3.str_to_int(h3.cell_to_parent(h3.latlng_to_cell(51.45, -0.25, 15), 8)),
    ]
    area_only = hl.crosswalk(areas, resolution=8, method="area", crs="EPSG:4326")
    assert xw.filter(pl.col("code") == "B").equals(area_only.filter(pl.col("code") == "B"))


# --- Invalid polygons: repaired as shapely.make_valid(method="structure"), exactly ----------------------------

M_PER_DEG_LAT = 111_320.0


def _lonlat(clat: float, clng: float, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Local metres east/north of (clat, clng) → lon/lat (a plain scaling: only used to make shapes)."""
    k = M_PER_DEG_LAT * np.cos(np.radians(clat))
    return [(clng + x / k, clat + y / M_PER_DEG_LAT) for x, y in pts]


def _sq(x: float, y: float, s: float) -> list[tuple[float, float]]:
    return [(x, y), (x + s, y), (x + s, y + s), (x, y + s)]


def _invalid_corpus() -> list[tuple[str, shapely.Geometry]]:
    """Invalid (and a few valid) polygons of a few hundred metres to a few km, at random places in England."""
    rng = np.random.default_rng(8)
    star = [
        (1500 * np.cos(np.radians(90 + 144 * k)), 1500 * np.sin(np.radians(90 + 144 * k))) for k in range(5)
    ]
    # fmt: off
    shapes: list[tuple[str, list[list[list[tuple[float, float]]]]]] = [
        # (name, [polygon = [shell, *holes]]) in local metres.
        ("bow-tie", [[[(0, 0), (1500, 1500), (1500, 0), (0, 1500)]]]),
        ("lopsided bow-tie", [[[(0, 0), (2400, 1800), (2400, 0), (0, 600)]]]),
        ("hole crossing the shell", [[_sq(0, 0, 2000), _sq(1000, 1000, 2000)]]),
        ("hole half outside", [[_sq(0, 0, 2000), _sq(1500, 500, 1000)]]),
        ("hole wholly outside", [[_sq(0, 0, 1500), _sq(2500, 2500, 600)]]),
        ("hole outside touching at a vertex", [[_sq(0, 0, 1500), _sq(1500, 1500, 500)]]),
        ("hole equal to the shell, plus a part", [[_sq(0, 0, 900), _sq(0, 0, 900)], [_sq(1500, 0, 700)]]),
        ("two identical holes", [[_sq(0, 0, 2000), _sq(500, 500, 600), _sq(500, 500, 600)]]),
        ("nested holes", [[_sq(0, 0, 3000), _sq(500, 500, 2000), _sq(1000, 1000, 500)]]),
        ("overlapping parts", [[_sq(0, 0, 2000)], [_sq(1000, 1000, 2000)]]),
        ("three overlapping parts", [[_sq(0, 0, 1500)], [_sq(700, 300, 1500)], [_sq(300, 900, 1200)]]),
        ("part inside a part", [[_sq(0, 0, 3000)], [_sq(1000, 1000, 500)]]),
        ("part over a hole", [[_sq(0, 0, 3000), _sq(1000, 1000, 1000)], [_sq(1500, 1500, 1000)]]),
        ("duplicate parts", [[_sq(0, 0, 1200)], [_sq(0, 0, 1200)]]),
        ("parts sharing an edge", [[_sq(0, 0, 1000)], [_sq(1000, 0, 1000)]]),
        ("outward spike", [[[(0, 0), (2000, 0), (2000, 1000), (3500, 1000), (2000, 1000), (2000, 2000), (0, 2000)]]]),
        ("inward spike", [[[(0, 0), (2000, 0), (2000, 1000), (800, 1200), (2000, 1000), (2000, 2000), (0, 2000)]]]),
        ("zero-area ring as a part", [[_sq(0, 0, 1500)], [[(2000, 0), (3000, 0), (3000, 800), (3000, 0)]]]),
        ("zero-area hole", [[_sq(0, 0, 2000), [(500, 500), (1500, 500), (1500, 1500), (1500, 500)]]]),
        ("curl winding twice", [[[(0, 0), (3000, 0), (3000, 3000), (0, 3000), (0, 0),
                                  (600, 600), (2400, 600), (2400, 2400), (600, 2400), (600, 600)]]]),
        ("inverted inner loop", [[[(0, 0), (3000, 0), (3000, 3000), (0, 3000), (0, 0),
                                   (600, 600), (600, 2400), (2400, 2400), (2400, 600), (600, 600)]]]),
        ("spiral", [[[(0, 0), (3000, 0), (3000, 3000), (0, 3000), (0, 400), (2600, 400), (2600, 2600),
                      (400, 2600), (400, 200), (-200, 200)]]]),
        ("pentagram", [[star]]),
        ("self-touching ring", [[[(0, 0), (2000, 0), (2000, 2000), (1000, 1000), (0, 2000), (1000, 1000)]]]),
        ("ring touching itself at a vertex (inverted hole)",
         [[[(0, 0), (3000, 0), (3000, 3000), (1500, 3000), (2000, 2000), (1000, 2000), (1500, 3000), (0, 3000)]]]),
        ("ring touching itself at a vertex (loop inside)",
         [[[(0, 0), (3000, 0), (3000, 3000), (1500, 3000), (1000, 2000), (2000, 2000), (1500, 3000), (0, 3000)]]]),
        ("repeated consecutive vertices", [[[(0, 0), (0, 0), (2000, 0), (2000, 1500), (2000, 1500), (0, 1500)]]]),
        ("repeated vertices in a bow-tie", [[[(0, 0), (1500, 1500), (1500, 1500), (1500, 0), (0, 1500)]]]),
        ("valid square", [[_sq(0, 0, 1800)]]),
        ("valid hole", [[_sq(0, 0, 2500), _sq(800, 700, 900)]]),
        ("valid hole touching the shell", [[_sq(0, 0, 2000), [(0, 0), (900, 400), (400, 900)]]]),
        ("valid disjoint parts", [[_sq(0, 0, 1000)], [_sq(1500, 200, 800)]]),
        ("valid island in a lake", [[_sq(0, 0, 3000), _sq(500, 500, 2000)], [_sq(1000, 1000, 800)]]),
        ("valid parts touching at a point", [[_sq(0, 0, 1000)], [_sq(1000, 1000, 1000)]]),
    ]
    # fmt: on
    for k in range(8):  # random rings: mostly self-crossing
        pts = [tuple(p) for p in rng.uniform(0, 2500, size=(int(rng.integers(5, 10)), 2))]
        shapes.append((f"random ring {k}", [[pts]]))
    for k in range(4):  # random shells with random holes
        shell = [tuple(p) for p in rng.uniform(0, 2500, size=(6, 2))]
        hole = [tuple(p) for p in rng.uniform(500, 2000, size=(4, 2))]
        shapes.append((f"random ring with hole {k}", [[shell, hole]]))
    out = []
    for name, polys in shapes:
        clat, clng = float(rng.uniform(50.8, 54.5)), float(rng.uniform(-2.8, 0.3))
        parts = [
            shapely.Polygon(_lonlat(clat, clng, p[0]), [_lonlat(clat, clng, h) for h in p[1:]]) for p in polys
        ]
        out.append((name, parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)))
    return out


def _projection_centre(lat0: float, lat1: float, lng0: float, lng1: float) -> tuple[float, float]:
    """Where the core centres an area's projection: the centre of the res-3 cell holding the centre of the
    bounding box of all its vertices (holes included)."""
    clng = 0.5 * (lng0 + lng1)
    clng -= 360.0 * round(clng / 360.0)
    return h3.cell_to_latlng(h3.latlng_to_cell(0.5 * (lat0 + lat1), clng, 3))


def _vertex_box(g: shapely.Geometry) -> tuple[float, float, float, float]:
    """lat_min, lat_max, lng_min, lng_max of all vertices (shapely's bounds ignore holes outside the shell)."""
    xy = shapely.get_coordinates(g)
    return xy[:, 1].min(), xy[:, 1].max(), xy[:, 0].min(), xy[:, 0].max()


def _reference_shares(
    g: shapely.Geometry, res: int, centre: tuple[float, float]
) -> tuple[float, dict[int, float]]:
    """Area (m²) and cell shares of make_valid(g, method="structure") in the LAEA projection at `centre`.

    The polygon is projected vertex by vertex first: its edges are straight lines in the projection, as the core
    draws them. Candidate cells come from a lattice over the projected bounding box (spacing half an edge) and
    their neighbours, independently of the crosswalk under test.
    """
    laea = f"+proj=laea +lat_0={centre[0]!r} +lon_0={centre[1]!r} +ellps=WGS84"
    fwd = pyproj.Transformer.from_crs("EPSG:4326", laea, always_xy=True)
    inv = pyproj.Transformer.from_crs(laea, "EPSG:4326", always_xy=True)
    g_xy = shapely.transform(g, lambda a: np.column_stack(fwd.transform(a[:, 0], a[:, 1])))
    fixed = shapely.make_valid(g_xy, method="structure", keep_collapsed=False)
    xy = shapely.get_coordinates(g_xy)
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    step = 0.5 * h3.average_hexagon_edge_length(res, unit="m")
    gx, gy = np.meshgrid(np.arange(x0 - step, x1 + 2 * step, step), np.arange(y0 - step, y1 + 2 * step, step))
    lng, lat = inv.transform(gx.ravel(), gy.ravel())
    seeds = {h3.latlng_to_cell(a, b, res) for a, b in zip(lat, lng, strict=True)}
    cells = sorted({n for c in seeds for n in h3.grid_disk(c, 1)})
    hexes = []
    for c in cells:
        lat, lng = np.array(h3.cell_to_boundary(c)).T
        hexes.append(shapely.Polygon(np.column_stack(fwd.transform(lng, lat))))
    isect = shapely.area(shapely.intersection(fixed, np.array(hexes, dtype=object)))
    return float(fixed.area), {
        h3.str_to_int(c): float(a / fixed.area) for c, a in zip(cells, isect, strict=True) if a > 0
    }


def _compare(
    geoms: list[shapely.Geometry], res: int, centres: list[tuple[float, float]]
) -> tuple[pl.DataFrame, list[dict]]:
    """Crosswalk of WGS84 `geoms` and, per area, its area, the reference's, the largest share difference and
    the cells with a reference share that the crosswalk lacks."""
    areas = pl.DataFrame({"code": [str(i) for i in range(len(geoms))], "geometry": shapely.to_wkb(geoms)})
    xw, audit = hl.crosswalk(areas, resolution=res, method="area", crs="EPSG:4326", audit=True)
    return audit, _against_reference(xw, audit, "code", geoms, res, centres)


def _against_reference(
    xw: pl.DataFrame,
    audit: pl.DataFrame,
    code: str,
    geoms: list[shapely.Geometry],
    res: int,
    centres: list[tuple[float, float]],
) -> list[dict]:
    per_area = {k[0]: dict(v.select("cell", "weight").iter_rows()) for k, v in xw.group_by(code)}
    rows = []
    for i, (g, centre) in enumerate(zip(geoms, centres, strict=True)):
        ref_area, ref = _reference_shares(g, res, centre)
        ours = per_area.get(audit[code][i], {})
        rows.append({
            "ref_area": ref_area,
            "area_m2": audit["area_m2"][i],
            "share_diff": max((abs(ours.get(c, 0.0) - ref.get(c, 0.0)) for c in ours.keys() | ref.keys()), default=0),
            "missing": sorted(c for c, s in ref.items() if s > 1e-9 and c not in ours),
        })  # fmt: skip
    return rows


@pytest.mark.parametrize("res", [7, 9])
def test_invalid_polygons_are_repaired_like_shapely_make_valid_structure(res: int) -> None:
    corpus = _invalid_corpus()
    names = [n for n, _ in corpus]
    geoms = [g for _, g in corpus]
    assert 25 <= sum(not shapely.is_valid(g) for g in geoms) < len(geoms)
    centres = [_projection_centre(*_vertex_box(g)) for g in geoms]
    audit, rows = _compare(geoms, res, centres)
    worst_share = worst_area = 0.0
    for name, g, r, repaired, method in zip(
        names, geoms, rows, audit["repaired"], audit["method"], strict=True
    ):
        assert repaired == (not shapely.is_valid(g)), name
        if r["ref_area"] == 0:  # nothing left after repair (zero-area rings only)
            assert method == "degenerate" and r["area_m2"] == 0, name
            continue
        assert method == "area", name
        rel = abs(r["area_m2"] / r["ref_area"] - 1)
        assert rel < 1e-6, (name, r["area_m2"], r["ref_area"])
        assert r["share_diff"] < 1e-6, (name, r["share_diff"])
        assert not r["missing"], (name, r["missing"])
        worst_share, worst_area = max(worst_share, r["share_diff"]), max(worst_area, rel)
    print(f"res {res}: {len(geoms)} shapes, max share difference {worst_share:.2e}, area {worst_area:.2e}")


def test_real_invalid_boundaries_are_flagged_and_measured_like_shapely(data: Path) -> None:
    """The Greater Manchester LSOA 2021 file holds four self-touching rings (invalid for GEOS)."""
    areas = hl.read_areas(
        data / "geography" / "greater_manchester_lsoa21_generalised.geojson", code="area_code"
    )
    geoms = shapely.from_wkb(areas["geometry"].to_numpy())
    invalid = ~shapely.is_valid(geoms)
    assert invalid.sum() == 4
    _, audit = hl.crosswalk(areas, resolution=8, code="area_code", method="area", audit=True)
    assert (audit["repaired"].to_numpy() == invalid).all()
    # Areas of all 1,702 polygons against make_valid of the projected polygon, per projection centre.
    centres = [_projection_centre(*_vertex_box(g)) for g in geoms]
    ref = np.empty(len(geoms))
    for centre in set(centres):
        idx = [i for i, c in enumerate(centres) if c == centre]
        fwd = pyproj.Transformer.from_crs(
            "EPSG:4326", f"+proj=laea +lat_0={centre[0]!r} +lon_0={centre[1]!r} +ellps=WGS84", always_xy=True
        )
        g_xy = shapely.transform(geoms[idx], lambda a, f=fwd: np.column_stack(f.transform(a[:, 0], a[:, 1])))
        ref[idx] = shapely.area(shapely.make_valid(g_xy, method="structure", keep_collapsed=False))
    rel = np.abs(audit["area_m2"].to_numpy() / ref - 1)
    assert rel.max() < 1e-9, rel.max()
    # Cell shares of the repaired ones.
    bad = list(np.flatnonzero(invalid))
    _, rows = _compare(list(geoms[bad]), 9, [centres[i] for i in bad])
    for r in rows:
        assert r["share_diff"] < 1e-6 and not r["missing"] and abs(r["area_m2"] / r["ref_area"] - 1) < 1e-9


def test_bng_validity_matches_shapely_on_msoa2021(data: Path) -> None:
    """Validity is judged in the input coordinates (here British National Grid), as shapely judges it."""
    areas = hl.read_areas(data / "geography" / "msoa2021_bsc_ew" / "msoa2021_bsc_ew.shp", code="MSOA21CD")
    invalid = ~shapely.is_valid(shapely.from_wkb(areas["geometry"].to_numpy()))
    assert invalid.sum() == 13
    _, audit = hl.crosswalk(areas, resolution=5, code="MSOA21CD", method="area", audit=True)
    assert (audit["repaired"].to_numpy() == invalid).all()
    rel = ((audit["covered_m2"] - audit["area_m2"]).abs() / audit["area_m2"]).max()
    assert rel <= 1e-9


# --- Antimeridian and globe-sized polygons -----------------------------------------------------------------------


def test_antimeridian_square_matches_the_same_square_in_a_local_projection() -> None:
    # 6.4 km × 3.3 km over the antimeridian east of Fiji's Taveuni, given with longitudes wrapped to ±180.
    ring = [(179.97, -16.80), (-179.97, -16.80), (-179.97, -16.77), (179.97, -16.77)]
    g = shapely.Polygon(ring)
    centre = _projection_centre(-16.80, -16.77, 179.97, 180.03)
    for res in (7, 8):
        audit, rows = _compare([g], res, [centre])
        r = rows[0]
        assert not audit["repaired"][0] and audit["method"][0] == "area"
        assert abs(r["area_m2"] / r["ref_area"] - 1) < 1e-9, (r["area_m2"], r["ref_area"])
        assert r["ref_area"] == pytest.approx(6.39e3 * 3.32e3, rel=0.01)
        assert r["share_diff"] < 1e-9 and not r["missing"]
    # Points on either side of the antimeridian are located in it by containment.
    pts = pl.DataFrame(
        {"lat": [-16.785, -16.785, -16.785], "lng": [179.99, -179.99, 179.9], "pop": [1.0, 3.0, 5.0]}
    )
    areas = pl.DataFrame({"code": ["fiji"], "geometry": [shapely.to_wkb(g)]})
    with pytest.warns(SkippedRowsWarning, match=r"1 row \(first at 2\) have no area containing them"):
        _, audit = hl.crosswalk(areas, resolution=8, method="population", crs="EPSG:4326", points=pts,
                                population="pop", audit=True)  # fmt: skip
    assert audit["population"].to_list() == [4.0]


def test_globe_sized_polygon_is_rejected_naming_the_row() -> None:
    good = shapely.to_wkb(shapely.box(-0.2, 51.5, -0.1, 51.6))
    globe = shapely.to_wkb(shapely.box(-179.0, -80.0, 179.0, 80.0))
    areas = pl.DataFrame({"code": ["a", "b", "c"], "geometry": [good, globe, good]})
    msg = r"geometry: 1 row \(first at 1\) invalid; expected polygons within 2000 km"
    with pytest.raises(InvalidInputError, match=msg):
        hl.crosswalk(areas, resolution=7, method="area", crs="EPSG:4326")
    pts = pl.DataFrame({"lat": [51.55, 10.0], "lng": [-0.15, 20.0], "pop": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match=msg):
        hl.crosswalk(areas, resolution=7, method="population", crs="EPSG:4326", points=pts, population="pop")
    # Point location alone (the core call behind containment) rejects it too, rather than running out of memory.
    from hyperlocal import _core
    from hyperlocal._wkb import wkb_views

    data, views = wkb_views(areas["geometry"], "geometry")
    with pytest.raises(InvalidInputError, match=msg):
        _core.locate_points(data, views, "EPSG:4326", pts["lat"].to_numpy(), pts["lng"].to_numpy())


def test_geometry_read_zero_copy_from_any_chunking_or_slice() -> None:
    """The core reads the WKB column as Arrow binary views, straight from Polars: a sliced column, a column of
    several chunks and a LargeBinary column from Arrow give the same crosswalk as the plain column, and short or
    truncated WKB (inline views) is an error naming the row."""
    import pyarrow as pa

    boxes = [shapely.box(-0.2 + 0.01 * i, 51.5, -0.19 + 0.01 * i, 51.51) for i in range(6)]
    areas = pl.DataFrame({"code": [f"a{i}" for i in range(6)], "geometry": shapely.to_wkb(boxes)})
    whole = hl.crosswalk(areas, resolution=9, method="area", crs="EPSG:4326")
    sliced = hl.crosswalk(areas.slice(2), resolution=9, method="area", crs="EPSG:4326")
    assert_frame_equal(sliced, whole.filter(pl.col("code").is_in(["a2", "a3", "a4", "a5"])))
    chunked = pl.concat([areas.slice(0, 3), areas.slice(3)], rechunk=False)
    assert chunked["geometry"].n_chunks() == 2
    assert_frame_equal(hl.crosswalk(chunked, resolution=9, method="area", crs="EPSG:4326"), whole)
    geometry = pa.array(areas["geometry"].to_list(), pa.large_binary())
    large = pl.from_arrow(pa.table({"code": areas["code"].to_list(), "geometry": geometry}))
    assert isinstance(large, pl.DataFrame)
    assert_frame_equal(hl.crosswalk(large, resolution=9, method="area", crs="EPSG:4326"), whole)
    short = areas.with_columns(
        pl.when(pl.col("code") == "a4").then(pl.col("geometry").bin.slice(0, 9)).otherwise(pl.col("geometry"))
    )
    with pytest.raises(InvalidInputError, match=r"geometry: 1 row \(first at 4\).*\[code: a4\]"):
        hl.crosswalk(short, resolution=9, method="area", crs="EPSG:4326")


def test_apportion_by_runs_equals_the_join(data: Path) -> None:
    """apportion reads a crosswalk of the very table (areas in order, each area's rows together) by its runs of
    codes; any other order goes through the join. Both give the same grid, and the runs path keeps the errors."""
    areas = hl.read_areas(data / "geography" / "greater_manchester_lsoa11_generalised.geojson", code="area_code")
    values = areas.select("area_code", people=pl.int_range(pl.len()).cast(pl.Float64) * 3.0 + 1.0)
    xw = hl.crosswalk(areas, resolution=9, method="area", code="area_code")
    direct = hl.apportion(values, xw, code="area_code", extensive="people")
    shuffled = hl.apportion(values, xw.sample(fraction=1.0, shuffle=True, seed=1), code="area_code", extensive="people")
    assert direct["cell"].equals(shuffled["cell"])
    np.testing.assert_allclose(direct["people"].to_numpy(), shuffled["people"].to_numpy(), rtol=1e-12, atol=1e-9)
    assert abs(direct["people"].sum() - values["people"].sum()) < 1e-6
    # An area of values missing from the crosswalk is still named.
    with pytest.raises(InvalidInputError, match="absent from the crosswalk"):
        hl.apportion(values, xw.filter(pl.col("area_code") != values["area_code"][5]), code="area_code",
                     extensive="people")
