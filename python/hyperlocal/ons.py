"""Readers for the ONS/Nomis file layouts of general health, to the five standard categories.

Every reader returns the area code column, ``residents`` and ``very_good, good, fair, bad, very_bad`` as
integers whose five counts sum to ``residents``. Nothing is dropped silently: an area that cannot be built is
reported by a :class:`~hyperlocal.exceptions.SkippedRowsWarning` naming it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ._convert import require_columns
from .categories import HEALTH_CATEGORIES as CATEGORIES
from .categories import HEALTH_LABELS
from .exceptions import InvalidInputError, SkippedRowsWarning

__all__ = [
    "ts037_lsoa21",
    "ks301ew_oa11",
    "ks301ew_msoa11_counts",
    "townsend_counts_2011_oa",
    "townsend_counts_2021_oa",
    "lc3409ew_reference",
    "qs103ew_age_bands",
    "age6_lsoa21",
    "lsoa_units",
]

TS037 = HEALTH_LABELS


def _table(path: str | os.PathLike[str], what: str, columns: list[str]) -> pl.DataFrame:
    """``path`` read by :func:`hyperlocal.io.read_table`, with the ``columns`` a layout needs checked by name."""
    from .io import read_table

    df = read_table(path, what)
    require_columns(df, columns, f"{what} {path}")
    return df


def ts037_lsoa21(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Census 2021 TS037 general health (Nomis bulk layout, one row per LSOA 2021): ``LSOA21CD``, ``name``,
    ``residents`` and the five counts."""
    names = ["mnemonic", "2021 super output area - lower layer", "Total: All usual residents", *TS037]
    df = _table(path, "TS037", names)
    out = df.select(
        pl.col("mnemonic").alias("LSOA21CD"),
        pl.col("2021 super output area - lower layer").alias("name"),
        pl.col("Total: All usual residents").cast(pl.Int64).alias("residents"),
        *[pl.col(k).cast(pl.Int64).alias(v) for k, v in TS037.items()],
    )
    _check_sum(out, "LSOA21CD")
    return out


