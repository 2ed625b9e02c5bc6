"""The ``hyperlocal build`` project file: one TOML file describing inputs, surfaces, resolutions and outputs,
parsed at the edge into typed, validated objects (:class:`Project`). The build receives those objects, never
the raw dictionary.

Every key is checked before any work starts: an unknown key, a value of the wrong type, a missing required key,
an unknown input name or a file that does not exist is a :class:`ConfigError` naming the key (as
``section.key``) and the project file, and listing the valid keys where that helps. Paths are relative to the
project file.

A minimal project::

    [project]
    out_dir = "out"
    resolutions = [7]

    [inputs.health_2011]
    path = "census2011/qs302ew_general_health_lsoa11_ew.parquet"
    layout = "qs302ew"

    [inputs.lsoa11]
    path = "geography/lsoa11_centroids_wgs84_not_pwc.parquet"
    code = "lsoa11_code"
    points = { lat = "lat", lng = "lon" }

    [inputs.health_2021] …    [inputs.lsoa21] …

    [health_change]
    before = { counts = "health_2011", areas = "lsoa11" }
    after = { counts = "health_2021", areas = "lsoa21" }

Hot spots of any surface column (:class:`Hotspots`; Getis–Ord Gi*/Gi or local Moran's I, FDR classes)::

    [health_change.evaluate]           # the programme against a balanced comparator (needs a programme)
    covariates = ["bad_or_very_bad_pct", "very_good_pct", "deprivation_score", "age_65_plus_pct", "residents"]
    method = "weights"                 # or "match" (caliper = 1.0, on_unmatched = "drop")
    placebos = 999                     # placebo = "blocked" (or "random"), strata = true, seed = 0

    [hotspots]
    surface = "health_change"          # or "deprivation", "demand"
    value = "bad_or_very_bad_pct_2021"  # a numeric column of that surface
    statistic = "gi_star"              # "gi", "local_moran"; k = 1, permutations = 999, seed = 0, alpha = 0.05

See ``examples/*.toml`` for complete projects and :data:`LAYOUTS` for the input layouts.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .exceptions import InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ConfigError", "Project", "load_project", "LAYOUTS"]

#: Input layouts (``layout = …`` of an ``[inputs.NAME]`` section):
#:
#: * ``table``: any ``.parquet`` / ``.csv`` table (``code`` names its area-code column);
#: * ``boundaries``: polygons from a shapefile, GeoPackage, GeoJSON or GeoParquet (``code`` = code column);
#: * ``census``: an ONS/Nomis bulk census table, wide (one row per area, one column per category; the
#:   geography code column is found by name: ``geography code``, ``mnemonic``, ``GeographyCode``,
#:   ``GEOGRAPHY_CODE``, or ``code = …``) with ``categories = {very_good = "header or part of it", …}``;
#:   or long (``long = {category = COL, value = COL}``), pivoted to one row per area;
#: * ``ts037``: Census 2021 TS037 general health (Nomis bulk layout; categories by their headers);
#: * ``ks301ew``: Census 2011 KS301EW (``GeographyCode``, KS301EW0008–0012 = very good … very bad);
#: * ``qs302ew``: Census 2011 QS302EW general health by LSOA/OA: Nomis cell numbers ``"1"``–``"5"`` (with
#:   ``GEOGRAPHY_CODE``) or CDRC columns QS302EW0002–0006 (with ``GeographyCode``);
#: * ``ks301ew_msoa11``: the national 2011 five-category counts per MSOA reconstructed by
#:   :func:`hyperlocal.ons.ks301ew_msoa11_counts` from the KS301EW percentages (``path``), the grouped counts
#:   (``collated = …``) and the MSOA names lookup (``names = …``).
#:
#: * ``qs103ew_ages``: Census 2011 QS103EW age by single year (Nomis cell numbers), read as the population in
#:   the LC3409EW bands (:func:`hyperlocal.ons.qs103ew_age_bands`);
#: * ``age6``: Census 2021 age in six categories by LSOA 2021 (:func:`hyperlocal.ons.age6_lsoa21`);
#: * ``lc3409ew``: Census 2011 LC3409EW general health by age, the reference rates of age standardisation
#:   (:func:`hyperlocal.ons.lc3409ew_reference`).
#:
#: Census layouts give ``code``-keyed tables with ``very_good``, ``good``, ``fair``, ``bad``, ``very_bad`` and
#: ``residents``; the age layouts ``code`` and ``age_LO_HI`` / ``age_LO_plus`` columns.
LAYOUTS = ("table", "boundaries", "census", "ts037", "ks301ew", "qs302ew", "ks301ew_msoa11", "qs103ew_ages", "age6",
           "lc3409ew")  # fmt: skip
AGE_LAYOUTS = ("qs103ew_ages", "age6")
CENSUS_LAYOUTS = ("census", "ts037", "ks301ew", "qs302ew", "ks301ew_msoa11")
METHODS = ("centroid", "area", "population")


class ConfigError(InvalidInputError):
    """A project file that cannot be used: the message names the key and the file."""


_REQUIRED = object()


class _Section:
    """One TOML table being read: typed ``take``, then ``done`` reports the keys nobody took."""

    def __init__(self, data: Any, where: str, file: Path) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: {where!r} must be a table ([{where}] or {{ … }}), got {data!r}")
        self.data, self.where, self.file = dict(data), where, file
        self.known: list[str] = []

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def take(self, key: str, types: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        self.known.append(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise ConfigError(f"{self.file}: missing key {self._name(key)!r}")
            return default
        value = self.data.pop(key)
        types_ = types if isinstance(types, tuple) else (types,)
        ok = isinstance(value, types_) and not (isinstance(value, bool) and bool not in types_)
        if float in types_ and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            raise ConfigError(
                f"{self.file}: {self._name(key)!r} = {value!r} has the wrong type; expected "
                + " or ".join("table" if t is dict else t.__name__ for t in types_)
            )
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _REQUIRED) -> Any:
        value = self.take(key, str, default)
        if value is not None and value not in choices:
            raise ConfigError(f"{self.file}: {self._name(key)!r} = {value!r}; expected one of {list(choices)}")
        return value

    def section(self, key: str, required: bool = False) -> _Section | None:
        if key not in self.data:
            self.known.append(key)
            if required:
                raise ConfigError(f"{self.file}: missing section {self._name(key)!r}")
            return None
        self.known.append(key)
        return _Section(self.data.pop(key), self._name(key), self.file)

    def path(self, key: str, default: Any = _REQUIRED) -> Path | None:
        value = self.take(key, str, default)
        if value is None:
            return None
        p = Path(value).expanduser()
        p = (p if p.is_absolute() else self.file.resolve().parent / p).resolve()
        if not p.exists():
            raise ConfigError(f"{self.file}: {self._name(key)!r} = {value!r}: no such file ({p})")
        return p

    def done(self) -> None:
        if self.data:
            key = next(iter(self.data))
            inside = f" in [{self.where}]" if self.where else ""
            raise ConfigError(
                f"{self.file}: unknown key {self._name(key)!r}; valid keys{inside}: {', '.join(sorted(self.known))}"
            )


def _strings(s: _Section, key: str) -> dict[str, str]:
    table = s.take(key, dict, {})
    for k, v in table.items():
        if not isinstance(v, str):
            raise ConfigError(f"{s.file}: '{s.where}.{key}.{k}' = {v!r} has the wrong type; expected str")
    return dict(table)


@dataclass(frozen=True)
class Points:
    """Where an area's point is: WGS84 ``lat``/``lng`` or BNG ``easting``/``northing`` columns."""

    lat: str | None = None
    lng: str | None = None
    easting: str | None = None
    northing: str | None = None

    def options(self) -> dict[str, str]:
        if self.easting:
            return {"easting": self.easting, "northing": self.northing or ""}
        return {"lat": self.lat or "lat", "lng": self.lng or "lng"}

    def columns(self) -> list[str]:
        return [c for c in (self.lat, self.lng, self.easting, self.northing) if c]


