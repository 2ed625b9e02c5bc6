"""``hyperlocal build``: run a project file (:mod:`hyperlocal.project`) from the input files to a folder of
publishable outputs, resumably and atomically.

Steps, each at every resolution of the project: ``deprivation_res{r}``, ``health_change_res{r}`` (with the
programme comparison), ``demand_res{r}``, then one interactive ``map.html``. Each step writes GeoParquet + CSV
+ a PNG map, each file atomically (temporary file, fsync, rename), so a failed or interrupted run leaves every
earlier output intact and no partial file.

Resuming: every step has a key, the SHA-256 of its part of the resolved project, the SHA-256 of each input file
it reads, the keys of the steps it uses and the hyperlocal version. ``manifest.json`` in the output folder
records each step's key and the SHA-256 of each file it wrote; a rerun skips a step whose key is unchanged and
whose outputs are still on disk, byte for byte, and says so. The manifest is rewritten (atomically) after every
step, so an interrupted build resumes where it stopped.

The manifest also records the inputs (paths, SHA-256, sizes, rows), per step the rows in / out / unassigned and
the mass audit of every apportioned count (total in the input, total on the cells, difference), the project as
resolved, the versions of hyperlocal, Python, Polars, NumPy and pyarrow, and the timings.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from ._convert import require_columns
from .categories import HEALTH_CATEGORIES
from .exceptions import InvalidInputError, SkippedRowsWarning
from .project import CENSUS_LAYOUTS, Input, Project, Year

__all__ = ["run_build", "BuildResult"]

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.cache
def _code_fingerprint() -> str:
    """SHA-256 of the installed package's code (Python modules and the compiled core), so that a changed
    hyperlocal rebuilds every step even when its version number is unchanged (e.g. a development build)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted([*root.rglob("*.py"), *root.glob("_core*"), *root.rglob("*.js")]):
        if f.suffix != ".pyi":
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class BuildResult:
    """What a build did: the manifest written, and the steps built or skipped."""

    out_dir: Path
    manifest: dict[str, Any]
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Inputs:
    """Inputs read on first use (each once), normalised to a ``code`` column, with their hashes and rows."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.hashes: dict[str, list[dict[str, Any]]] = {}
        self.rows: dict[str, int] = {}
        self._tables: dict[str, pl.DataFrame] = {}

    def hash(self, name: str) -> list[dict[str, Any]]:
        if name not in self.hashes:
            inp = self.project.inputs[name]
            self.hashes[name] = [
                {"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in inp.files()
            ]
        return self.hashes[name]

    def table(self, name: str) -> pl.DataFrame:
        if name not in self._tables:
            inp = self.project.inputs[name]
            df = _read_input(inp)
            self.rows[name] = df.height
            self._tables[name] = df
        return self._tables[name]


def _filter(df: pl.DataFrame, where: Any, what: str) -> pl.DataFrame:
    """Rows where every ``column = value`` holds (a list of values: any of them)."""
    if not where:
        return df
    require_columns(df, list(where), what)
    for col, value in where.items():
        df = df.filter(pl.col(col).is_in(value) if isinstance(value, list) else pl.col(col) == value)
    return df


def _read_input(inp: Input) -> pl.DataFrame:
    """One input as a table whose area-code column is ``code`` (String)."""
    from . import ons
    from .io import read_areas, read_table

    what = f"[inputs.{inp.name}]"
    if inp.layout in CENSUS_LAYOUTS:
        df = ons.health_counts(inp.path, inp.layout, code=inp.code, what=f"{what} path =",
                               categories=dict(inp.categories), long=dict(inp.long), collated=inp.collated,
                               names=inp.names)  # fmt: skip
        return _filter(df, inp.where, what)
    if inp.layout == "qs103ew_ages":
        return _filter(ons.qs103ew_age_bands(inp.path, code="code"), inp.where, what)
    if inp.layout == "age6":
        return _filter(ons.age6_lsoa21(inp.path, code="code"), inp.where, what)
    if inp.layout == "lc3409ew":
        return ons.lc3409ew_reference(inp.path)
    assert inp.code is not None
    if inp.layout == "boundaries":
        try:
            df = read_areas(inp.path, code=inp.code, columns=list(inp.where), crs=inp.crs)
        except InvalidInputError as e:
            raise InvalidInputError(f"{what} {e}") from e
        except Exception as e:  # noqa: BLE001 - GDAL / Arrow failures on a corrupt file
            raise InvalidInputError(f"{what} {inp.path}: not a readable boundary file ({e})") from e
    else:
        df = read_table(inp.path, f"{what} path =")
        require_columns(df, [inp.code, *(inp.points.columns() if inp.points else [])], f"{what} {inp.path}")
    df = _filter(df, inp.where, what)
    return df.with_columns(pl.col(inp.code).cast(pl.String)).rename({inp.code: "code"} if inp.code != "code" else {})


class _Manifest:
    def __init__(self, project: Project) -> None:
        self.path = project.out_dir / MANIFEST
        self.previous: dict[str, Any] = {}
        if self.path.is_file():
            try:
                self.previous = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.previous = {}  # unreadable: rebuild everything
        import numpy
        import pyarrow

        from . import __version__

        self.data: dict[str, Any] = {
            "project": project.as_dict(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": {"hyperlocal": __version__, "python": platform.python_version(), "polars": pl.__version__,
                         "numpy": numpy.__version__, "pyarrow": pyarrow.__version__},  # fmt: skip
            "inputs": {},
            "steps": {},
            "timings": {},
        }

    def unchanged(self, name: str, key: str, out_dir: Path) -> bool:
        prev = self.previous.get("steps", {}).get(name)
        if not prev or prev.get("key") != key:
            return False
        for o in prev.get("outputs", []):
            p = out_dir / o["path"]
            if not p.is_file() or p.stat().st_size != o["bytes"] or sha256_file(p) != o["sha256"]:
                return False
        return True

    def write(self) -> None:
        from .io import atomic_path

        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")


@dataclass
class _Step:
    name: str
    inputs: list[str]
    spec: Any
    needs: list[str]
    run: Callable[[], dict[str, Any]]


def run_build(
    project: Project, *, force: bool = False, progress: bool = True, log: Callable[[str], None] = print
) -> BuildResult:
    """Run every step of ``project``; skip those whose inputs and config are unchanged (unless ``force``)."""
    from . import __version__

    t0 = time.perf_counter()
    out = project.out_dir
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"project.out_dir: {out} is a file; expected a folder")
    inputs = _Inputs(project)
    manifest = _Manifest(project)
    result = BuildResult(out_dir=out, manifest=manifest.data)
    ctx = _Context(project, inputs, out, progress)
    steps = ctx.steps()
    keys: dict[str, str] = {}
    made = False
    for step in steps:
        hashes = {n: inputs.hash(n) for n in step.inputs}
        for n in step.inputs:
            manifest.data["inputs"][n] = {"files": hashes[n], "layout": project.inputs[n].layout}
        key = _key(step.name, step.spec, hashes, [keys[n] for n in step.needs], __version__, _code_fingerprint())
        keys[step.name] = key
        if not force and manifest.unchanged(step.name, key, out):
            manifest.data["steps"][step.name] = manifest.previous["steps"][step.name] | {"status": "skipped"}
            result.skipped.append(step.name)
            log(f"{step.name}: unchanged (same inputs and config), skipped")
            continue
        if not made:
            out.mkdir(parents=True, exist_ok=True)
            made = True
        t = time.perf_counter()
        record = step.run()
        files = record.pop("outputs")
        record["outputs"] = [
            {"path": str(p.relative_to(out)), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files
        ]
        record |= {"key": key, "status": "built", "seconds": round(time.perf_counter() - t, 3)}
        manifest.data["steps"][step.name] = record
        for n in step.inputs:
            if n in inputs.rows:
                manifest.data["inputs"][n]["rows"] = inputs.rows[n]
        result.built.append(step.name)
        manifest.write()
        log(f"{step.name}: built in {record['seconds']:.1f} s → " + ", ".join(o["path"] for o in record["outputs"]))
    for n, info in manifest.data["inputs"].items():  # rows of inputs not read this time: from the last build
        if "rows" not in info:
            prev = manifest.previous.get("inputs", {}).get(n, {})
            if prev.get("files") == info["files"] and "rows" in prev:
                info["rows"] = prev["rows"]
    manifest.data["timings"] = {n: s.get("seconds") for n, s in manifest.data["steps"].items()}
    manifest.data["timings"]["total_this_run"] = round(time.perf_counter() - t0, 3)
    if not made:
        out.mkdir(parents=True, exist_ok=True)
    manifest.write()
    return result


def _mass(before: pl.DataFrame, after: pl.DataFrame, columns: list[str]) -> dict[str, dict[str, float]]:
    """Total of each count in the input rows and on the cells, and their difference."""
    out = {}
    for c in columns:
        a = float(before[c].cast(pl.Float64).sum())
        b = float(after[c].cast(pl.Float64).sum())
        out[c] = {"in": a, "out": b, "difference": b - a}
    return out


def _place(
    ctx: _Context, values: pl.DataFrame, areas_name: str, method: str, resolution: int, what: str,
    points_name: str | None = None, points_population: str = "population", outside: str = "warn",
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:  # fmt: skip
    """Crosswalk the areas of ``values`` (keyed ``code``) at ``resolution``: values with no area are left out
    with a :class:`SkippedRowsWarning` (counted in the audit); returns (values kept, crosswalk, audit)."""
    from .crosswalk import crosswalk

    inp = ctx.project.inputs[areas_name]
    areas = ctx.inputs.table(areas_name)
    placed = values.join(areas.select("code"), on="code", how="semi")
    missing = values.join(areas.select("code"), on="code", how="anti")
    if missing.height and outside == "warn":
        warnings.warn(
            f"{what}: {missing.height} area(s) are not in [inputs.{areas_name}] (e.g. "
            f"{missing['code'].head(5).to_list()}); left out, counted in the manifest as unassigned",
            SkippedRowsWarning,
            stacklevel=2,
        )
    areas = areas.join(placed.select("code"), on="code", how="semi")
    opts: dict[str, Any] = {}
    if method == "centroid":
        assert inp.points is not None
        opts = dict(inp.points.options())
    elif method == "population":
        assert points_name is not None
        pts_inp = ctx.project.inputs[points_name]
        pts = ctx.inputs.table(points_name)
        assert pts_inp.points is not None
        p_opts = pts_inp.points.options()
        opts = dict(points=pts, population=points_population, points_code="code",
                    **{f"points_{k}": v for k, v in p_opts.items()})  # fmt: skip
    xw = crosswalk(areas, resolution=resolution, code="code", method=method, **opts)
    assert isinstance(xw, pl.DataFrame)
    audit = {"rows_in": values.height, "rows_placed": placed.height, "unassigned": missing.height,
             "unassigned_codes": missing["code"].head(20).to_list(), "crosswalk_rows": xw.height}  # fmt: skip
    return placed, xw, audit


class _Context:
    def __init__(self, project: Project, inputs: _Inputs, out: Path, progress: bool) -> None:
        self.project, self.inputs, self.out, self.progress = project, inputs, out, progress
        self.tables: dict[str, pl.DataFrame] = {}

    # -- helpers ---------------------------------------------------------------------------------------
    def _bar(self, name: str, total: int) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=name, unit="step", disable=not self.progress, leave=False)

    def _write(self, df: pl.DataFrame, stem: str) -> list[Path]:
        from .io import write

        return [write(df, self.out / f"{stem}.parquet"), write(df, self.out / f"{stem}.csv")]

    def table(self, step: str, stem: str) -> pl.DataFrame:
        """A step's main table: from memory if it ran now, else from its Parquet output."""
        if stem not in self.tables:
            self.tables[stem] = pl.read_parquet(self.out / f"{stem}.parquet").drop("geometry", strict=False)
        return self.tables[stem]

    def _map(self, df: pl.DataFrame, column: str, stem: str, **kw: Any) -> Path:
        from .plot import map_png

        return map_png(df, column, self.out / f"{stem}.png", **kw)

    # -- steps -----------------------------------------------------------------------------------------
    def steps(self) -> list[_Step]:
        p = self.project
        steps: list[_Step] = []
        for r in p.resolutions:
            if p.deprivation:
                d = p.deprivation
                key = {"deprivation": p.as_dict()["deprivation"], "resolution": r, "all": list(p.resolutions)}
                steps.append(_Step(f"deprivation_res{r}", [d.scores, d.areas, d.population], key, [],
                                   partial(self.deprivation, r)))  # fmt: skip
        for r in p.resolutions:
            if p.health_change:
                h = p.health_change
                used = [h.before.counts, h.before.areas, h.after.counts, h.after.areas]
                used += [y.points for y in (h.before, h.after) if y.points]
                used += [y.ages for y in (h.before, h.after) if y.ages] + ([h.reference] if h.reference else [])
                used += [h.programme.input] if h.programme else []
                needs = [f"deprivation_res{r}"] if h.deprivation else []
                steps.append(_Step(f"health_change_res{r}", list(dict.fromkeys(used)),
                                   {"health_change": p.as_dict()["health_change"], "resolution": r}, needs,
                                   partial(self.health_change, r)))  # fmt: skip
        for r in p.resolutions:
            if p.demand:
                m = p.demand
                needs = [f"deprivation_res{r}"] if m.deprivation else []
                steps.append(_Step(f"demand_res{r}", list(dict.fromkeys([m.events, m.areas, m.population])),
                                   {"demand": p.as_dict()["demand"], "resolution": r}, needs,
                                   partial(self.demand, r)))  # fmt: skip
        for r in p.resolutions:
            if p.hotspots:
                steps.append(_Step(f"hotspots_res{r}", [], {"hotspots": p.as_dict()["hotspots"], "resolution": r},
                                   [f"{p.hotspots.surface}_res{r}"], partial(self.hotspots, r)))  # fmt: skip
        if p.html:
            steps.append(_Step("map_html", [], {"map_resolution": p.map_resolution}, [s.name for s in steps],
                               self.map_html))  # fmt: skip
        return steps

    def deprivation(self, r: int) -> dict[str, Any]:
        from .deprivation import deprivation_surface, imd_score

        d = self.project.deprivation
        assert d is not None
        with self._bar(f"deprivation res {r}", 4) as bar:
            scores = _filter(self.inputs.table(d.scores), d.where, "[deprivation] where")
            score = d.score
            if d.domains:
                require_columns(scores, list(d.domains.values()), f"[inputs.{d.scores}]")
                scores = imd_score(scores, domains=dict(d.domains))
                score = "imd_score"
            assert score is not None
            require_columns(scores, [score], f"[inputs.{d.scores}]")
            pop = self.inputs.table(d.population)
            require_columns(pop, [d.population_column], f"[inputs.{d.population}]")
            table = scores.select("code", pl.col(score).cast(pl.Float64)).join(
                pop.select("code", pl.col(d.population_column).cast(pl.Float64).alias("population")),
                on="code", how="left",
            )  # fmt: skip
            no_pop = table.filter(pl.col("population").is_null())
            if no_pop.height:
                raise InvalidInputError(
                    f"[deprivation] population: {no_pop.height} scored area(s) are not in [inputs.{d.population}] "
                    f"(e.g. {no_pop['code'].head(5).to_list()})"
                )
            bar.update()
            table, xw, audit = _place(self, table, d.areas, "centroid", r, "[deprivation]")
            bar.update()
            surface = deprivation_surface(table, xw, code="code", score=score, population="population",
                                          resolutions=[r])[r]  # fmt: skip
            bar.update()
            self.tables[f"deprivation_res{r}"] = surface
            files = self._write(surface, f"deprivation_res{r}")
            files.append(self._map(surface, "decile", f"deprivation_res{r}",
                                   title=f"Deprivation deciles of cells (population-weighted; 1 = most deprived), "
                                   f"res {r}",
                                   cmap="RdYlBu", label="decile (1 = most deprived)"))  # fmt: skip
            bar.update()
        audit |= {"cells": surface.height, "mass": _mass(table, surface, ["population"])}
        return {"outputs": files, "audit": audit}

    def _year(self, y: Year, r: int, what: str) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
        from .aggregate import apportion

        counts = self.inputs.table(y.counts)
        require_columns(counts, list(HEALTH_CATEGORIES), f"[inputs.{y.counts}]")
        extensive = list(HEALTH_CATEGORIES)
        if y.ages:
            ages = self.inputs.table(y.ages)
            bands = [c for c in ages.columns if c.startswith("age_")]
            no_ages = counts.join(ages, on="code", how="anti")
            if no_ages.height:
                raise InvalidInputError(
                    f"{what}: {no_ages.height} area(s) of [inputs.{y.counts}] are not in [inputs.{y.ages}] (e.g. "
                    f"{no_ages['code'].head(5).to_list()}); expected ages for every area with counts"
                )
            counts = counts.join(ages.select("code", *bands), on="code", how="left")
            extensive += bands
        values, xw, audit = _place(self, counts, y.areas, y.method, r, what, y.points, y.points_population,
                                   y.outside)  # fmt: skip
        grid = apportion(values, xw, code="code", extensive=extensive)
        audit |= {"cells": grid.height, "mass": _mass(values, grid, extensive)}
        return grid, xw, audit

    def health_change(self, r: int) -> dict[str, Any]:
        from .health import compare_groups, health_change

        h = self.project.health_change
        assert h is not None
        audit: dict[str, Any] = {}
        with self._bar(f"health change res {r}", 4) as bar:
            before, _, audit["before"] = self._year(h.before, r, f"[health_change.before] {h.labels[0]}")
            bar.update()
            after, xw_after, audit["after"] = self._year(h.after, r, f"[health_change.after] {h.labels[1]}")
            bar.update()
            reference = self.inputs.table(h.reference) if h.reference else None
            surface = health_change(before, after, labels=h.labels, min_population=h.min_population,
                                    confidence=h.confidence, standardise=reference)  # fmt: skip
            files = self._write(surface, f"health_change_res{r}")
            shown = surface.with_columns(
                pl.when(pl.col("small")).then(None).otherwise(pl.col("very_good_excess_pp")).alias("very_good_excess_pp")
            )
            self.tables[f"health_change_res{r}"] = surface
            files.append(self._map(
                shown, "very_good_excess_pp", f"health_change_res{r}",
                title=f"Excess change in 'very good' health {h.labels[0]}–{h.labels[1]} (cell − all cells), res {r}",
                cmap="RdBu", diverging=True, label="percentage points (grey: fewer than "
                f"{h.min_population:g} residents in a year)",
            ))  # fmt: skip
            bar.update()
            if h.programme:
                prog = _filter(self.inputs.table(h.programme.input), h.programme.where, "[health_change.programme]")
                codes = prog["code"].unique().sort()
                inside = codes.filter(codes.is_in(xw_after["code"].unique().implode()))
                if inside.len() < codes.len():  # e.g. a national programme in a city project
                    audit["programme_areas_outside"] = codes.len() - inside.len()
                if inside.len() == 0:
                    raise InvalidInputError(
                        f"[health_change.programme]: none of the {codes.len()} programme areas of "
                        f"[inputs.{h.programme.input}] is among the {h.labels[1]} areas placed on cells"
                    )
                codes = inside
                dep = self.table(f"deprivation_res{r}", f"deprivation_res{r}") if h.deprivation else None
                chart = self.out / f"comparison_res{r}.png"
                table = compare_groups(
                    before, after, codes, deprivation=dep.select("cell", "decile") if dep is not None else None,
                    labels=h.labels, confidence=h.confidence, crosswalk=xw_after.select("code", "cell", "weight"),
                    on_invalid="skip", chart=chart,
                    title=f"Change in self-reported health, {h.programme.input} against the comparator, res {r}",
                )  # fmt: skip
                from .io import atomic_path

                csv = self.out / f"comparison_res{r}.csv"
                with atomic_path(csv) as tmp:
                    table.drop([c for c in table.columns if c.startswith("mix_")]).write_csv(tmp)
                files += [csv, chart]
                audit["programme"] = {"areas": codes.len(), "input": h.programme.input}
                if h.evaluate:
                    files += self._evaluate(r, before, after, codes, xw_after, dep, reference, audit)
            bar.update()
        return {"outputs": files, "audit": audit}

    def _evaluate(
        self, r: int, before: pl.DataFrame, after: pl.DataFrame, codes: pl.Series, xw_after: pl.DataFrame,
        dep: pl.DataFrame | None, reference: pl.DataFrame | None, audit: dict[str, Any],
    ) -> list[Path]:  # fmt: skip
        """[health_change.evaluate]: the programme's cells (those holding a programme area) against a comparator
        of the other cells balanced on the covariates, with placebo inference; tables and charts written."""
        from .evaluate import evaluate_programme
        from .io import atomic_path

        h = self.project.health_change
        assert h is not None and h.evaluate is not None
        e = h.evaluate
        cells = xw_after.filter(pl.col("code").is_in(codes.implode()))["cell"].unique().sort()
        base = before
        if dep is not None:
            score = next(c for c in dep.columns if c not in ("cell", "population", "decile"))
            extra = dep.select("cell", pl.col(score).alias("deprivation_score"),
                               pl.col("decile").alias("deprivation_decile"))  # fmt: skip
            base = before.join(extra, on="cell", how="left")
        # Cells without a value of a covariate (e.g. Welsh cells under the English IMD) cannot be balanced: left
        # out and counted, as are programme cells among them.
        wanted = [c for c in e.covariates if c in base.columns] + (["deprivation_decile"] if e.strata else [])
        usable = base.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in wanted)) if wanted else base
        left_out = base.height - usable.height
        lost = cells.filter(~cells.is_in(usable["cell"].implode())).len()
        stem = f"evaluation_res{r}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SkippedRowsWarning)
            res = evaluate_programme(
                usable, after.join(usable.select("cell"), on="cell", how="semi"),
                cells.filter(cells.is_in(usable["cell"].implode())), id="cell", covariates=list(e.covariates),
                outcome=e.outcome, method=e.method, caliper=e.caliper, on_unmatched=e.on_unmatched,
                placebos=e.placebos, placebo=e.placebo, strata="deprivation_decile" if e.strata else None,
                standardise=reference, labels=h.labels, confidence=h.confidence, seed=e.seed,
                chart=self.out / f"{stem}_placebo.png", balance_chart=self.out / f"{stem}_balance.png",
                title=f"{h.programme.input if h.programme else 'programme'} cells against a "
                f"{'weighted' if e.method == 'weights' else 'matched'} comparator, res {r}",
            )  # fmt: skip
        for w in caught:
            warnings.warn(f"[health_change.evaluate] res {r}: {w.message}", SkippedRowsWarning, stacklevel=2)
        files = [self.out / f"{stem}_placebo.png", self.out / f"{stem}_balance.png"]
        for name, table in (("effect", res.effect), ("balance", res.balance), ("placebos", res.placebo)):
            path = self.out / f"{stem}_{name}.csv"
            with atomic_path(path) as tmp:
                table.write_csv(tmp)
            files.append(path)
        audit["evaluate"] = {"programme_cells": cells.len(), "cells_without_covariates": left_out,
                             "programme_cells_without_covariates": lost,
                             **{k: v for k, v in res.audit.items() if not isinstance(v, (list, dict))},
                             "effect": res.effect.to_dicts()}  # fmt: skip
        return files

    def hotspots(self, r: int) -> dict[str, Any]:
        """Gi* / Gi hot and cold spots or local Moran clusters of one column of a surface, with FDR classes.

        Cells where the column is null and cells flagged ``small`` (suppressed) are left out of the analysis and
        counted in the audit (``left_out``); cells left without a neighbour in the set are flagged ``isolated``.
        """
        from .spatial import CLASSES, class_codes, local_gi, local_moran

        h = self.project.hotspots
        assert h is not None
        stem = f"{h.surface}_res{r}"
        surface = self.table(stem, stem)
        if h.value not in surface.columns:
            numeric = [c for c, t in surface.schema.items() if t.is_numeric() and c != "cell"]
            raise InvalidInputError(
                f"{self.project.file}: 'hotspots.value' = {h.value!r} is not a column of the {h.surface} surface; "
                f"numeric columns: {numeric[:12]}{' …' if len(numeric) > 12 else ''}"
            )
        value = pl.col(h.value).cast(pl.Float64)
        keep = value.is_not_null() & value.is_finite()
        if "small" in surface.columns:  # suppressed cells (too few residents, or one year only) stay out
            keep = keep & ~pl.col("small").fill_null(True)
        data = surface.filter(keep).select("cell", h.value)
        opts: dict[str, Any] = {"k": h.k, "permutations": h.permutations, "seed": h.seed, "alpha": h.alpha}
        with self._bar(f"hot spots res {r}", 2) as bar:
            if h.statistic == "local_moran":
                out = local_moran(data, h.value, **opts)
                col = "moran_quadrant"
                name = "Local Moran's I clusters"
            else:
                out = local_gi(data, h.value, star=h.statistic == "gi_star", **opts)
                col = "gi_class"
                name = f"{'Gi*' if h.statistic == 'gi_star' else 'Gi'} hot and cold spots"
            bar.update()
            files = self._write(out, f"hotspots_res{r}")
            every = surface.select("cell").join(out.select("cell", col), on="cell", how="left", maintain_order="left")
            coded = every.select("cell", class_codes(col))
            files.append(self._map(coded, col, f"hotspots_res{r}", classes=CLASSES[col], cmap="RdBu_r",
                                   title=f"{name} of {h.value} ({h.surface}), res {r}: FDR {h.alpha:g}, k = {h.k}, "
                                   f"{h.permutations} permutations",
                                   label=f"{col} (grey: left out as suppressed, or isolated)"))  # fmt: skip
            bar.update()
        counts = {str(c): n for c, n in out.get_column(col).value_counts().iter_rows()}
        audit = {"cells": surface.height, "analysed": data.height, "left_out": surface.height - data.height,
                 "isolated": int(out.get_column("isolated").sum()), "classes": counts}  # fmt: skip
        return {"outputs": files, "audit": audit}

    def demand(self, r: int) -> dict[str, Any]:
        from .aggregate import apportion
        from .demand import demand_surface, funnel_plot

        m = self.project.demand
        assert m is not None
        with self._bar(f"demand res {r}", 3) as bar:
            events = self.inputs.table(m.events)
            require_columns(events, [m.count], f"[inputs.{m.events}]")
            scale = m.years if m.annual_mean else 1.0
            events = events.group_by("code").agg((pl.col(m.count).cast(pl.Float64).sum() * scale).alias("events"))
            pop = self.inputs.table(m.population)
            require_columns(pop, [m.population_column], f"[inputs.{m.population}]")
            pop = pop.select("code", (pl.col(m.population_column).cast(pl.Float64) * m.years).alias("person_years"))
            table = pop.join(events, on="code", how="left").with_columns(pl.col("events").fill_null(0.0))
            orphans = events.join(pop, on="code", how="anti")
            if orphans.height:
                warnings.warn(
                    f"[demand] events: {orphans.height} area code(s) are not in [inputs.{m.population}] (e.g. "
                    f"{orphans['code'].head(5).to_list()}; {orphans['events'].sum():,.1f} events); left out",
                    SkippedRowsWarning,
                    stacklevel=2,
                )
            table, xw, audit = _place(self, table, m.areas, "centroid", r, "[demand]")
            grid = apportion(table, xw, code="code", extensive=["events", "person_years"])
            bar.update()
            dep = None
            if m.deprivation:
                dep = self.table(f"deprivation_res{r}", f"deprivation_res{r}").select("cell", "decile")
                scored = grid.join(dep.filter(pl.col("decile").is_not_null()), on="cell", how="semi")
                if scored.height < grid.height:
                    lost = grid.join(scored.select("cell"), on="cell", how="anti")
                    warnings.warn(
                        f"[demand] {lost.height} cell(s) have no deprivation decile ({lost['events'].sum():,.1f} "
                        "events); left out of the surface",
                        SkippedRowsWarning,
                        stacklevel=2,
                    )
                    audit["cells_without_decile"] = lost.height
                grid = scored
            surface = demand_surface(
                grid.select("cell", pl.col("events").alias("count")),
                grid.select("cell", pl.col("person_years").alias("population")), deprivation=dep,
                multiplier=m.multiplier, smoothing=m.smoothing, overdispersion=m.overdispersion, k=m.k,
                small_count=m.small_count,
            ).rename({"population": "person_years"})  # fmt: skip
            if dep is not None:
                surface = surface.join(dep, on="cell", how="left")
            bar.update()
            self.tables[f"demand_res{r}"] = surface
            files = self._write(surface, f"demand_res{r}")
            shown = surface.with_columns(pl.when(pl.col("small")).then(None).otherwise(pl.col("ratio")).alias("ratio"))
            files.append(self._map(shown, "ratio", f"demand_res{r}", title=f"Observed / expected events, res {r}",
                                   cmap="RdBu_r", diverging=True, center=1.0,
                                   label="observed / expected (grey: small)"))  # fmt: skip
            files.append(funnel_plot(surface, self.out / f"demand_funnel_res{r}.png", statistic="ratio",
                                     numerator="observed", denominator="expected",
                                     overdispersion=m.overdispersion))  # fmt: skip
            bar.update()
        audit |= {"cells": surface.height, "mass": _mass(table, grid, ["events", "person_years"])}
        return {"outputs": files, "audit": audit}

    def map_html(self) -> dict[str, Any]:
        from .webmap import MapLayer, map_html

        layers = [MapLayer(**layer) for layer in self._html_layers()]
        if not layers:
            return {"outputs": [], "audit": {"layers": 0}}
        title = f"{self.project.name} (map: H3 resolution {self._html_resolution()})"
        path = map_html(layers, self.out / "map.html", title=title)
        return {"outputs": [path], "audit": {"layers": len(layers), "cells": [ly.table.height for ly in layers]}}

    def _html_resolution(self) -> int:
        """``map_resolution`` if built, else the built resolution nearest to it (default: the coarsest)."""
        p = self.project
        r = p.map_resolution or min(p.resolutions)
        return r if r in p.resolutions else min(p.resolutions, key=lambda x: abs(x - r))

    def _html_layers(self) -> Iterator[dict[str, Any]]:
        p = self.project
        r = self._html_resolution()
        if p.health_change:
            t = self.table(f"health_change_res{r}", f"health_change_res{r}")
            a, b = p.health_change.labels
            # Cells flagged small (or present in one year only) are drawn as no data, as in the PNG map.
            cols = [f"{v}_{s}" for v in ("very_good_excess", "bad_or_very_bad_change") for s in ("pp", "lo", "hi")]
            cols += [f"bad_or_very_bad_pct_{b}", f"bad_or_very_bad_pct_{b}_lo", f"bad_or_very_bad_pct_{b}_hi"]
            t = t.with_columns(pl.when(pl.col("small")).then(None).otherwise(pl.col(c)).alias(c) for c in cols)
            pop = f"population_{b}"
            hidden = f"suppressed: fewer than {p.health_change.min_population:g} residents in a year, or one year only"
            yield {"table": t, "column": "very_good_excess_pp", "lo": "very_good_excess_lo",
                   "hi": "very_good_excess_hi", "diverging": True, "cmap": "RdBu", "population": pop, "nodata": hidden,
                   "label": f"Excess change in very good health {a}–{b} (pp, cell − all cells)"}  # fmt: skip
            yield {"table": t, "column": "bad_or_very_bad_change_pp", "lo": "bad_or_very_bad_change_lo",
                   "hi": "bad_or_very_bad_change_hi", "label": f"Change in bad or very bad health {a}–{b} (pp)",
                   "diverging": True, "cmap": "RdBu_r", "population": pop, "nodata": hidden}  # fmt: skip
            yield {"table": t, "column": f"bad_or_very_bad_pct_{b}", "lo": f"bad_or_very_bad_pct_{b}_lo",
                   "hi": f"bad_or_very_bad_pct_{b}_hi", "label": f"Bad or very bad health {b} (%)",
                   "cmap": "magma_r", "population": pop, "nodata": hidden}  # fmt: skip
        if p.deprivation:
            t = self.table(f"deprivation_res{r}", f"deprivation_res{r}")
            yield {"table": t, "column": "decile", "label": "Deprivation decile", "classes": "deciles",
                   "population": "population"}  # fmt: skip
        if p.hotspots:
            from .spatial import CLASSES, class_codes

            t = self.table(f"hotspots_res{r}", f"hotspots_res{r}")
            col = "moran_quadrant" if p.hotspots.statistic == "local_moran" else "gi_class"
            order = CLASSES[col]
            t = t.with_columns(class_codes(col).cast(pl.Float64).alias("class"))
            yield {"table": t, "column": "class", "label": f"Hot spots of {p.hotspots.value} ({' / '.join(order)})",
                   "cmap": "RdBu_r", "limits": (1.0, float(len(order))), "nodata": "isolated"}  # fmt: skip
        if p.demand:
            t = self.table(f"demand_res{r}", f"demand_res{r}")
            yield {"table": t, "column": "ratio", "label": "Observed / expected", "diverging": True, "center": 1.0,
                   "lo": "ratio_lo95", "hi": "ratio_hi95", "population": "person_years"}  # fmt: skip


def describe(result: BuildResult) -> str:
    """One line summing up a build."""
    n_b, n_s = len(result.built), len(result.skipped)
    return f"built {n_b} step(s), skipped {n_s} unchanged; outputs in {result.out_dir} (manifest: {MANIFEST})"