def ks301ew_oa11(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Census 2011 KS301EW at OA (CDRC/Nomis layout, KS301EW0008–0012 = very good … very bad health):
    ``OA11CD``, ``residents`` and the five counts."""
    cols = [f"KS301EW{i:04d}" for i in range(8, 13)]
    df = _table(path, "KS301EW", ["GeographyCode", *cols])
    out = df.select(
        pl.col("GeographyCode").alias("OA11CD"),
        *[pl.col(c).cast(pl.Int64).alias(k) for c, k in zip(cols, CATEGORIES)],
    ).with_columns(residents=pl.sum_horizontal(CATEGORIES))
    return out.select("OA11CD", "residents", *CATEGORIES)


def _check_sum(df: pl.DataFrame, code: str) -> None:
    bad = df.select(pl.sum_horizontal(CATEGORIES) != pl.col("residents")).to_series()
    if bad.any():
        raise InvalidInputError(f"{code}: {int(bad.sum())} areas whose five counts do not sum to residents")


def ks301ew_msoa11_counts(
    percentages: str | os.PathLike[str],
    collated: str | os.PathLike[str],
    names: str | os.PathLike[str],
) -> pl.DataFrame:
    """Census 2011 general health as five-category counts per MSOA 2011, from the files available nationally.

    Inputs: KS301EW percentages per MSOA (``Very good health`` … ``Very bad health``, 1 decimal place), the
    three grouped counts per MSOA *name* (``good_health`` = very good + good, ``fair health``, ``bad health`` =
    bad + very bad; they sum to the usual residents) and the MSOA names lookup (name → code).

    Method, so that every count that is published exactly stays exact:

    * ``fair`` is the published fair count; ``residents`` = the sum of the three grouped counts;
    * each grouped count is split between its two categories in proportion to their published percentages:
      ``very_good = round(good_health · pct_vg / (pct_vg + pct_g))`` (half to even), ``good`` = the remainder,
      and likewise ``bad`` / ``very_bad``; when both percentages are 0 the split is even. The five counts are
      whole people and sum exactly to the residents; the rounding moves at most half a person per split.

    MSOAs without grouped counts (the collated file lacks Isles of Scilly 001, E02006781) are left out and
    reported by a :class:`~hyperlocal.exceptions.SkippedRowsWarning`.
    """
    pct = _table(percentages, "percentages", ["MSOA11CD", *TS037]).select(
        "MSOA11CD", *[pl.col(k).alias(f"pct_{v}") for k, v in TS037.items()]
    )
    grp = _table(collated, "collated", ["MSOA", "good_health", "fair health", "bad health"]).select(
        pl.col("MSOA").alias("msoa11nm"),
        pl.col("good_health").cast(pl.Int64).alias("g_good"),
        pl.col("fair health").cast(pl.Int64).alias("fair"),
        pl.col("bad health").cast(pl.Int64).alias("g_bad"),
    )
    lookup = _table(names, "names", ["msoa11cd", "msoa11nm"]).select(pl.col("msoa11cd").alias("MSOA11CD"), "msoa11nm")
    if grp["msoa11nm"].is_duplicated().any():
        raise InvalidInputError("collated: duplicate MSOA names; cannot join to codes")
    joined = pct.join(lookup, on="MSOA11CD", how="left").join(grp, on="msoa11nm", how="left")
    missing = joined.filter(pl.col("g_good").is_null())
    if missing.height:
        warnings.warn(
            f"ks301ew_msoa11_counts: {missing.height} MSOA(s) have no grouped counts and are left out: "
            f"{list(zip(missing['MSOA11CD'].to_list(), missing['msoa11nm'].to_list()))[:5]}",
            SkippedRowsWarning,
            stacklevel=2,
        )
    j = joined.filter(pl.col("g_good").is_not_null())

    def split(total: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(a + b > 0, a / (a + b), 0.5)
        first = np.round(total * share).astype(np.int64)
        return first, total - first

    vg, g = split(j["g_good"].to_numpy(), j["pct_very_good"].to_numpy(), j["pct_good"].to_numpy())
    b, vb = split(j["g_bad"].to_numpy(), j["pct_bad"].to_numpy(), j["pct_very_bad"].to_numpy())
    out = pl.DataFrame(
        {
            "MSOA11CD": j["MSOA11CD"],
            "name": j["msoa11nm"],
            "very_good": vg,
            "good": g,
            "fair": j["fair"].to_numpy(),
            "bad": b,
            "very_bad": vb,
        }
    ).with_columns(residents=pl.sum_horizontal(CATEGORIES))
    return out.select("MSOA11CD", "name", "residents", *CATEGORIES)


def townsend_counts_2011_oa(folder: str | os.PathLike[str], area: str = "camden") -> pl.DataFrame:
    """Census 2011 Townsend inputs per OA from the CDRC/Nomis key-statistics layout (``<table>_oa11_<area>.csv``).

    * ``unemployed`` = KS601EW0005 (economically active, unemployed, excluding full-time students);
      ``economically_active`` = KS601EW0002–0005 (economically active excluding full-time students);
    * ``no_car`` = KS404EW0002, ``households`` = KS404EW0001;
    * ``not_owner_occupied`` = KS402EW0001 − KS402EW0002 − KS402EW0003 (all but owned outright or with a
      mortgage; shared ownership counts as not owner-occupied);
    * ``overcrowded`` = QS409EW0004 + QS409EW0005 (households with more than one person per room).
    """
    root = Path(folder)

    def table(name: str) -> pl.DataFrame:
        return _table(root / f"{name}_oa11_{area}.csv", name, ["GeographyCode"]).rename({"GeographyCode": "OA11CD"})

    econ = table("KS601EW").select(
        "OA11CD",
        pl.col("KS601EW0005").alias("unemployed"),
        pl.sum_horizontal([f"KS601EW{i:04d}" for i in range(2, 6)]).alias("economically_active"),
    )
    car = table("KS404EW").select(
        "OA11CD", pl.col("KS404EW0002").alias("no_car"), pl.col("KS404EW0001").alias("households")
    )
    tenure = table("KS402EW").select(
        "OA11CD",
        (pl.col("KS402EW0001") - pl.col("KS402EW0002") - pl.col("KS402EW0003")).alias("not_owner_occupied"),
    )
    rooms = table("QS409EW").select(
        "OA11CD",
        (pl.col("QS409EW0004") + pl.col("QS409EW0005")).alias("overcrowded"),
        pl.col("QS409EW0001").alias("households_rooms"),
    )
    return econ.join(car, on="OA11CD").join(tenure, on="OA11CD").join(rooms, on="OA11CD").sort("OA11CD")


def townsend_counts_2021_oa(folder: str | os.PathLike[str], area: str = "trafford") -> pl.DataFrame:
    """Census 2021 Townsend inputs per OA from long-format tables (``ts066``, ``ts045``, ``ts054``, ``ts052``).

    * ``unemployed`` = "Economically active (excluding full-time students): Unemployed";
      ``economically_active`` = every "Economically active (excluding full-time students): …" category;
    * ``no_car`` = "No cars or vans in household", ``households`` = all TS045 households;
    * ``not_owner_occupied`` = all TS054 households but "Owned: …";
    * ``overcrowded`` = TS052 occupancy rating of bedrooms −1 or −2 or less (the 2021 stand-in for persons per
      room; see :func:`hyperlocal.townsend`).
    """
    root = Path(folder)

    def long(name: str, cat: str) -> pl.DataFrame:
        return _table(root / f"{name}_oa21_{area}.parquet", name, ["area_code", cat, "value"]).select(
            pl.col("area_code").alias("OA21CD"), pl.col(cat).alias("cat"), pl.col("value").cast(pl.Int64)
        )

    def total(df: pl.DataFrame, alias: str, cond: pl.Expr | None = None) -> pl.DataFrame:
        if cond is not None:
            df = df.filter(cond)
        return df.group_by("OA21CD").agg(pl.col("value").sum().alias(alias))

    econ = long("ts066_economic_activity", "economic_activity_status")
    active = pl.col("cat").str.starts_with("Economically active (excluding full-time students)")
    car = long("ts045_car_van_availability", "availability_category")
    ten = long("ts054_tenure", "household_tenure")
    occ = long("ts052_occupancy_rating_bedrooms", "bedroom_occupancy")
    parts = [
        total(econ, "unemployed", active & pl.col("cat").str.ends_with(": Unemployed")),
        total(econ, "economically_active", active),
        total(car, "no_car", pl.col("cat") == "No cars or vans in household"),
        total(car, "households"),
        total(ten, "not_owner_occupied", ~pl.col("cat").str.starts_with("Owned:")),
        total(occ, "overcrowded", pl.col("cat").str.contains(": -")),
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.join(p, on="OA21CD", how="full", coalesce=True)
    return out.with_columns(pl.exclude("OA21CD").fill_null(0)).sort("OA21CD")


#: Column names ONS and Nomis bulk files use for the geography code, tried in this order.
CODE_COLUMNS = ("geography code", "mnemonic", "GeographyCode", "GEOGRAPHY_CODE", "area_code", "Geography code")


def _code_column(df: pl.DataFrame, code: str | None, what: str) -> str:
    if code:
        require_columns(df, [code], what)
        return code
    for c in CODE_COLUMNS:
        if c in df.columns:
            return c
    raise InvalidInputError(
        f"{what}: no geography code column (looked for {list(CODE_COLUMNS)}); name it with code = COL; "
        f"columns: {df.columns}"
    )


def census_table(
    path: str | os.PathLike[str],
    *,
    categories: dict[str, str],
    code: str | None = None,
    long: dict[str, str] | None = None,
    what: str = "census",
) -> pl.DataFrame:
    """An ONS/Nomis bulk census table as one row per area: ``code`` and one count column per category.

    Wide layout (one column per category, as Nomis bulk downloads and the ONS "custom dataset" CSVs): each
    entry of ``categories`` maps an output name to a header, or to a part of a header that matches exactly one
    column (``"Very good health"`` matches ``"General health: Very good health"``). Long layout
    (``long={"category": COL, "value": COL}``): rows whose category equals, or contains, the header are summed
    per area. The geography code column is ``code``, or the first of :data:`CODE_COLUMNS` present.
    Counts must be finite and non-negative; the error names the column and rows otherwise.
    """
    from .io import read_table

    df = read_table(path, what)
    where = f"{what} {path}"
    code_col = _code_column(df, code, where)
    if long:
        require_columns(df, [long["category"], long["value"]], where)
        cat = df[long["category"]].cast(pl.String)
        cols = []
        for name, header in categories.items():
            hit = (cat == header) | cat.str.contains(header, literal=True)
            if not hit.any():
                raise InvalidInputError(
                    f"{where}: no {long['category']!r} value matches {header!r} (for {name}); "
                    f"values: {cat.unique().head(12).to_list()}"
                )
            cols.append(pl.when(hit).then(pl.col(long["value"])).otherwise(0).cast(pl.Float64).alias(name))
        out = df.select(pl.col(code_col).cast(pl.String).alias("code"), *cols)
        out = out.group_by("code", maintain_order=True).sum()
    else:
        sel = []
        for name, header in categories.items():
            found = [c for c in df.columns if c == header] or [c for c in df.columns if header in c]
            if len(found) != 1:
                raise InvalidInputError(
                    f"{where}: categories.{name} = {header!r} matches {len(found)} columns "
                    f"({found[:5] if found else df.columns[:12]}); expected exactly one"
                )
            sel.append(pl.col(found[0]).alias(name))
        out = df.select(pl.col(code_col).cast(pl.String).alias("code"), *sel)
    for name in categories:
        s = out[name]
        if not s.dtype.is_numeric():
            raise InvalidInputError(f"{where}: {name} ({categories[name]!r}) is {s.dtype}; expected counts")
        bad = (s.is_null() | s.cast(pl.Float64).is_nan() | (s < 0)).fill_null(True)
        if bad.any():
            from ._convert import KEEP, rows_text

            rows = bad.arg_true()
            raise InvalidInputError(
                f"{where}: {name}: {rows_text(rows.len(), rows.head(KEEP).to_list())} invalid; expected counts >= 0"
            )
    dup = out["code"].is_duplicated()
    if dup.any():
        raise InvalidInputError(f"{where}: area codes repeated, e.g. {out['code'].filter(dup).head(5).to_list()}")
    return out


def health_counts(
    path: str | os.PathLike[str], layout: str, *, code: str | None = None, what: str = "census", **extra: Any
) -> pl.DataFrame:
    """General-health counts in one of the census layouts of :data:`hyperlocal.project.LAYOUTS`, as ``code``,
    the five categories (``very_good`` … ``very_bad``, Int64 or Float64) and ``residents`` (their sum)."""
    if layout == "ts037":
        out = census_table(path, categories={v: k for k, v in TS037.items()}, code=code, what=what)
    elif layout == "ks301ew":
        cats = {k: f"KS301EW{i:04d}" for i, k in zip(range(8, 13), CATEGORIES)}
        out = census_table(path, categories=cats, code=code, what=what)
    elif layout == "qs302ew":
        from .io import read_table

        cols = read_table(path, what).columns
        if "1" in cols:  # Nomis cell numbers (bulk API): 0 total, 1 very good … 5 very bad
            out = census_table(path, categories={k: str(i) for i, k in enumerate(CATEGORIES, 1)}, code=code,
                               what=what)  # fmt: skip
        else:  # CDRC / Nomis table columns: QS302EW0001 total, 0002 very good … 0006 very bad
            cats = {k: f"QS302EW{i:04d}" for i, k in zip(range(2, 7), CATEGORIES)}
            out = census_table(path, categories=cats, code=code, what=what)
    elif layout == "ks301ew_msoa11":
        out = ks301ew_msoa11_counts(path, extra["collated"], extra["names"]).rename({"MSOA11CD": "code"})
        return out.select("code", *CATEGORIES, "residents")
    elif layout == "census":
        out = census_table(path, categories=dict(extra["categories"]), code=code, long=extra.get("long") or None,
                           what=what)  # fmt: skip
        if not set(CATEGORIES) <= set(out.columns):
            return out
    else:
        raise InvalidInputError(f"{what}: layout {layout!r} is not a census layout")
    return out.with_columns(residents=pl.sum_horizontal(CATEGORIES))


# ----------------------------------------------------------------------------------------------------------
# Age structure and reference rates by age (age standardisation, :mod:`hyperlocal.standardise`)
# ----------------------------------------------------------------------------------------------------------

#: LC3409EW's age bands and health groups, as the labels :func:`hyperlocal.age_standardise` reads.
_LC3409_AGES = {"Age 0 to 15": "0-15", "Age 16 to 49": "16-49", "Age 50 to 64": "50-64", "Age 65 and over": "65+"}
_LC3409_HEALTH = {
    "Very good or good health": "good_or_very_good",
    "Fair health": "fair",
    "Bad or very bad health": "bad_or_very_bad",
    "All categories: General health": "population",
}


def lc3409ew_reference(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Census 2011 LC3409EW (general health by tenure by age, by local authority), summed over the local
    authorities of England and Wales and over tenure: the reference for :func:`hyperlocal.age_standardise`.

    Returns one row per band (``0-15``, ``16-49``, ``50-64``, ``65+``): ``band``, ``population``,
    ``good_or_very_good``, ``fair``, ``bad_or_very_bad`` (counts; the three sum to ``population``)."""
    what = "LC3409EW"
    t = _table(path, what, ["Age", "General Health", "All categories: Tenure"])
    t = t.filter(pl.col("Age").is_in(list(_LC3409_AGES)) & pl.col("General Health").is_in(list(_LC3409_HEALTH)))
    out = (
        t.group_by("Age", "General Health")
        .agg(pl.col("All categories: Tenure").cast(pl.Int64).sum())
        .pivot(on="General Health", index="Age", values="All categories: Tenure")
        .rename(_LC3409_HEALTH | {"Age": "band"})
        .with_columns(pl.col("band").replace_strict(_LC3409_AGES))
        .select("band", "population", "good_or_very_good", "fair", "bad_or_very_bad")
        .sort(pl.col("band").str.extract(r"^(\d+)").cast(pl.Int64))
    )
    if out.height != 4:
        raise InvalidInputError(
            f"{what}: expected the four age bands {list(_LC3409_AGES)}; got {out['band'].to_list()}"
        )
    bad = out.filter(pl.col("good_or_very_good") + pl.col("fair") + pl.col("bad_or_very_bad") != pl.col("population"))
    if bad.height:
        raise InvalidInputError(f"{what}: bands {bad['band'].to_list()}: the health groups do not sum to the total")
    return out


def qs103ew_age_bands(
    path: str | os.PathLike[str], bands: tuple[str, ...] = ("0-15", "16-49", "50-64", "65+"), *, code: str = "code"
) -> pl.DataFrame:
    """Census 2011 QS103EW (age by single year, Nomis cell numbers: ``"0"`` all usual residents, ``"1"`` age
    under 1 … ``"101"`` age 100 and over) as population by age band: ``code`` and one ``age_LO_HI`` /
    ``age_LO_plus`` column per band of ``bands`` (which must tile 0+; default the LC3409EW bands)."""
    from .standardise import band_column, parse_band

    what = "QS103EW"
    t = _table(path, what, ["GEOGRAPHY_CODE", "0", *(str(i) for i in range(1, 102))])
    parsed = sorted((parse_band(b), b) for b in bands)
    at = 0
    for (lo, hi), b in parsed:
        if lo != at:
            raise InvalidInputError(f"{what}: bands {list(bands)} do not tile the ages 0, 1, …, 100+ (at {b!r})")
        at = -1 if hi is None else hi + 1
    if at != -1:
        raise InvalidInputError(f"{what}: bands {list(bands)} do not reach the open band 100+ (end with 'LO+')")
    cols = []
    for (lo, hi), b in parsed:
        top = 100 if hi is None else min(hi, 100)
        cols.append(pl.sum_horizontal([pl.col(str(a + 1)) for a in range(lo, top + 1)]).alias(band_column(b)))
    out = t.select(pl.col("GEOGRAPHY_CODE").alias(code), *cols)
    total = out.select(pl.sum_horizontal(out.columns[1:])).to_series()
    mismatch = np.flatnonzero((total != t["0"]).to_numpy())
    if mismatch.size:
        raise InvalidInputError(f"{what}: rows {mismatch[:5].tolist()}: the ages do not sum to all usual residents")
    return out


#: Census 2021 six age categories (LSOA 2021 file) → band labels.
_AGE6 = {
    "Aged 15 years and under": "0-15",
    "Aged 16 to 24 years": "16-24",
    "Aged 25 to 34 years": "25-34",
    "Aged 35 to 49 years": "35-49",
    "Aged 50 to 64 years": "50-64",
    "Aged 65 years and over": "65+",
}


def age6_lsoa21(path: str | os.PathLike[str], *, code: str = "code") -> pl.DataFrame:
    """Census 2021 age in six categories by LSOA 2021 (long layout: ``lsoa21_code``, ``age_group``,
    ``usual_residents``) as one row per LSOA: ``code`` and ``age_0_15``, ``age_16_24``, ``age_25_34``,
    ``age_35_49``, ``age_50_64``, ``age_65_plus``."""
    from .standardise import band_column

    what = "age (6 categories, LSOA 2021)"
    t = _table(path, what, ["lsoa21_code", "age_group", "usual_residents"])
    unknown = set(t["age_group"].unique().to_list()) - set(_AGE6)
    if unknown:
        raise InvalidInputError(f"{what}: unknown age groups {sorted(unknown)}; expected {list(_AGE6)}")
    wide = t.pivot(on="age_group", index="lsoa21_code", values="usual_residents", aggregate_function="sum")
    missing = [g for g in _AGE6 if g not in wide.columns]
    if missing:
        raise InvalidInputError(f"{what}: age groups {missing} absent")
    return wide.select(
        pl.col("lsoa21_code").alias(code), *[pl.col(g).fill_null(0).alias(band_column(b)) for g, b in _AGE6.items()]
    )


def lsoa_units(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Stable units across the 2011 → 2021 LSOA change, from the ONS LSOA (2011) → LSOA (2021) lookup
    (``F_LSOA11CD``, ``LSOA21CD``): the connected components of the lookup's 2011–2021 pairs. A unit is one
    LSOA that did not change, one 2011 LSOA and the 2021 LSOAs it was split into, the 2011 LSOAs merged into
    one 2021 LSOA, or a group of irregular changes; each unit covers the same ground in both years, so counts
    summed over its 2011 LSOAs and over its 2021 LSOAs are comparable without apportioning anything.

    Returns one row per lookup pair: ``LSOA11CD``, ``LSOA21CD`` and ``unit`` (the unit's smallest 2021 code).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    what = "LSOA 2011 → 2021 lookup"
    t = _table(path, what, ["F_LSOA11CD", "LSOA21CD"]).select(
        pl.col("F_LSOA11CD").cast(pl.String).alias("LSOA11CD"), pl.col("LSOA21CD").cast(pl.String)
    ).unique(maintain_order=True)
    if t.null_count().sum_horizontal()[0]:
        raise InvalidInputError(f"{what} {path}: null codes; expected every row to pair two codes")
    c11 = t["LSOA11CD"].unique().sort()
    c21 = t["LSOA21CD"].unique().sort()
    i11 = t.join(pl.DataFrame({"LSOA11CD": c11, "i": np.arange(c11.len())}), on="LSOA11CD", how="left",
                 maintain_order="left")["i"].to_numpy()  # fmt: skip
    i21 = t.join(pl.DataFrame({"LSOA21CD": c21, "j": np.arange(c21.len())}), on="LSOA21CD", how="left",
                 maintain_order="left")["j"].to_numpy()  # fmt: skip
    n11 = c11.len()
    n = n11 + c21.len()
    g = coo_matrix((np.ones(t.height), (i11, n11 + i21)), shape=(n, n))
    _, label = connected_components(g, directed=False)
    out = t.with_columns(pl.Series("label", label[n11 + i21]))
    first = out.group_by("label").agg(pl.col("LSOA21CD").min().alias("unit"))
    return out.join(first, on="label", how="left", maintain_order="left").select("LSOA11CD", "LSOA21CD", "unit")