@dataclass(frozen=True)
class Input:
    """One input file (``[inputs.NAME]``) and how to read it."""

    name: str
    path: Path
    layout: str = "table"
    code: str | None = None
    points: Points | None = None
    crs: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)
    long: Mapping[str, str] = field(default_factory=dict)
    collated: Path | None = None
    names: Path | None = None

    def files(self) -> list[Path]:
        """Every file read (a shapefile's sidecars too), for the manifest's hashes."""
        files = [self.path, *(p for p in (self.collated, self.names) if p)]
        if self.path.suffix.lower() == ".shp":
            files += sorted(
                p for p in self.path.parent.glob(self.path.stem + ".*") if p != self.path and p.is_file()
            )
        return files


@dataclass(frozen=True)
class Year:
    """One census year of a health-change surface: its counts and the areas that place them."""

    counts: str
    areas: str
    method: str = "centroid"
    points: str | None = None
    points_population: str = "population"
    #: Counts of areas that are not in ``areas`` (e.g. national counts in a city project): "warn" (default) or
    #: "ignore"; either way they are left out and counted in the manifest as unassigned.
    outside: str = "warn"
    #: An age input (layout ``qs103ew_ages`` or ``age6``) of the same areas: its bands are apportioned with the
    #: counts, for age standardisation.
    ages: str | None = None


