"""Maps a report can use: PNG maps (BNG, outline, limits, classes, no data, source, atomic writes) and the
self-contained HTML map, opened in headless Chromium with the network cut off.

Real data: Census 2021 TS037 general health, summed to MSOA21 and shared over resolution-7 cells by area
(the MSOA 2021 boundaries), so the national map covers all of England and Wales (~34,000 cells).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import hyperlocal as hl
import numpy as np
import polars as pl
import pytest
from conftest import HEALTH, ROOT
from hyperlocal import plot
from hyperlocal._basemap import outline as packaged_outline
from hyperlocal.exceptions import InvalidInputError
from hyperlocal.webmap import CSP, MapLayer, map_html

sys.path.insert(0, str(Path(__file__).parent))
from _chromium import CHROMIUM, Browser  # noqa: E402

BNG_BOX = (0.0, 0.0, 700_000.0, 1_300_000.0)


# ------------------------------------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def national(data: Path, ts037: pl.DataFrame) -> pl.DataFrame:
    """Bad/very bad health share (%) with Wilson 95% limits on res-7 cells covering England and Wales."""
    lookup = pl.read_parquet(data / "lookups" / "lsoa11_to_lsoa21_lad22_ew.parquet").select(
        "LSOA21CD", "LSOA21NM"
    )
    areas = hl.read_areas(data / "geography" / "msoa2021_bsc_ew" / "msoa2021_bsc_ew.shp", code="MSOA21CD",
                          columns=["MSOA21NM"])  # fmt: skip
    # LSOA21 names are their MSOA21's name plus a letter ("Adur 001A" is in "Adur 001").
    msoa = (
        ts037.join(lookup.unique("LSOA21CD"), on="LSOA21CD")
        .with_columns(MSOA21NM=pl.col("LSOA21NM").str.slice(0, pl.col("LSOA21NM").str.len_chars() - 1))
        .group_by("MSOA21NM")
        .agg(pl.col("residents", *HEALTH.values()).sum())
    )
    msoa = areas.select("MSOA21CD", "MSOA21NM").join(msoa, on="MSOA21NM").drop("MSOA21NM")
    assert msoa.height == 7264
    xw = hl.crosswalk(areas, resolution=7, code="MSOA21CD", method="area")
    grid = hl.apportion(msoa, xw, code="MSOA21CD", extensive=["residents", *HEALTH.values()])
    grid = grid.with_columns(bad_or_very_bad=pl.col("bad") + pl.col("very_bad"))
    grid = hl.proportion(grid, count="bad_or_very_bad", population="residents")
    return grid.with_columns(
        very_good_pct=pl.col("very_good") / pl.col("residents") * 100,
        # Cells with a sliver of an MSOA have too few residents for a share: no data.
        proportion=pl.when(pl.col("residents") >= 20).then(pl.col("proportion")),
        decile=(11 - (pl.col("proportion").rank("ordinal") * 10 / pl.len()).ceil()).cast(pl.Int64),
    )


@pytest.fixture(scope="module")
def lsoa_res8(lsoa_pwc: pl.DataFrame, ts037: pl.DataFrame) -> pl.DataFrame:
    """The same share from LSOA population-weighted centroids at res 8 (too fine to see on a national PNG)."""
    xw = hl.crosswalk(lsoa_pwc, resolution=8, code="LSOA21CD", easting="x", northing="y")
    grid = hl.apportion(ts037, xw, code="LSOA21CD", extensive=["residents", "bad", "very_bad"])
    return grid.with_columns(share=(pl.col("bad") + pl.col("very_bad")) / pl.col("residents") * 100)


def _last() -> dict:
    return plot._LAST[0].hl_meta | {"fig": plot._LAST[0]}


# ------------------------------------------------------------------------------------------------ PNG
def test_png_is_drawn_in_bng_with_outline_scale_and_source(national: pl.DataFrame, tmp_path: Path) -> None:
    out = hl.map_png(national, "proportion", tmp_path / "m.png", title="Bad or very bad health, 2021",
                     label="% of residents")  # fmt: skip
    assert out == tmp_path / "m.png" and out.stat().st_size > 50_000
    meta = _last()
    fig = meta["fig"]
    ax = fig.axes[0]
    assert meta["crs"] == "EPSG:27700" and not ax.axison  # metres, no lon/lat ticks
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    # Metres of the grid (a 2% margin may reach just past its origin), not degrees.
    assert BNG_BOX[0] - 20_000 <= x0 < 150_000 and 600_000 < x1 <= BNG_BOX[2], (x0, x1)
    assert BNG_BOX[1] - 20_000 <= y0 < 50_000 and 600_000 < y1 <= BNG_BOX[3], (y0, y1)
    # Outline, England–Wales border and LAD lines, from the packaged ONS boundaries.
    assert meta["outline"]
    from matplotlib.collections import LineCollection

    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert sum(len(c.get_segments()) for c in lines) > 1000
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in ax.texts]
    assert any("Contains OS data © Crown copyright and database right" in t for t in texts)
    assert any(re.fullmatch(r"\d+ km", t) for t in texts)  # the scale bar
    # The figure follows the shape of England and Wales (taller than wide) at the default 7 inches.
    w, h = fig.get_size_inches()
    assert w == pytest.approx(7.0) and 5.5 < h < 9
    from matplotlib.image import imread

    img = imread(out)
    assert img.shape[1] == 7 * 150


def test_png_limits_clip_with_extend_arrows(national: pl.DataFrame, tmp_path: Path) -> None:
    v = national.get_column("proportion").drop_nulls()
    cases = {
        (float(v.min()) - 1, float(v.max()) + 1): "neither",
        (float(v.min()) - 1, float(v.quantile(0.5))): "max",
        (float(v.quantile(0.5)), float(v.max()) + 1): "min",
        (float(v.quantile(0.2)), float(v.quantile(0.8))): "both",
    }
    for limits, extend in cases.items():
        hl.map_png(national, "proportion", tmp_path / "c.png", limits=limits)
        meta = _last()
        assert meta["extend"] == extend and meta["colorbar"].extend == extend
        assert meta["colorbar"].norm.vmin == pytest.approx(limits[0])
    # Default limits: 2nd–98th percentiles, so both ends are clipped on real data.
    hl.map_png(national, "proportion", tmp_path / "c.png")
    cb = _last()["colorbar"]
    assert cb.extend == "both"
    assert cb.norm.vmin == pytest.approx(np.percentile(v.to_numpy(), 2))
    # Diverging: symmetric about the centre.
    hl.map_png(national, "proportion", tmp_path / "c.png", diverging=True, center=5.0, cmap="RdBu_r")
    n = _last()["colorbar"].norm
    assert 5.0 - n.vmin == pytest.approx(n.vmax - 5.0)
    with pytest.raises(InvalidInputError, match="limits"):
        hl.map_png(national, "proportion", tmp_path / "c.png", limits=(3.0, 3.0))


def test_png_deciles_have_a_ten_class_legend_and_no_data(national: pl.DataFrame, tmp_path: Path) -> None:
    df = national.with_columns(decile=pl.when(pl.col("residents") >= 100).then(pl.col("decile")))
    hl.map_png(df, "decile", tmp_path / "d.png", cmap="RdYlBu", label="decile (1 = most deprived)")
    meta = _last()
    assert meta["classes"] == "deciles" and meta["colorbar"] is None  # categorical legend, no colour bar
    labels = [t.get_text() for t in meta["fig"].legends[0].get_texts()]
    classes = [t for t in labels if re.match(r"\d+", t)]
    assert len(classes) == 10
    assert classes[0].startswith("1 (most deprived)") and classes[9].startswith("10 (least deprived)")
    assert "no data" in labels
    # Ten flat colours, one per class.
    poly = meta["fig"].axes[0].collections[0]
    assert len({tuple(np.round(c, 4)) for c in poly.get_facecolors()}) == 10
    # A float column can be drawn as deciles on request; non-classes are refused.
    hl.map_png(
        df.with_columns(pl.col("decile").cast(pl.Float64)), "decile", tmp_path / "d.png", classes="deciles"
    )
    with pytest.raises(InvalidInputError, match="1..10"):
        hl.map_png(df, "proportion", tmp_path / "d.png", classes="deciles")


def test_png_labelled_classes_have_a_categorical_legend(national: pl.DataFrame, tmp_path: Path) -> None:
    """Hot-spot style classes coded 1..K: K flat colours, the labels in the legend, no roll-up, no colour bar."""
    coded = national.with_columns(
        cls=pl.when(pl.col("residents") < 100).then(None)
        .when(pl.col("proportion") > pl.col("proportion").quantile(0.9)).then(3)
        .when(pl.col("proportion") < pl.col("proportion").quantile(0.1)).then(1).otherwise(2)
    )  # fmt: skip
    hl.map_png(coded, "cls", tmp_path / "h.png", classes=("cold", "not significant", "hot"), cmap="RdBu_r")
    meta = _last()
    assert meta["classes"] == ("cold", "not significant", "hot") and meta["colorbar"] is None
    labels = [t.get_text() for t in meta["fig"].legends[0].get_texts()]
    assert labels[:3] == ["cold", "not significant", "hot"] and "no data" in labels
    poly = meta["fig"].axes[0].collections[0]
    assert len({tuple(np.round(c, 4)) for c in poly.get_facecolors()}) == 3
    with pytest.raises(InvalidInputError, match="1..2"):
        hl.map_png(coded, "cls", tmp_path / "h.png", classes=("low", "high"))
    with pytest.raises(InvalidInputError, match="class labels"):
        hl.map_png(coded, "cls", tmp_path / "h.png", classes="hot")  # type: ignore[arg-type]


def test_png_no_data_is_grey_and_in_the_legend(national: pl.DataFrame, tmp_path: Path) -> None:
    df = national.with_columns(v=pl.when(pl.col("residents") >= 300).then(pl.col("proportion") - 5))
    assert df.get_column("v").null_count() > 100
    hl.map_png(df, "v", tmp_path / "n.png", diverging=True, cmap="RdBu")
    meta = _last()
    grey = [c for c in meta["fig"].axes[0].collections if c.get_label() == "no data"]
    assert len(grey) == 1 and len(grey[0].get_paths()) == df.get_column("v").null_count()
    from matplotlib.colors import to_rgba

    assert tuple(grey[0].get_facecolor()[0]) == pytest.approx(to_rgba(plot.NO_DATA_COLOUR))
    # The no-data grey is not a colour of the scale (RdBu's middle is near white, not grey).
    assert any("no data" in [t.get_text() for t in lg.get_texts()] for lg in meta["fig"].legends)
    # Without nulls there is no "no data" entry.
    hl.map_png(df.drop_nulls("v"), "v", tmp_path / "n.png")
    assert not _last()["fig"].legends


def test_png_national_fine_grid_is_rolled_up_for_display(lsoa_res8: pl.DataFrame, tmp_path: Path) -> None:
    hl.map_png(lsoa_res8, "share", tmp_path / "r.png", weight="residents")
    meta = _last()
    assert meta["display_res"] == 7 and meta["shown_res"] == 7
    assert any("shown at res 7" in t.get_text() for t in meta["fig"].texts)
    # The roll-up is a population-weighted mean of the children.
    up = plot.rollup_for_display(lsoa_res8, "share", 7, weight="residents")
    manual = (
        lsoa_res8.with_columns(parent=hl.cell_to_parent(lsoa_res8["cell"], 7))
        .group_by("parent")
        .agg(((pl.col("share") * pl.col("residents")).sum() / pl.col("residents").sum()).alias("m"))
    )
    joined = up.join(manual, left_on="cell", right_on="parent")
    assert joined.height == up.height
    np.testing.assert_allclose(joined["share"].to_numpy(), joined["m"].to_numpy(), rtol=1e-12)
    assert up["residents"].sum() == pytest.approx(lsoa_res8["residents"].sum())
    # display_res=None draws the cells as they are.
    hl.map_png(lsoa_res8, "share", tmp_path / "r.png", display_res=None)
    assert _last()["shown_res"] == 8


def test_display_resolution() -> None:
    ew = (85_000, 7_000, 656_000, 658_000)
    assert hl.display_resolution(ew, 900) == 7
    assert hl.display_resolution(ew, 4000) == 8
    assert hl.display_resolution((370_000, 380_000, 410_000, 420_000), 900) == 9
    res = [hl.display_resolution(ew, w) for w in (100, 300, 1000, 3000, 10_000, 30_000)]
    assert res == sorted(res)
    cells = hl.bng_to_cell(pl.Series([100_000.0, 650_000.0]), pl.Series([10_000.0, 650_000.0]), 9)
    assert hl.display_resolution(cells, 900) == 7
    with pytest.raises(InvalidInputError):
        hl.display_resolution(ew, 0)


def test_png_outline_only_within_england_and_wales(national: pl.DataFrame, tmp_path: Path) -> None:
    hl.map_png(national, "proportion", tmp_path / "o.png", outline=False)
    assert not _last()["outline"]
    # Paris: not British National Grid, no England and Wales outline.
    paris = hl.latlng_to_cell(np.full(50, 48.8566) + np.linspace(0, 0.1, 50), np.full(50, 2.3522), 9)
    hl.map_png(pl.DataFrame({"cell": paris, "v": np.arange(50.0)}).unique("cell"), "v", tmp_path / "p.png")
    meta = _last()
    assert not meta["outline"] and meta["crs"].startswith("+proj=aeqd")


def test_png_keeps_the_callers_keywords(national: pl.DataFrame, tmp_path: Path) -> None:
    """pipeline.py and build.py pass title, cmap, diverging, center and label."""
    out = hl.map_png(national, "proportion", tmp_path / "k.png", title="Observed / expected", cmap="RdBu_r",
                     diverging=True, center=5.0, label="ratio (grey: small)")  # fmt: skip
    assert out.exists()
    assert _last()["colorbar"].ax.get_ylabel() == "ratio (grey: small)"


def test_png_writes_atomically(
    national: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = national.head(500)
    hl.map_png(small, "proportion", tmp_path / "a.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temporary file left
    from matplotlib.figure import Figure

    def boom(*a: object, **k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(OSError, match="disk full"):
        hl.map_png(small, "proportion", tmp_path / "b.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # nothing written, nothing left over
    with pytest.raises(InvalidInputError, match="does not exist"):
        hl.map_png(small, "proportion", tmp_path / "missing" / "c.png")


# ------------------------------------------------------------------------------------------------ outline
def test_packaged_outline_is_small_and_reproducible(data: Path, tmp_path: Path) -> None:
    path = ROOT / "python" / "hyperlocal" / "data" / "outline_ew.json"
    assert path.stat().st_size < 400_000
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["crs"] == "EPSG:27700" and doc["lads"] == 331
    x0, y0, x1, y1 = doc["bbox"]
    assert 80_000 < x0 < 90_000 and 0 < y0 < 10_000 and 650_000 < x1 < 660_000 and 650_000 < y1 < 660_000
    assert all(isinstance(v, int) for v in doc["outline"][0])  # whole metres
    ol = packaged_outline()
    assert len(ol["lad"]) > 300 and len(ol["border"]) >= 1
    licence = (ROOT / "python" / "hyperlocal" / "data" / "OUTLINE.md").read_text(encoding="utf-8")
    assert "Open Government Licence v.3.0" in licence and "Contains OS data © Crown copyright" in licence
    # The tool regenerates the same file from the real boundaries.
    again = tmp_path / "outline.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_outline.py"), str(data), str(again)], check=True,
                   capture_output=True)  # fmt: skip
    assert again.read_bytes() == path.read_bytes()


# ------------------------------------------------------------------------------------------------ HTML
def _layers(national: pl.DataFrame) -> list[MapLayer]:
    return [
        MapLayer(national, "proportion", label="Bad or very bad health (%)", lo="proportion_lo95",
                 hi="proportion_hi95", population="residents"),
        MapLayer(national, "very_good_pct", label="Very good health (%)", population="residents"),
        MapLayer(national, "decile", label="Decile of bad health (1 = most)"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def national_html(national: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "national.html"
    return map_html(_layers(national), path, title="General health, Census 2021, res 7")


def test_html_is_self_contained_and_compact(national_html: Path, national: pl.DataFrame) -> None:
    text = national_html.read_text(encoding="utf-8")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert "default-src 'none'" in CSP
    assert re.search(r"(src|href)\s*=\s*[\"'](?!data:)", text) is None  # nothing loaded from anywhere
    assert re.search(r"https?://", text) is None
    assert text.count("<script") == 2  # the data block and the inline renderer
    size = national_html.stat().st_size
    assert 1_000_000 < size < 5_000_000, size
    assert national.height > 30_000
    assert [p.name for p in national_html.parent.iterdir()] == ["national.html"]


def test_html_escapes_titles_and_labels(national: pl.DataFrame, tmp_path: Path) -> None:
    evil = "</script><script>alert(1)</script> & <b>"
    path = map_html([MapLayer(national.head(100), "proportion", label=evil)], tmp_path / "e.html", title=evil)
    text = path.read_text(encoding="utf-8")
    assert text.count("<script") == 2 and "alert(1)</script>" not in text
    assert "&lt;/script&gt;" in text  # the title, as text


def test_html_rejects_bad_layers(national: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no layers"):
        map_html([], tmp_path / "x.html", title="t")
    with pytest.raises(InvalidInputError, match="duplicate"):
        map_html([MapLayer(pl.concat([national.head(3), national.head(3)]), "proportion")], tmp_path / "x.html",
                 title="t")  # fmt: skip
    with pytest.raises(InvalidInputError, match="missing column"):
        map_html([MapLayer(national, "nope")], tmp_path / "x.html", title="t")
    with pytest.raises(InvalidInputError, match="unsupported output type"):
        map_html([MapLayer(national, "proportion")], tmp_path / "x.png", title="t")
    assert list(tmp_path.iterdir()) == []
    # String cells are accepted; layers may cover different cells.
    s = national.head(50).with_columns(cell=hl.cell_to_string(national.head(50)["cell"]))
    out = map_html([MapLayer(s, "proportion"), MapLayer(national.tail(20), "decile")], tmp_path / "ok.html",
                   title="t")  # fmt: skip
    assert out.exists()


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed: run `make browser` (with CI set, a missing chromium fails these tests)",
)


@pytest.fixture(scope="module")
def page(national_html: Path):  # type: ignore[no-untyped-def]
    with Browser(width=1200, height=860) as browser:
        p = browser.open(national_html.as_uri())
        p.wait_for("window.__hlDrawn", timeout=60)
        yield p


def _pixels(png: bytes, rect: list[float]) -> np.ndarray:
    from matplotlib.image import imread

    img = (imread(io.BytesIO(png), format="png")[..., :3] * 255).round().astype(np.int16)
    x, y, w, h = (round(v) for v in rect)
    return img[y : y + h, x : x + w]


def _painted(px: np.ndarray) -> float:
    """Share of pixels that are neither the white background nor the land fill."""
    bg = np.array([[255, 255, 255], [236, 236, 234]])
    far = np.abs(px[..., None, :] - bg).max(axis=-1).min(axis=-1) > 12
    return float(far.mean())


@needs_chromium
def test_html_opens_offline_and_draws_fast(page, national_html: Path) -> None:  # type: ignore[no-untyped-def]
    drawn = page.evaluate("window.__hlDrawn")
    assert page.requests == [national_html.as_uri()]  # the file itself, nothing else
    assert page.errors == []
    assert drawn["cells"] > 30_000 and drawn["layer"] == 0
    assert drawn["ms"] < 5000, drawn  # from navigation start to the first complete draw
    rect = page.evaluate("window.__hl.mapRect()")
    px = _pixels(page.screenshot(), rect)
    assert _painted(px) > 0.05


@needs_chromium
def test_html_tooltip_zoom_pan_and_layers(page, national: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    from pyproj import Transformer

    # A well-populated cell with a value: hover over its centre after zooming in on it with the wheel.
    row = national.drop_nulls("proportion").sort("residents", descending=True).row(0, named=True)
    ll = hl.cell_to_latlng(pl.Series([row["cell"]], dtype=pl.UInt64))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(
        ll["lng"][0], ll["lat"][0]
    )
    sx, sy = (round(v) for v in page.evaluate(f"window.__hl.toScreen({x}, {y})"))
    under = page.evaluate(f"window.__hl.toMap({sx}, {sy})")
    frame, scale = page.evaluate("window.__hlDrawn.frame"), page.evaluate("window.__hl.scale()")
    for _ in range(5):
        page.send(
            "Input.dispatchMouseEvent", {"type": "mouseWheel", "x": sx, "y": sy, "deltaX": 0, "deltaY": -300}
        )
    page.wait_for(f"window.__hlDrawn.frame > {frame}")
    assert page.evaluate("window.__hl.scale()") > 5 * scale
    still = page.evaluate(f"window.__hl.toMap({sx}, {sy})")
    assert np.hypot(still[0] - under[0], still[1] - under[1]) < 1 / scale  # zoomed about the pointer
    sx2, sy2 = page.evaluate(f"window.__hl.toScreen({x}, {y})")
    page.mouse_move(sx2, sy2)
    tip = "document.getElementById('hl-tooltip')"
    text = page.wait_for(f"!{tip}.hidden && {tip}.innerText")
    cell = hl.cell_to_string(pl.Series([row["cell"]], dtype=pl.UInt64)).item()
    assert f"cell {cell}" in text
    assert f"Bad or very bad health (%): {row['proportion']:.2f}" in text
    assert f"interval: {row['proportion_lo95']:.2f} – {row['proportion_hi95']:.2f}" in text
    assert f"population: {round(row['residents']):,}" in text

    # Drag pans the map by the pointer's movement.
    page.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": sx2, "y": sy2, "button": "left",
                                           "buttons": 1, "clickCount": 1})  # fmt: skip
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": sx2 + 120, "y": sy2 + 60, "button": "left",
                                           "buttons": 1})  # fmt: skip
    page.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": sx2 + 120, "y": sy2 + 60,
                                           "button": "left", "buttons": 0, "clickCount": 1})  # fmt: skip
    sx3, sy3 = page.evaluate(f"window.__hl.toScreen({x}, {y})")
    assert sx3 - sx2 == pytest.approx(120, abs=1) and sy3 - sy2 == pytest.approx(60, abs=1)

    # Reset, then switch to the decile layer: ten classes in the legend and a different picture.
    legend = "[...document.querySelectorAll('#hl-legend .hl-class')].map(e => e.textContent)"
    assert page.evaluate(legend) == ["no data"]  # layer 0 has cells with too few residents
    frame = page.evaluate("window.__hlDrawn.frame")
    page.evaluate("document.getElementById('hl-reset').click()")
    frame = page.wait_for(f"window.__hlDrawn.frame > {frame} && window.__hlDrawn.frame")
    rect = page.evaluate("window.__hl.mapRect()")
    before = _pixels(page.screenshot(), rect)
    page.evaluate("document.getElementById('hl-layer-2').click()")
    page.wait_for(f"window.__hlDrawn.layer === 2 && window.__hlDrawn.frame > {frame}")
    after = _pixels(page.screenshot(), rect)
    changed = float((np.abs(after - before).max(axis=-1) > 30).mean())
    assert changed > 0.05, changed
    classes = page.evaluate(legend)
    assert len(classes) == 10 and classes[0] == "1 (most deprived)" and classes[9] == "10 (least deprived)"
    assert page.errors == []
