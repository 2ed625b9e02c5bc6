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
import pytest
import shapely
from hyperlocal.exceptions import InvalidInputError, SkippedRowsWarning


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
    assert (sums["weight"] - 1.0).abs().max() <= 1e-12
    assert (audit["weight_sum"] - 1.0).abs().max() <= 1e-12
    rel = ((audit["covered_m2"] - audit["area_m2"]).abs() / audit["area_m2"]).max()
    assert rel <= 1e-4
    assert (audit["n_cells"] >= 1).all() and (audit["method"] == "area").all()
    assert not audit["repaired"].any()
    # Cells are real H3 cells at that resolution.
    assert {h3.get_resolution(h3.int_to_str(c)) for c in xw["cell"].head(100)} == {res}


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
    assert rel.max() < 0.005, rel.max()


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
    # Repaired like ST_MakeValid/shapely.make_valid: the two triangles, compared in a local equal-area CRS.
    laea = "+proj=laea +lat_0=51.5 +lon_0=-0.15 +ellps=WGS84"
    ref = gpd.GeoSeries([fixed], crs="EPSG:4326").to_crs(laea).area.iloc[0]
    assert abs(audit["area_m2"][0] / ref - 1) < 1e-3


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