@dataclass(frozen=True)
class Programme:
    """Programme areas: the codes of an input (optionally filtered), placed by the after year's crosswalk."""

    input: str
    code: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluate:
    """The programme's effect against a balanced comparator of cells, with placebo inference
    (:func:`hyperlocal.evaluate_programme`), at every resolution."""

    covariates: tuple[str, ...] = ("bad_or_very_bad_pct", "very_good_pct", "residents")
    method: Literal["match", "weights"] = "weights"
    outcome: str = "bad_or_very_bad"
    caliper: float | None = 1.0
    on_unmatched: Literal["raise", "drop"] = "drop"
    placebos: int = 999
    placebo: Literal["random", "blocked"] = "blocked"
    strata: bool = True
    seed: int = 0


@dataclass(frozen=True)
class HealthChange:
    before: Year
    after: Year
    labels: tuple[str, str] = ("2011", "2021")
    min_population: float = 100.0
    confidence: float = 0.95
    programme: Programme | None = None
    deprivation: bool = False
    reference: str | None = None
    evaluate: Evaluate | None = None


@dataclass(frozen=True)
class Deprivation:
    """A deprivation surface: area scores (or IMD domain ranks) on cells, population-weighted, in deciles."""

    scores: str
    areas: str
    population: str
    population_column: str
    score: str | None = None
    domains: Mapping[str, str] = field(default_factory=dict)
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Demand:
    """Service demand against need: events and population per area, on cells."""

    events: str
    count: str
    areas: str
    population: str
    population_column: str
    years: float = 1.0
    annual_mean: bool = False
    multiplier: float = 100_000.0
    smoothing: str = "global"
    k: int = 1
    small_count: float = 10.0
    overdispersion: str | None = None
    deprivation: bool = False


@dataclass(frozen=True)
class Hotspots:
    """Hot spots and clusters of one column of a built surface (:func:`hyperlocal.local_gi` or
    :func:`hyperlocal.local_moran`), at every resolution."""

    surface: str
    value: str
    statistic: str = "gi_star"
    k: int = 1
    permutations: int = 999
    seed: int = 0
    alpha: float = 0.05


#: Surfaces a [hotspots] section can read.
HOTSPOT_SURFACES = ("health_change", "deprivation", "demand")


@dataclass(frozen=True)
class Project:
    """A parsed, validated project file."""

    file: Path
    name: str
    out_dir: Path
    resolutions: tuple[int, ...]
    inputs: Mapping[str, Input]
    health_change: HealthChange | None = None
    deprivation: Deprivation | None = None
    demand: Demand | None = None
    hotspots: Hotspots | None = None
    html: bool = True
    map_resolution: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The project as resolved (absolute paths, defaults filled in), for the manifest."""
        import dataclasses

        def plain(x: Any) -> Any:
            if dataclasses.is_dataclass(x) and not isinstance(x, type):
                return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
            if isinstance(x, Mapping):
                return {str(k): plain(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [plain(v) for v in x]
            if isinstance(x, Path):
                return str(x)
            return x

        return plain(self)  # type: ignore[no-any-return]


def _points(s: _Section) -> Points | None:
    p = s.section("points")
    if p is None:
        return None
    pts = Points(
        lat=p.take("lat", str, None), lng=p.take("lng", str, None),
        easting=p.take("easting", str, None), northing=p.take("northing", str, None),
    )  # fmt: skip
    p.done()
    if bool(pts.easting) != bool(pts.northing) or bool(pts.lat) != bool(pts.lng) or not (pts.easting or pts.lat):
        raise ConfigError(f"{s.file}: {p.where!r}: give lat and lng, or easting and northing")
    if pts.easting and pts.lat:
        raise ConfigError(f"{s.file}: {p.where!r}: give lat and lng, or easting and northing, not both")
    return pts


def _input(name: str, s: _Section) -> Input:
    path = s.path("path")
    assert path is not None
    geo_suffixes = (".shp", ".gpkg", ".geojson", ".json", ".fgb")
    default_layout = "boundaries" if path.suffix.lower() in geo_suffixes else "table"
    layout = s.choice("layout", LAYOUTS, default_layout)
    inp = Input(
        name=name, path=path, layout=layout, code=s.take("code", str, None), points=_points(s),
        crs=s.take("crs", (str, int), None), where=s.take("where", dict, {}), categories=_strings(s, "categories"),
        long=_strings(s, "long"), collated=s.path("collated", None), names=s.path("names", None),
    )  # fmt: skip
    s.done()
    if inp.crs is not None:
        object.__setattr__(inp, "crs", f"EPSG:{inp.crs}" if isinstance(inp.crs, int) else inp.crs)
    if layout in ("table", "boundaries") and not inp.code:
        raise ConfigError(f"{s.file}: [{s.where}] needs code = the area-code column of {path.name}")
    if layout == "ks301ew_msoa11" and not (inp.collated and inp.names):
        raise ConfigError(f"{s.file}: [{s.where}] layout 'ks301ew_msoa11' needs collated = … and names = …")
    if layout == "census" and not inp.categories:
        raise ConfigError(
            f"{s.file}: [{s.where}] layout 'census' needs categories = {{very_good = \"…\", good = \"…\", …}}"
        )
    if inp.long and set(inp.long) != {"category", "value"}:
        raise ConfigError(f"{s.file}: '{s.where}.long' needs exactly category = COL and value = COL")
    return inp


def _need_input(s: _Section, key: str, inputs: Mapping[str, Input], *, kinds: tuple[str, ...] = ()) -> str:
    name = s.take(key, str)
    if name not in inputs:
        raise ConfigError(
            f"{s.file}: {s._name(key)!r} = {name!r} is not an input; defined inputs: {', '.join(sorted(inputs))}"
        )
    if kinds and inputs[name].layout not in kinds:
        raise ConfigError(
            f"{s.file}: {s._name(key)!r} = {name!r} has layout {inputs[name].layout!r}; expected one of {list(kinds)}"
        )
    return str(name)


def _year(s: _Section, inputs: Mapping[str, Input]) -> Year:
    counts = _need_input(s, "counts", inputs, kinds=CENSUS_LAYOUTS + ("table",))
    areas = _need_input(s, "areas", inputs)
    default = "area" if inputs[areas].layout == "boundaries" else "centroid"
    method = s.choice("method", METHODS, default)
    points = _need_input(s, "points", inputs) if "points" in s.data else None
    ages = _need_input(s, "ages", inputs, kinds=AGE_LAYOUTS) if "ages" in s.data else None
    y = Year(counts=counts, areas=areas, method=method, points=points,
             points_population=s.take("points_population", str, "population"),
             outside=s.choice("outside", ("warn", "ignore"), "warn"), ages=ages)  # fmt: skip
    s.done()
    if method == "centroid" and inputs[areas].points is None:
        raise ConfigError(f"{s.file}: {s.where!r}: centroid method needs [inputs.{areas}] points = {{ … }}")
    if method in ("area", "population") and inputs[areas].layout != "boundaries":
        raise ConfigError(f"{s.file}: {s.where!r}: method {method!r} needs polygons (layout 'boundaries')")
    if method == "population" and points is None:
        raise ConfigError(f"{s.file}: {s.where!r}: method 'population' needs points = an input with points")
    return y


def _population(s: _Section, inputs: Mapping[str, Input]) -> tuple[str, str]:
    pop = s.section("population", required=True)
    assert pop is not None
    name = _need_input(pop, "input", inputs)
    column = pop.take("column", str, "population")
    pop.done()
    return name, column


def _evaluate(s: _Section | None) -> Evaluate | None:
    if s is None:
        return None
    covariates = s.take("covariates", list, list(Evaluate.covariates))
    if not covariates or not all(isinstance(c, str) for c in covariates):
        raise ConfigError(f"{s.file}: '{s.where}.covariates' = {covariates!r}; expected a list of column names")
    caliper = s.take("caliper", float, 1.0)
    e = Evaluate(
        covariates=tuple(covariates), method=s.choice("method", ("match", "weights"), "weights"),
        outcome=s.take("outcome", str, "bad_or_very_bad"), caliper=caliper if caliper > 0 else None,
        on_unmatched=s.choice("on_unmatched", ("raise", "drop"), "drop"), placebos=s.take("placebos", int, 999),
        placebo=s.choice("placebo", ("random", "blocked"), "blocked"), strata=s.take("strata", bool, True),
        seed=s.take("seed", int, 0),
    )  # fmt: skip
    s.done()
    if e.placebos < 0:
        raise ConfigError(f"{s.file}: '{s.where}.placebos' = {e.placebos}; expected an integer >= 0")
    return e


def load_project(path: str | Path) -> Project:
    """Read and validate a project file; every problem is a :class:`ConfigError` naming the key and file."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: no such project file")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: not valid TOML ({e})") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{file}: not a UTF-8 text file ({e.reason})") from e
    top = _Section(data, "", file)
    sections = ("project", "inputs", "health_change", "deprivation", "demand", "hotspots")
    unknown = [k for k in data if k not in sections]
    if unknown:  # named first: a misspelt section's sub-tables must not be read as a half-empty section
        raise ConfigError(f"{file}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(sections))}")
    proj = top.section("project", required=True)
    assert proj is not None
    name = proj.take("name", str, file.stem)
    out = Path(proj.take("out_dir", str, file.stem)).expanduser()
    out = (out if out.is_absolute() else file.resolve().parent / out).resolve()
    resolutions = proj.take("resolutions", list, [8])
    if not resolutions or not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= 15 for r in resolutions):
        raise ConfigError(f"{file}: 'project.resolutions' = {resolutions!r}; expected a list of integers 0..15")
    html = proj.take("html", bool, True)
    map_res = proj.take("map_resolution", int, None)
    proj.done()

    inputs_s = top.section("inputs", required=True)
    assert inputs_s is not None
    inputs: dict[str, Input] = {}
    for key in list(inputs_s.data):
        sec = inputs_s.section(key)
        assert sec is not None
        inputs[key] = _input(key, sec)

    hc = None
    if (s := top.section("health_change")) is not None:
        before_s, after_s = s.section("before", required=True), s.section("after", required=True)
        assert before_s is not None and after_s is not None
        labels = s.take("labels", list, ["2011", "2021"])
        if len(labels) != 2 or not all(isinstance(x, str) for x in labels):
            raise ConfigError(f"{file}: 'health_change.labels' = {labels!r}; expected two strings")
        programme = None
        if (ps := s.section("programme")) is not None:
            programme = Programme(input=_need_input(ps, "input", inputs), code=ps.take("code", str, None),
                                  where=ps.take("where", dict, {}))  # fmt: skip
            ps.done()
        reference = _need_input(s, "reference", inputs, kinds=("lc3409ew",)) if "reference" in s.data else None
        evaluate = _evaluate(s.section("evaluate"))
        hc = HealthChange(
            before=_year(before_s, inputs), after=_year(after_s, inputs), labels=(labels[0], labels[1]),
            min_population=s.take("min_population", float, 100.0), confidence=s.take("confidence", float, 0.95),
            programme=programme, deprivation=s.take("deprivation", bool, False), reference=reference,
            evaluate=evaluate,
        )  # fmt: skip
        if bool(hc.before.ages) != bool(hc.after.ages) or bool(hc.before.ages) != bool(reference):
            raise ConfigError(
                f"{file}: age standardisation needs 'health_change.reference' (an lc3409ew input) and ages = … in "
                "both [health_change.before] and [health_change.after]"
            )
        if evaluate and not programme:
            raise ConfigError(f"{file}: [health_change.evaluate] needs a programme = {{ input = … }}")
        if evaluate and evaluate.strata and not hc.deprivation:
            raise ConfigError(
                f"{file}: 'health_change.evaluate.strata' = true (placebos in the programme's deprivation mix) "
                "needs 'health_change.deprivation' = true"
            )
        if not 0 < hc.confidence < 1:
            raise ConfigError(f"{file}: 'health_change.confidence' = {hc.confidence}; expected a number in (0, 1)")
        s.done()

    dep = None
    if (s := top.section("deprivation")) is not None:
        scores = _need_input(s, "scores", inputs)
        areas = _need_input(s, "areas", inputs)
        if inputs[areas].points is None:
            raise ConfigError(f"{file}: 'deprivation.areas' = {areas!r} needs points = {{ … }} in [inputs.{areas}]")
        pop, pop_col = _population(s, inputs)
        dep = Deprivation(scores=scores, areas=areas, population=pop, population_column=pop_col,
                          score=s.take("score", str, None), domains=_strings(s, "domains"),
                          where=s.take("where", dict, {}))  # fmt: skip
        if bool(dep.score) == bool(dep.domains):
            raise ConfigError(f"{file}: [deprivation] needs score = COL or domains = {{…}} (one of them)")
        s.done()

    dem = None
    if (s := top.section("demand")) is not None:
        events = _need_input(s, "events", inputs)
        areas = _need_input(s, "areas", inputs)
        if inputs[areas].points is None:
            raise ConfigError(f"{file}: 'demand.areas' = {areas!r} needs points = {{ … }} in [inputs.{areas}]")
        pop, pop_col = _population(s, inputs)
        dem = Demand(
            events=events, count=s.take("count", str), areas=areas, population=pop, population_column=pop_col,
            years=s.take("years", float, 1.0), annual_mean=s.take("annual_mean", bool, False),
            multiplier=s.take("multiplier", float, 100_000.0),
            smoothing=s.choice("smoothing", ("global", "local", "none"), "global"), k=s.take("k", int, 1),
            small_count=s.take("small_count", float, 10.0),
            overdispersion=s.choice("overdispersion", ("dl",), None), deprivation=s.take("deprivation", bool, False),
        )  # fmt: skip
        if dem.years <= 0 or dem.multiplier <= 0 or dem.k < 1:
            raise ConfigError(f"{file}: [demand] years and multiplier must be > 0 and k >= 1")
        s.done()

    hot = None
    if (s := top.section("hotspots")) is not None:
        hot = Hotspots(
            surface=s.choice("surface", HOTSPOT_SURFACES), value=s.take("value", str),
            statistic=s.choice("statistic", ("gi_star", "gi", "local_moran"), "gi_star"), k=s.take("k", int, 1),
            permutations=s.take("permutations", int, 999), seed=s.take("seed", int, 0),
            alpha=s.take("alpha", float, 0.05),
        )  # fmt: skip
        if hot.k < 1 or hot.permutations < 0 or not 0 < hot.alpha < 1:
            raise ConfigError(f"{file}: [hotspots] needs k >= 1, permutations >= 0 and 0 < alpha < 1")
        s.done()
    top.done()

    if hot and not {"health_change": hc, "deprivation": dep, "demand": dem}[hot.surface]:
        raise ConfigError(f"{file}: 'hotspots.surface' = {hot.surface!r} needs a [{hot.surface}] section")
    for what, wants in (("health_change", hc and hc.deprivation), ("demand", dem and dem.deprivation)):
        if wants and dep is None:
            raise ConfigError(f"{file}: '{what}.deprivation' = true needs a [deprivation] section")
    if hc is None and dep is None and dem is None:
        raise ConfigError(f"{file}: nothing to build; add [health_change], [deprivation] and/or [demand]")
    return Project(file=file.resolve(), name=name, out_dir=out, resolutions=tuple(dict.fromkeys(resolutions)),
                   inputs=inputs, health_change=hc, deprivation=dep, demand=dem, hotspots=hot, html=html,
                   map_resolution=map_res)  # fmt: skip
