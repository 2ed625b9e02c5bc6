"""Programme evaluation: the change in general health of a programme's areas against a balanced comparator,
with placebo (permutation) inference.

:func:`evaluate_programme` works on *units*: areas (e.g. the stable 2011/2021 LSOA units of
:func:`hyperlocal.ons.lsoa_units`) or H3 cells, one row per unit with the five general-health counts of both
years and baseline covariates. It

1. builds a comparator from the units outside the programme (the *pool*) that resembles the programme on the
   baseline covariates, either by nearest-neighbour matching (Rosenbaum & Rubin 1983, 1985) on the Mahalanobis
   distance, with replacement and a caliper, or by entropy balancing (Hainmueller 2012): weights on the pool
   that reproduce the programme's covariate means exactly;
2. reports the balance: standardised mean differences before and after (Austin 2009: |SMD| < 0.1);
3. estimates the effect as a difference in differences of shares: the programme's change 2011 → 2021 in the
   share of residents in the outcome category (percentage points) minus the comparator's change, crude and,
   with a reference of rates by age, indirectly age-standardised (:func:`hyperlocal.age_standardise`);
4. repeats the whole estimator (comparator rebuilt each time) on ``placebos`` pseudo-programmes drawn from the
   pool with the programme's size and deprivation mix, at random or as spatially contiguous clusters, and
   ranks the observed effect among them (Fisher 1935; Abadie, Diamond & Hainmueller 2010 for placebo
   inference with a few treated units; Rosenbaum 2002).

References: P. R. Rosenbaum, D. B. Rubin (1983), "The central role of the propensity score in observational
studies for causal effects", Biometrika 70:41–55, and (1985) "Constructing a control group using multivariate
matched sampling methods that incorporate the propensity score", American Statistician 39:33–38;
J. Hainmueller (2012), "Entropy balancing for causal effects: a multivariate reweighting method to produce
balanced samples in observational studies", Political Analysis 20:25–46; P. C. Austin (2009), "Balance
diagnostics for comparing the distribution of baseline covariates between treatment groups in
propensity-score matched samples", Statistics in Medicine 28:3083–3107; A. Abadie, A. Diamond,
J. Hainmueller (2010), "Synthetic control methods for comparative case studies", JASA 105:493–505;
P. R. Rosenbaum (2002), *Observational Studies*, 2nd ed., Springer, ch. 2 (randomisation inference);
E. A. Stuart (2010), "Matching methods for causal inference: a review and a look forward", Statistical Science
25:1–21; B. Phipson, G. K. Smyth (2010), "Permutation p-values should never be zero", Statistical Applications
in Genetics and Molecular Biology 9:39.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from ._convert import KEEP, FrameLike, as_frame, is_table_like, require_columns
from .categories import COMBINED, HEALTH_CATEGORIES
from .exceptions import InvalidInputError, SkippedRowsWarning

__all__ = ["evaluate_programme", "ProgrammeEvaluation", "OUTCOMES"]

#: Outcomes: the five census categories and the two combined groups.
OUTCOMES = (*HEALTH_CATEGORIES, *COMBINED)
#: The outcomes that can be age-standardised (the groups the public reference gives by age), with
#: :func:`hyperlocal.age_standardise`'s names.
_STD = {"very_good_or_good": "good_or_very_good", "fair": "fair", "bad_or_very_bad": "bad_or_very_bad"}

Method = Literal["match", "weights"]
Placebo = Literal["random", "blocked"]


@dataclass(frozen=True)
class ProgrammeEvaluation:
    """What :func:`evaluate_programme` found.

    Attributes
    ----------
    effect
        One row per measure (``crude``, and ``age_standardised`` with a reference): the programme's and the
        comparator's shares (%) in both years and their changes (pp), ``effect_pp`` (programme change −
        comparator change), ``p_value`` (two-sided placebo p-value), ``interval_lo``/``interval_hi`` (the
        placebo interval), ``placebo_sd``, the numbers of units and the comparator's effective size.
    balance
        One row per covariate: population-weighted means of the programme, the pool and the comparator,
        ``smd_before``, ``smd_after`` and ``balanced`` (|SMD after| < 0.1).
    placebo
        One row per pseudo-programme: ``draw``, ``effect_pp`` (and ``effect_std_pp``), the programme units
        kept, those dropped by the caliper and whether the weights converged.
    weights
        The comparator: ``id``, ``weight`` (the factor on each pool unit's counts; the comparator's counts are
        Σ weight × counts) and, with matching, ``matched`` (how many programme units it was matched to).
    matches
        Matching: one row per programme unit, ``id``, ``match`` (null when none lies inside the caliper) and
        ``distance`` (Mahalanobis, to the nearest pool unit). Empty for weights.
    audit
        Counts of everything left out or adjusted (units in one year only or without residents, programme
        units without a match inside the caliper and their first ids, placebo failures, the design).
    """

    effect: pl.DataFrame
    balance: pl.DataFrame
    placebo: pl.DataFrame
    weights: pl.DataFrame
    matches: pl.DataFrame
    audit: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Input


def _ids_text(ids: Sequence[Any] | pl.Series) -> str:
    first = ids.head(KEEP).to_list() if isinstance(ids, pl.Series) else list(ids)[:KEEP]
    return ", ".join(str(v) for v in first) + (", …" if len(ids) > KEEP else "")


def _programme_ids(programme: Any, id: str, dtype: pl.DataType) -> pl.Series:
    if is_table_like(programme):
        df = as_frame(programme, "programme")
        require_columns(df, [id], "programme")
        s = df[id]
    elif isinstance(programme, pl.Series):
        s = programme
    elif isinstance(programme, (str, bytes)):
        raise InvalidInputError(f"programme: got the string {programme!r}; expected a collection of unit ids")
    else:
        try:
            s = pl.Series(id, list(programme))
        except TypeError as e:
            raise InvalidInputError(f"programme: expected unit ids (a list, Series or table with {id!r})") from e
    if s.null_count():
        raise InvalidInputError(f"programme: {s.null_count()} null id(s); expected unit ids")
    try:
        return s.cast(dtype).unique().sort().alias(id)
    except pl.exceptions.InvalidOperationError as e:
        raise InvalidInputError(f"programme: ids of type {s.dtype} cannot be compared with {id!r} ({dtype})") from e


def _numeric(df: pl.DataFrame, col: str, ids: pl.Series, what: str) -> np.ndarray:
    s = df[col]
    if not s.dtype.is_numeric() and s.dtype != pl.Boolean:
        raise InvalidInputError(f"{what} {col!r}: expected a numeric column, got {s.dtype}")
    a = s.cast(pl.Float64).to_numpy().astype(np.float64, copy=True)
    bad = s.is_null().to_numpy() | ~np.isfinite(a)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InvalidInputError(
            f"{what} {col!r}: {len(rows)} unit(s) null, NaN or infinite (ids {_ids_text(ids.gather(rows[:KEEP]))}); "
            "expected a value for every unit"
        )
    return a


@dataclass
class _Data:
    ids: pl.Series
    counts_before: dict[str, np.ndarray]
    counts_after: dict[str, np.ndarray]
    n_before: np.ndarray
    n_after: np.ndarray
    x: np.ndarray  # covariates, units × p
    names: list[str]
    strata: np.ndarray | None
    prog: np.ndarray  # bool mask
    audit: dict[str, Any]
    table_before: pl.DataFrame
    table_after: pl.DataFrame


def _prepare(
    before: FrameLike, after: FrameLike, programme: Any, id: str, covariates: Sequence[str],
    categories: Mapping[str, str] | Sequence[str] | None, strata: str | None,
) -> _Data:  # fmt: skip
    from .health import _category_map

    cats = _category_map(categories)
    b = as_frame(before, "before")
    a = as_frame(after, "after")
    require_columns(b, [id, *cats.values()], "before")
    require_columns(a, [id, *cats.values()], "after")
    for t, what in ((b, "before"), (a, "after")):
        if t[id].null_count():
            raise InvalidInputError(f"{what}[{id!r}]: {t[id].null_count()} null id(s); expected one id per unit")
        dup = t[id].is_duplicated()
        if dup.any():
            raise InvalidInputError(
                f"{what}[{id!r}]: ids repeated ({_ids_text(t[id].filter(dup).unique().sort())}); expected one row "
                "per unit"
            )
    b = b.rename({v: k for k, v in cats.items() if v != k})
    a = a.rename({v: k for k, v in cats.items() if v != k})
    audit: dict[str, Any] = {}
    a_ids = a.select(pl.col(id).cast(b[id].dtype, strict=False))
    one_year = pl.concat([b.join(a_ids, on=id, how="anti").select(id),
                          a_ids.join(b.select(id), on=id, how="anti")])  # fmt: skip
    j = b.join(a.with_columns(pl.col(id).cast(b[id].dtype, strict=False)).select(id, *HEALTH_CATEGORIES),
               on=id, how="inner", suffix="__after").sort(id)  # fmt: skip
    for k in HEALTH_CATEGORIES:
        for col in (k, f"{k}__after"):
            v = j[col].cast(pl.Float64)
            bad = (v.is_null() | v.is_nan() | (v < 0)).fill_null(True)
            if bad.any():
                raise InvalidInputError(
                    f"{'after' if col.endswith('__after') else 'before'} {k!r}: {int(bad.sum())} unit(s) null, "
                    f"NaN or negative (ids {_ids_text(j[id].filter(bad))}); expected counts"
                )
    nb = j.select(pl.sum_horizontal(HEALTH_CATEGORIES).cast(pl.Float64)).to_series().to_numpy()
    na = j.select(pl.sum_horizontal([f"{k}__after" for k in HEALTH_CATEGORIES]).cast(pl.Float64)).to_series()
    empty = (nb <= 0) | (na.to_numpy() <= 0)
    if one_year.height or empty.any():
        audit["units_one_year_only"] = one_year.height
        audit["units_without_residents"] = int(empty.sum())
        left = pl.concat([one_year[id].cast(pl.String), j[id].filter(pl.Series(empty)).cast(pl.String)])
        audit["units_left_out_first"] = left.head(KEEP).to_list()
        warnings.warn(
            f"evaluate_programme: {one_year.height} unit(s) in one table only and {int(empty.sum())} without "
            f"residents in a year (e.g. {_ids_text(left)}) are left out",
            SkippedRowsWarning,
            stacklevel=3,
        )
        j = j.filter(pl.Series(~empty))
    ids = j[id]
    pids = _programme_ids(programme, id, ids.dtype)
    known = pids.is_in(ids.implode()) | pids.is_in(one_year[id].implode())
    if (~known).any():
        unknown = pids.filter(~known)
        raise InvalidInputError(
            f"programme: {unknown.len()} id(s) are not units of the tables ({_ids_text(unknown)}); expected ids "
            f"of {id!r}"
        )
    prog = ids.is_in(pids.implode()).to_numpy()
    if not prog.any():
        raise InvalidInputError(
            f"programme: none of its {pids.len()} unit(s) is on the grid with residents in both years; nothing "
            "to evaluate"
        )
    if prog.all():
        raise InvalidInputError(
            f"programme: covers all {prog.size} units; expected some units outside it to form the comparator"
        )
    audit["programme_units_left_out"] = int(pids.len() - prog.sum())
    cb = {k: j[k].cast(pl.Float64).to_numpy() for k in HEALTH_CATEGORIES}
    ca = {k: j[f"{k}__after"].cast(pl.Float64).to_numpy() for k in HEALTH_CATEGORIES}
    for name, parts in COMBINED.items():
        cb[name] = np.sum([cb[p] for p in parts], axis=0)
        ca[name] = np.sum([ca[p] for p in parts], axis=0)
    if not covariates:
        raise InvalidInputError("covariates: expected at least one baseline covariate")
    cols = []
    for c in covariates:
        if c in j.columns and c != id:
            cols.append(_numeric(j, c, ids, "covariate"))
        elif c.endswith("_pct") and c.removesuffix("_pct") in OUTCOMES:
            cols.append(100 * cb[c.removesuffix("_pct")] / np.sum([cb[k] for k in HEALTH_CATEGORIES], axis=0))
        elif c.endswith("_pct") and c.removesuffix("_pct") in j.columns and c.removesuffix("_pct") != id:
            part = _numeric(j, c.removesuffix("_pct"), ids, "covariate")
            cols.append(100 * part / np.sum([cb[k] for k in HEALTH_CATEGORIES], axis=0))
        elif c == "residents":
            cols.append(np.sum([cb[k] for k in HEALTH_CATEGORIES], axis=0))
        else:
            raise InvalidInputError(
                f"covariates: {c!r} is not a column of before ({j.columns[:12]}…) nor a computed covariate "
                f"(<category>_pct for {list(OUTCOMES)}, <column>_pct, or residents)"
            )
    x = np.column_stack(cols)
    sd = x.std(axis=0)
    flat = [c for c, s in zip(covariates, sd) if not s > 0]
    if flat:
        raise InvalidInputError(f"covariates {flat}: zero variance over the units; expected covariates that vary")
    st = None
    if strata is not None:
        require_columns(j, [strata], "before (strata)")
        s = j[strata]
        if s.null_count():
            rows = s.is_null().arg_true()
            raise InvalidInputError(
                f"strata {strata!r}: {rows.len()} unit(s) null (ids {_ids_text(ids.gather(rows))}); expected a "
                "stratum (e.g. a deprivation decile) for every unit"
            )
        st = s.cast(pl.String).to_numpy()
    nbv = np.sum([cb[k] for k in HEALTH_CATEGORIES], axis=0)
    nav = np.sum([ca[k] for k in HEALTH_CATEGORIES], axis=0)
    return _Data(ids=ids, counts_before=cb, counts_after=ca, n_before=nbv, n_after=nav, x=x,
                 names=list(covariates), strata=st, prog=prog, audit=audit,
                 table_before=b.join(j.select(id), on=id, how="semi").sort(id),
                 table_after=a.with_columns(pl.col(id).cast(ids.dtype, strict=False))
                 .join(j.select(id), on=id, how="semi").sort(id))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Comparators


def _colsum(d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """w @ d without BLAS (whose threaded kernels may sum in a thread-count-dependent order)."""
    return (d * w[:, None]).sum(axis=0)


class _Balancer:
    """Entropy balancing (Hainmueller 2012) on the standardised covariates of the pool."""

    def __init__(self, z: np.ndarray, base: np.ndarray, tol: float = 1e-11, max_iter: int = 200) -> None:
        self.z, self.base, self.tol, self.max_iter = z, base, tol, max_iter

    def solve(self, pool: np.ndarray, target: np.ndarray, start: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(weights on all units summing to 1 over ``pool`` (0 elsewhere), λ). Raises InvalidInputError when the
        target is outside the pool's range or Newton's method does not converge."""
        d = self.z[pool] - target
        q = self.base[pool]
        lo, hi = d.min(axis=0), d.max(axis=0)
        if ((lo >= 0) | (hi <= 0)).any():
            raise _Infeasible(np.flatnonzero((lo >= 0) | (hi <= 0)))
        logq = np.log(q)
        dt = np.ascontiguousarray(d.T)
        lam = np.zeros(d.shape[1]) if start is None else start.copy()

        def dual(lm: np.ndarray) -> tuple[float, np.ndarray]:
            eta = (dt * lm[:, None]).sum(axis=0) + logq
            m = eta.max()
            e = np.exp(eta - m)
            s = e.sum()
            return float(m + np.log(s)), e / s

        f, w = dual(lam)
        for _ in range(self.max_iter):
            g = (dt * w).sum(axis=1)
            if np.abs(g).max() < self.tol:
                out = np.zeros(self.z.shape[0])
                out[pool] = w
                return out, lam
            dw = dt * w
            h = (dw[:, None, :] * dt[None, :, :]).sum(axis=2) - np.outer(g, g)
            try:
                step = -np.linalg.solve(h, g)
            except np.linalg.LinAlgError:
                break
            t = 1.0
            while t > 1e-12:
                f_new, w_new = dual(lam + t * step)
                if np.isfinite(f_new) and f_new <= f + 1e-4 * t * float((g * step).sum()):
                    break
                t /= 2
            else:
                break
            lam, f, w = lam + t * step, f_new, w_new
        raise _Infeasible(None)


class _Infeasible(Exception):
    def __init__(self, columns: np.ndarray | None) -> None:
        self.columns = columns


def _whiten(x: np.ndarray, names: list[str]) -> np.ndarray:
    """Covariates whitened by the covariance over all units: Euclidean distances between rows are then
    Mahalanobis distances."""
    from scipy.linalg import LinAlgError, cholesky, solve_triangular

    mu = x.mean(axis=0)
    xc = x - mu
    cov = np.einsum("ij,ik->jk", xc, xc) / max(x.shape[0] - 1, 1)
    try:
        c = cholesky(cov, lower=True)
    except LinAlgError as e:
        raise InvalidInputError(
            f"covariates {names}: collinear (their covariance matrix is singular); drop one of the dependent "
            "covariates"
        ) from e
    return np.ascontiguousarray(solve_triangular(c, xc.T, lower=True).T)


class _Matcher:
    """Nearest-neighbour matching with replacement on the Mahalanobis distance, with a caliper, against a
    fixed pool (placebos: minus the pseudo-programme)."""

    def __init__(self, z: np.ndarray, pool: np.ndarray, caliper: float | None) -> None:
        from scipy.spatial import cKDTree

        self.z, self.pool, self.caliper = z, pool, caliper
        self.tree = cKDTree(z[pool])

    def match(self, units: np.ndarray, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(index of each unit's match into all units, or −1 outside the caliper; the distances)."""
        n_pool = self.pool.size
        k = 1 if exclude is None else min(8, n_pool)
        d, j = self.tree.query(self.z[units], k=k)
        if k == 1:
            d, j = d[:, None], j[:, None]
        if exclude is not None:
            ok = ~exclude[self.pool[j]]
            first = ok.argmax(axis=1)
            has = ok[np.arange(len(units)), first]
            dist = d[np.arange(len(units)), first]
            idx = j[np.arange(len(units)), first]
            for r in np.flatnonzero(~has):  # all k nearest excluded (rare): look further
                kk = k
                while True:
                    kk = min(kk * 4, n_pool)
                    dd, jj = self.tree.query(self.z[units[r]], k=kk)
                    okr = ~exclude[self.pool[jj]]
                    if okr.any() or kk == n_pool:
                        break
                if okr.any():
                    f = int(okr.argmax())
                    dist[r], idx[r], has[r] = dd[f], jj[f], True
                else:
                    dist[r] = np.inf
        else:
            dist, idx = d[:, 0], j[:, 0]
        out = self.pool[idx]
        if self.caliper is not None:
            out = np.where(dist <= self.caliper, out, -1)
        out = np.where(np.isfinite(dist), out, -1)
        return out, dist


# ---------------------------------------------------------------------------------------------------------
# Effects


@dataclass
class _Outcome:
    xb: np.ndarray
    nb: np.ndarray
    xa: np.ndarray
    na: np.ndarray
    ob: np.ndarray | None = None  # standardised: observed and expected per unit, each year
    eb: np.ndarray | None = None
    oa: np.ndarray | None = None
    ea: np.ndarray | None = None
    share: float = float("nan")  # the reference's crude share of the outcome (%)


def _shares(o: _Outcome, wp: np.ndarray, wc: np.ndarray) -> dict[str, float]:
    """Shares (%) of the programme (unit factors wp) and comparator (wc) in both years, crude and standardised."""

    def sh(x: np.ndarray, n: np.ndarray, w: np.ndarray) -> float:
        den = float((w * n).sum())
        return 100 * float((w * x).sum()) / den if den > 0 else float("nan")

    r = {"p0": sh(o.xb, o.nb, wp), "p1": sh(o.xa, o.na, wp), "c0": sh(o.xb, o.nb, wc), "c1": sh(o.xa, o.na, wc)}
    if o.ob is not None:
        assert o.eb is not None and o.oa is not None and o.ea is not None
        r |= {"sp0": sh(o.ob, o.eb, wp) * o.share / 100, "sp1": sh(o.oa, o.ea, wp) * o.share / 100,
              "sc0": sh(o.ob, o.eb, wc) * o.share / 100, "sc1": sh(o.oa, o.ea, wc) * o.share / 100}  # fmt: skip
    return r


def _effects(r: dict[str, float]) -> tuple[float, float]:
    crude = (r["p1"] - r["p0"]) - (r["c1"] - r["c0"])
    std = (r["sp1"] - r["sp0"]) - (r["sc1"] - r["sc0"]) if "sp0" in r else float("nan")
    return crude, std


def _standardised(d: _Data, reference: FrameLike, outcome: str, id: str) -> _Outcome:
    from .standardise import _BAND, age_standardise

    if outcome not in _STD:
        raise InvalidInputError(
            f"standardise: the outcome {outcome!r} cannot be age-standardised with a reference by age; expected one "
            f"of {list(_STD)}"
        )
    src = _STD[outcome]
    ref = as_frame(reference, "standardise")
    out = {}
    for y, t in (("before", d.table_before), ("after", d.table_after)):
        ages = [c for c in t.columns if c.startswith("age_") and _BAND.match(c)]
        if not ages:
            raise InvalidInputError(
                f"standardise: {y} has no population columns; expected age_LO_HI / age_LO_plus columns (the "
                "population by age band, in bands that tile the reference bands)"
            )
        try:
            s = age_standardise(t.select(id, *ages, *HEALTH_CATEGORIES), ref, code=id)
        except InvalidInputError as e:
            raise InvalidInputError(f"standardise ({y}): {e}") from e
        out[y] = (s[f"{src}_observed"].to_numpy(), s[f"{src}_expected"].to_numpy())
    require_columns(ref, ["population", src], "standardise")
    share = 100 * float(ref[src].cast(pl.Float64).sum()) / float(ref["population"].cast(pl.Float64).sum())
    o = _Outcome(d.counts_before[outcome], d.n_before, d.counts_after[outcome], d.n_after)
    o.ob, o.eb = out["before"]
    o.oa, o.ea = out["after"]
    o.share = share
    return o


# ---------------------------------------------------------------------------------------------------------
# Placebo draws


def _adjacency(d: _Data, id: str, neighbours: FrameLike | None, coordinates: tuple[str, str] | None,
               k: int) -> list[np.ndarray]:  # fmt: skip
    """Neighbour lists (indices) of every unit: from a table of id pairs, k nearest centroids, or H3 rings."""
    n = d.ids.len()
    if neighbours is not None:
        nb = as_frame(neighbours, "neighbours")
        require_columns(nb, [id, "neighbour"], "neighbours")
        index = pl.DataFrame({id: d.ids, "_i": np.arange(n)})
        e = nb.select(pl.col(id).cast(d.ids.dtype, strict=False),
                      pl.col("neighbour").cast(d.ids.dtype, strict=False))  # fmt: skip
        e = e.join(index, on=id).join(index.rename({id: "neighbour", "_i": "_j"}), on="neighbour")
        src, dst = e["_i"].to_numpy(), e["_j"].to_numpy()
    elif coordinates is not None:
        from scipy.spatial import cKDTree

        require_columns(d.table_before, list(coordinates), "before (coordinates)")
        xy = np.column_stack([_numeric(d.table_before, c, d.ids, "coordinate") for c in coordinates])
        kk = min(k + 1, n)
        _, j = cKDTree(xy).query(xy, k=kk)
        src = np.repeat(np.arange(n), kk - 1)
        dst = j[:, 1:].ravel()
    elif d.ids.dtype == pl.UInt64:
        from .spatial import neighbours as rings

        g = rings(d.ids)
        index = pl.DataFrame({"cell": d.ids, "_i": np.arange(n)})
        e = g.join(index, on="cell").join(index.rename({"cell": "neighbour", "_i": "_j"}), on="neighbour")
        src, dst = e["_i"].to_numpy(), e["_j"].to_numpy()
    else:
        raise InvalidInputError(
            "placebo='blocked' needs the units' adjacency: neighbours = a table of (id, neighbour) pairs, or "
            "coordinates = (x, y) columns of before (k nearest units), or H3 cells as ids"
        )
    both = np.concatenate([src, dst]), np.concatenate([dst, src])  # symmetric
    order = np.lexsort((both[1], both[0]))
    s, t = both[0][order], both[1][order]
    keep = np.ones(s.size, bool)
    keep[1:] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
    s, t = s[keep], t[keep]
    starts = np.searchsorted(s, np.arange(n + 1))
    return [t[starts[i]:starts[i + 1]] for i in range(n)]


def _components(units: np.ndarray, adj: list[np.ndarray], n: int) -> list[int]:
    """Sizes of the connected clusters of ``units`` in the adjacency (largest first)."""
    inside = np.zeros(n, bool)
    inside[units] = True
    seen = np.zeros(n, bool)
    sizes = []
    for u in units:
        if seen[u]:
            continue
        seen[u] = True
        stack, size = [u], 0
        while stack:
            v = stack.pop()
            size += 1
            for w in adj[v]:
                if inside[w] and not seen[w]:
                    seen[w] = True
                    stack.append(w)
        sizes.append(size)
    return sorted(sizes, reverse=True)


class _Draws:
    """Pseudo-programmes from the pool: the programme's size and stratum mix, at random or as clusters."""

    def __init__(self, d: _Data, pool: np.ndarray, kind: str, adj: list[np.ndarray] | None,
                 rng: np.random.Generator) -> None:  # fmt: skip
        self.n, self.pool, self.kind, self.adj, self.rng = d.ids.len(), pool, kind, adj, rng
        prog = np.flatnonzero(d.prog)
        self.m = prog.size
        st = d.strata if d.strata is not None else np.zeros(self.n, dtype=object)
        self.st = st
        levels, counts = np.unique(st[prog].astype(str), return_counts=True)
        self.quota = dict(zip(levels.tolist(), counts.tolist()))
        self.by = {lv: pool[st[pool].astype(str) == lv] for lv in self.quota}
        if pool.size < self.m:
            raise InvalidInputError(
                f"placebos: {pool.size} candidate units outside the programme, fewer than its {self.m} units; "
                "pseudo-programmes of its size cannot be drawn"
            )
        # Random draws reproduce the mix exactly, so every stratum needs enough candidates; blocked draws only
        # prefer the strata still owed units (their mix is approximate and reported), so only the total counts.
        short = {lv: (c, self.by[lv].size) for lv, c in self.quota.items() if self.by[lv].size < c}
        if short and kind == "random":
            text = "; ".join(
                f"stratum {lv!r}: {c} programme units, {have} candidates" for lv, (c, have) in short.items()
            )
            raise InvalidInputError(
                f"placebos: fewer candidate units than programme units in a stratum ({text}); merge strata or drop "
                "strata="
            )
        if kind == "blocked":
            assert adj is not None
            self.sizes = _components(prog, adj, self.n)
            self.in_pool = np.zeros(self.n, bool)
            self.in_pool[pool] = True
            self.stratum_code = {lv: i for i, lv in enumerate(self.quota)}
            self.code = np.array([self.stratum_code.get(str(s), -1) for s in st])
            self.by_code = [self.by[lv] for lv in self.stratum_code]

    def draw(self) -> tuple[np.ndarray, int]:
        """(units of one pseudo-programme, the number of units outside the programme's stratum mix)."""
        if self.kind == "random":
            parts = [self.rng.choice(self.by[lv], size=c, replace=False) for lv, c in self.quota.items()]
            return np.sort(np.concatenate(parts)), 0
        return self._blocked()

    def _blocked(self) -> tuple[np.ndarray, int]:
        """Clusters grown from random seeds (seeds drawn from the strata still owed units), one per programme
        cluster, each to that cluster's size: a random frontier unit is added at each step, preferring units
        of strata still owed; a cluster that runs out of free neighbours continues from a new seed."""
        rng, adj = self.rng, self.adj
        assert adj is not None
        owed = np.array([self.quota[lv] for lv in self.quota], dtype=np.int64)
        used = ~self.in_pool.copy()
        chosen: list[int] = []
        for size in self.sizes:
            grown = 0
            frontier: list[int] = []
            while grown < size:
                if not frontier:
                    s = self._seed(owed, used)
                    if s < 0:
                        break
                    frontier = [s]
                pref = [i for i, v in enumerate(frontier) if self.code[v] >= 0 and owed[self.code[v]] > 0]
                pick = pref[int(rng.integers(len(pref)))] if pref else int(rng.integers(len(frontier)))
                v = frontier.pop(pick)
                if used[v]:
                    continue
                used[v] = True
                chosen.append(v)
                grown += 1
                if self.code[v] >= 0:
                    owed[self.code[v]] -= 1
                frontier.extend(int(w) for w in adj[v] if not used[w])
        off = int(np.abs(owed).sum())
        return np.sort(np.array(chosen, dtype=np.int64)), off

    def _seed(self, owed: np.ndarray, used: np.ndarray) -> int:
        """A free pool unit of a stratum still owed units (strata drawn in proportion to what they are owed),
        or any free pool unit; −1 when none is left."""
        levels = np.flatnonzero(owed > 0)
        for _ in range(32):  # rejection sampling: nearly always succeeds at once
            if levels.size:
                lv = levels[int(self.rng.choice(levels.size, p=owed[levels] / owed[levels].sum()))]
                cands = self.by_code[lv]
            else:
                cands = self.pool
            v = int(cands[int(self.rng.integers(cands.size))])
            if not used[v]:
                return v
        free = self.pool[~used[self.pool]]
        return int(free[int(self.rng.integers(free.size))]) if free.size else -1


# ---------------------------------------------------------------------------------------------------------
# The estimator


def _weighted_stats(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = w.sum()
    m = _colsum(x, w) / s
    v = _colsum((x - m) ** 2, w) / s
    return m, v


def evaluate_programme(
    before: FrameLike,
    after: FrameLike,
    programme: Any,
    *,
    covariates: Sequence[str],
    id: str = "code",
    outcome: str = "bad_or_very_bad",
    method: Method = "match",
    caliper: float | None = 1.0,
    on_unmatched: Literal["raise", "drop"] = "raise",
    placebos: int = 999,
    placebo: Placebo = "random",
    strata: str | None = None,
    neighbours: FrameLike | None = None,
    coordinates: tuple[str, str] | None = None,
    k: int = 6,
    standardise: FrameLike | None = None,
    categories: Mapping[str, str] | Sequence[str] | None = None,
    labels: tuple[str, str] = ("2011", "2021"),
    confidence: float = 0.95,
    seed: int = 0,
    chart: str | os.PathLike[str] | None = None,
    balance_chart: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> ProgrammeEvaluation:
    """Effect of a programme on the change in general health, against a balanced comparator, with placebo
    inference.

    Parameters
    ----------
    before, after
        One row per unit (area or cell), keyed by ``id``, with the five general-health counts (very good …
        very bad; ``categories`` renames them as in :func:`hyperlocal.health_change`) of the baseline and the
        follow-up census. ``before`` also holds the covariate columns (and ``strata`` and ``coordinates``);
        with ``standardise`` each holds its year's population by age band (``age_LO_HI`` / ``age_LO_plus``).
        Units in one table only, or without residents in a year, are left out with a
        :class:`~hyperlocal.exceptions.SkippedRowsWarning` and counted in ``audit``.
    programme
        The programme's units: ids (a list, Series, or a table with ``id``). Every id must be a unit of the
        tables.
    covariates
        Baseline covariates to balance: columns of ``before``, or computed from its counts: ``<outcome>_pct``
        (the baseline share, %, e.g. ``bad_or_very_bad_pct``, ``very_good_pct``), ``<column>_pct`` for any count
        column of ``before`` (100 × column / residents, e.g. ``age_65_plus_pct``) and ``residents``.
        Typical: the 2011 health shares, the IMD score, the share aged 65+, rurality or density.
    outcome
        The category whose share is compared: one of :data:`OUTCOMES` (default ``bad_or_very_bad``).
    method
        ``"match"``: each programme unit is matched to its nearest pool unit on the Mahalanobis distance (the
        Euclidean distance after whitening the covariates by their covariance over all units; Rosenbaum &
        Rubin 1985), with replacement; the matched unit's counts are scaled to the programme unit's baseline
        population, so the comparator stands for the programme's population unit by unit.
        ``"weights"``: entropy balancing (Hainmueller 2012): weights w_j ∝ n_j exp(λ·x_j) on the pool units
        (n_j the baseline residents) that make the comparator's population-weighted covariate means equal the
        programme's exactly; λ solves the convex dual by Newton's method with a backtracking line search (to
        1e-11 in standard-deviation units).
    caliper
        Matching only: the largest Mahalanobis distance accepted for a match (in pooled standard deviations;
        default 1.0). ``None``: no caliper.
    on_unmatched
        Programme units with no pool unit inside the caliper: ``"raise"`` (default) names them; ``"drop"``
        leaves them out of the programme (the estimate is then for the matched programme units only), with a
        :class:`~hyperlocal.exceptions.SkippedRowsWarning`, counted in ``audit`` with their first ids.
        Placebo programmes always drop (and count) their unmatched units.
    placebos
        Number of pseudo-programmes (0: no placebo inference).
    placebo
        ``"random"``: pseudo-programmes of the programme's size drawn at random from the pool, with the
        programme's number of units in each stratum of ``strata`` (e.g. IMD decile). ``"blocked"``: spatially
        contiguous clusters (programme areas cluster, and so do health changes; random placebos ignore that
        and make the p-value too small): one cluster per connected cluster of the programme, of the same size,
        grown from a random seed over the units' adjacency by adding a random neighbouring pool unit at each
        step, preferring strata still owed units; the stratum mix is then approximate (``mix_difference`` in the
        ``placebo`` table: Σ over strata of |programme count − placebo count|; the audit's
        ``placebo_units_outside_mix_mean`` is half its mean, the units placed in another stratum), and a stratum
        with fewer candidates than programme units is no error.
    strata
        A column of ``before`` (e.g. the IMD 2019 decile) whose mix the pseudo-programmes reproduce.
    neighbours, coordinates, k
        The adjacency for ``placebo="blocked"``: a table of ``id``, ``neighbour`` pairs; or ``coordinates``,
        two columns of ``before`` (e.g. BNG easting, northing of population-weighted centroids) joining each
        unit to its ``k`` nearest units (made symmetric); or, for H3 cells as ids (UInt64), the cells sharing
        an edge.
    standardise
        A reference of rates by age band (:func:`hyperlocal.ons.lc3409ew_reference`): the effect is also given
        on indirectly age-standardised shares (Σ observed / Σ expected × the reference share, over the
        programme and over the comparator's weighted units, each year). Only ``very_good_or_good``, ``fair``
        and ``bad_or_very_bad`` can be standardised.
    labels
        The two years' names in the output columns.
    confidence
        Level of the placebo interval.
    seed
        Seed of the placebo draws (``numpy.random.Generator(PCG64(seed))``). The result does not depend on
        the number of threads: the draws are sequential and no reduction uses threaded BLAS.
    chart, balance_chart
        PNG paths: the placebo distribution with the observed effect marked, and the balance (Love) plot of
        |SMD| before and after. Written atomically.

    Returns
    -------
    ProgrammeEvaluation
        ``effect``, ``balance``, ``placebo``, ``weights`` and ``audit`` (see :class:`ProgrammeEvaluation`).

    Notes
    -----
    **Effect.** Shares are computed from summed counts (population-weighted): the programme's share in a year
    is Σ x / Σ n over its units; the comparator's is Σ w_j x_j / Σ w_j n_j with the unit factors w_j of the
    matching or the weights. The effect is (programme 2021 − 2011) − (comparator 2021 − 2011), in percentage
    points: a difference in differences, which removes fixed differences between the groups but assumes the
    comparator's change is what the programme's would have been (parallel trends, given the covariates).

    **Balance.** SMD = (programme mean − comparator mean) / √((s²_programme + s²_pool)/2), with
    population-weighted means and variances and, before and after, the same denominator (the unadjusted
    groups'), so the column shows how far the means moved (Austin 2009; Stuart 2010). |SMD| < 0.1 is the usual
    threshold for negligible imbalance. Entropy balancing makes every SMD 0 by construction; matching does not.

    **Placebo p-value.** p = (1 + #{|placebo effect| ≥ |observed effect|}) / (1 + B), two-sided, over the B
    pseudo-programmes whose estimator ran (Phipson & Smyth 2010: never 0). It is the probability, if the
    programme had no effect and its units were exchangeable with the pseudo-programmes (same size, same
    deprivation mix, and for ``"blocked"`` the same clustering), of an effect at least as large. It is not a
    test of parallel trends, it conditions on the chosen strata and covariates, and with B placebos it cannot
    go below 1/(B + 1). The placebo interval inverts the test under a constant additive effect: observed −
    the upper and lower (1 ± confidence)/2 quantiles of the placebo effects. The p-value ranks |effects| about
    0; when the placebo effects are not centred on 0 (a bias of the estimator in this pool, e.g. matching
    with replacement among few close units), the interval, which is centred by construction, is the better
    summary. Placebos whose comparator cannot be built (no weights, or no match inside the caliper for any
    unit) are left out and counted (``audit["placebos_failed"]``, with a warning).

    **Limits of the weights.** Entropy weights exist only if the programme's means lie strictly inside the
    convex hull of the pool's covariates: a covariate whose programme mean equals the pool's minimum or maximum
    (a wholly urban programme's rural share of 0) has none, and the error names it.

    Examples
    --------
    >>> import polars as pl, hyperlocal as hl
    >>> cats = ["very_good", "good", "fair", "bad", "very_bad"]
    >>> def units(bad):
    ...     return pl.DataFrame({"code": ["A", "B", "P1", "P2", "P3"], "x": [1.0, 5.0, 1.2, 4.9, 9.0],
    ...                          **{c: [0.0] * 5 for c in cats}}).with_columns(
    ...         good=100 - pl.Series(bad, dtype=pl.Float64), bad=pl.Series(bad, dtype=pl.Float64))
    >>> r = hl.evaluate_programme(units([10, 10, 10, 10, 10]), units([12, 12, 10, 11, 30]), ["A", "B"],
    ...                           covariates=["x"], caliper=None, placebos=0)
    >>> r.matches["match"].to_list(), round(r.effect["effect_pp"][0], 2)
    (['P1', 'P2'], 1.5)
    """
    if method not in ("match", "weights"):
        raise InvalidInputError(f"method: got {method!r}; expected 'match' or 'weights'")
    if placebo not in ("random", "blocked"):
        raise InvalidInputError(f"placebo: got {placebo!r}; expected 'random' or 'blocked'")
    if on_unmatched not in ("raise", "drop"):
        raise InvalidInputError(f"on_unmatched: got {on_unmatched!r}; expected 'raise' or 'drop'")
    if outcome not in OUTCOMES:
        raise InvalidInputError(f"outcome: got {outcome!r}; expected one of {list(OUTCOMES)}")
    if isinstance(placebos, bool) or not isinstance(placebos, (int, np.integer)) or placebos < 0:
        raise InvalidInputError(f"placebos: got {placebos!r}; expected an integer >= 0")
    if caliper is not None and not caliper > 0:
        raise InvalidInputError(f"caliper: got {caliper!r}; expected a positive distance or None")
    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence: got {confidence!r}; expected a number in (0, 1)")
    if isinstance(covariates, str):
        covariates = [covariates]
    d = _prepare(before, after, programme, id, list(covariates), categories, strata)
    audit = d.audit | {"method": method, "placebo": placebo, "placebos_requested": int(placebos), "seed": seed,
                       "caliper": caliper if method == "match" else None}  # fmt: skip
    out = _Outcome(d.counts_before[outcome], d.n_before, d.counts_after[outcome], d.n_after)
    if standardise is not None:
        out = _standardised(d, standardise, outcome, id)
    n = d.ids.len()
    prog = np.flatnonzero(d.prog)
    pool = np.flatnonzero(~d.prog)
    zscale = d.x.std(axis=0)
    zs = (d.x - d.x.mean(axis=0)) / zscale

    matcher = _Matcher(_whiten(d.x, d.names), pool, caliper) if method == "match" else None
    balancer = _Balancer(zs, d.n_before) if method == "weights" else None

    def estimate(units: np.ndarray, exclude: np.ndarray | None, start: np.ndarray | None,
                 observed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]]:  # fmt: skip
        """(programme factors, comparator factors, λ, info) for the programme ``units``."""
        wp = np.zeros(n)
        info: dict[str, Any] = {}
        if matcher is not None:
            m, dist = matcher.match(units, exclude)
            bad = m < 0
            info["dropped"] = int(bad.sum())
            if observed:
                info["unmatched_ids"] = d.ids.gather(units[bad]).head(KEEP).to_list()
                info["distance_max"] = float(dist[~bad].max()) if (~bad).any() else float("nan")
                info["distance_median"] = float(np.median(dist[~bad])) if (~bad).any() else float("nan")
            kept, mk = units[~bad], m[~bad]
            wp[kept] = 1.0
            wc = np.bincount(mk, weights=d.n_before[kept] / d.n_before[mk], minlength=n)
            info["matched"] = np.bincount(mk, minlength=n)
            if observed:
                info["pairs"] = (m, dist)
            return wp, wc, None, info
        assert balancer is not None
        wp[units] = 1.0
        pool_units = pool if exclude is None else pool[~exclude[pool]]
        target = _colsum(zs[units], d.n_before[units]) / d.n_before[units].sum()
        w, lam = balancer.solve(pool_units, target, start)
        info["dropped"] = 0
        return wp, w / np.where(d.n_before > 0, d.n_before, 1.0), lam, info

    try:
        wp, wc, lam, info = estimate(prog, None, None, True)
    except _Infeasible as e:
        cols = [d.names[i] for i in e.columns] if e.columns is not None else None
        raise InvalidInputError(
            "method='weights': no weights on the pool reproduce the programme's covariate means: "
            + (f"the programme's mean of {cols} lies outside the pool's range" if cols else
               "Newton's method did not converge (the means lie on or outside the convex hull of the pool's "
               "covariates)")
            + "; drop or coarsen those covariates, or use method='match'"
        ) from None
    if info["dropped"]:
        audit["programme_unmatched"] = info["dropped"]
        audit["programme_unmatched_first"] = info["unmatched_ids"]
        text = (f"{info['dropped']} of {prog.size} programme unit(s) have no pool unit within the caliper "
                f"({caliper}) (ids {_ids_text(info['unmatched_ids'])})")  # fmt: skip
        if on_unmatched == "raise":
            raise InvalidInputError(f"{text}; widen the caliper, or on_unmatched='drop' to leave them out")
        warnings.warn(f"evaluate_programme: {text}; left out of the programme", SkippedRowsWarning, stacklevel=2)
        if info["dropped"] == prog.size:
            raise InvalidInputError(f"{text}: none is left to evaluate")
    if matcher is not None:
        audit["match_distance_median"] = info["distance_median"]
        audit["match_distance_max"] = info["distance_max"]
    obs = _shares(out, wp, wc)
    crude, std = _effects(obs)

    # Placebos
    rng = np.random.Generator(np.random.PCG64(seed))
    eff = np.full(placebos, np.nan)
    eff_std = np.full(placebos, np.nan)
    kept_n = np.zeros(placebos, np.int64)
    dropped = np.zeros(placebos, np.int64)
    off_mix = np.zeros(placebos, np.int64)
    ok = np.zeros(placebos, bool)
    if placebos:
        adj = _adjacency(d, id, neighbours, coordinates, k) if placebo == "blocked" else None
        draws = _Draws(d, pool, placebo, adj, rng)
        if adj is not None:
            audit["programme_clusters"] = len(draws.sizes)
            audit["programme_largest_cluster"] = draws.sizes[0]
        excl = np.zeros(n, bool)
        for b in range(placebos):
            units, off_mix[b] = draws.draw()
            excl[units] = True
            try:
                pwp, pwc, _, pinfo = estimate(units, excl, lam, False)
            except _Infeasible:
                excl[units] = False
                continue
            excl[units] = False
            if pwp.sum() == 0:
                continue
            eff[b], eff_std[b] = _effects(_shares(out, pwp, pwc))
            kept_n[b] = int(pwp.sum())
            dropped[b] = pinfo["dropped"]
            ok[b] = True
        if (~ok).any():
            audit["placebos_failed"] = int((~ok).sum())
            warnings.warn(
                f"evaluate_programme: {int((~ok).sum())} of {placebos} placebo programmes had no balancing "
                "weights or no match; the p-value uses the others",
                SkippedRowsWarning,
                stacklevel=2,
            )
    audit["placebos_used"] = int(ok.sum())
    if placebos and placebo == "blocked":
        audit["placebo_units_outside_mix_mean"] = float(off_mix[ok].mean() / 2) if ok.any() else None

    def infer(obs_eff: float, e: np.ndarray) -> dict[str, float | None]:
        e = e[ok & np.isfinite(e)]
        if not e.size or not np.isfinite(obs_eff):
            return {"p_value": None, "interval_lo": None, "interval_hi": None, "placebo_sd": None}
        alpha = 1 - confidence
        q_lo, q_hi = np.quantile(e, [alpha / 2, 1 - alpha / 2])
        p = (1 + int((np.abs(e) >= abs(obs_eff) - 1e-12).sum())) / (1 + e.size)
        return {"p_value": p, "interval_lo": obs_eff - float(q_hi), "interval_hi": obs_eff - float(q_lo),
                "placebo_sd": float(e.std(ddof=1)) if e.size > 1 else None}  # fmt: skip

    y0, y1 = labels
    wcn = wc * d.n_before
    n_eff = float(wcn.sum() ** 2 / (wcn**2).sum()) if wcn.sum() > 0 else 0.0
    common = {"outcome": outcome, "method": method, "placebo": placebo,
              "n_programme": int(wp.sum()), "n_programme_dropped": int(info["dropped"]),
              "n_comparator": int((wc > 0).sum()), "comparator_effective_n": n_eff,
              "placebos": int(ok.sum())}  # fmt: skip
    rows = [{"measure": "crude", f"programme_pct_{y0}": obs["p0"], f"programme_pct_{y1}": obs["p1"],
             "programme_change_pp": obs["p1"] - obs["p0"], f"comparator_pct_{y0}": obs["c0"],
             f"comparator_pct_{y1}": obs["c1"], "comparator_change_pp": obs["c1"] - obs["c0"], "effect_pp": crude,
             **infer(crude, eff), **common}]  # fmt: skip
    if standardise is not None:
        rows.append({"measure": "age_standardised", f"programme_pct_{y0}": obs["sp0"],
                     f"programme_pct_{y1}": obs["sp1"], "programme_change_pp": obs["sp1"] - obs["sp0"],
                     f"comparator_pct_{y0}": obs["sc0"], f"comparator_pct_{y1}": obs["sc1"],
                     "comparator_change_pp": obs["sc1"] - obs["sc0"], "effect_pp": std, **infer(std, eff_std),
                     **common})  # fmt: skip
    effect = pl.DataFrame(rows, schema_overrides={"p_value": pl.Float64, "interval_lo": pl.Float64,
                                                  "interval_hi": pl.Float64, "placebo_sd": pl.Float64})  # fmt: skip
    effect = effect.select("outcome", "measure", *[c for c in effect.columns if c not in ("outcome", "measure")])

    # Balance (population-weighted, the unadjusted groups' SD in the denominator)
    used = wp > 0
    mp, vp = _weighted_stats(d.x[used], d.n_before[used])
    mu, vu = _weighted_stats(d.x[pool], d.n_before[pool])
    cmask = wc > 0
    mc, _ = _weighted_stats(d.x[cmask], wcn[cmask])
    denom = np.sqrt((vp + vu) / 2)
    balance = pl.DataFrame({
        "covariate": d.names, "programme_mean": mp, "pool_mean": mu, "comparator_mean": mc,
        "programme_sd": np.sqrt(vp), "pool_sd": np.sqrt(vu), "smd_before": (mp - mu) / denom,
        "smd_after": (mp - mc) / denom,
    }).with_columns(balanced=pl.col("smd_after").abs() < 0.1)  # fmt: skip
    audit["max_abs_smd_before"] = float(np.abs((mp - mu) / denom).max())
    audit["max_abs_smd_after"] = float(np.abs((mp - mc) / denom).max())

    placebo_t = pl.DataFrame({"draw": np.arange(1, placebos + 1, dtype=np.int64), "effect_pp": eff,
                              "effect_std_pp": eff_std, "n_programme": kept_n, "dropped": dropped,
                              "mix_difference": off_mix, "ok": ok})  # fmt: skip
    if standardise is None:
        placebo_t = placebo_t.drop("effect_std_pp")
    placebo_t = placebo_t.with_columns(pl.col(pl.Float64).fill_nan(None))
    wt = {id: d.ids.filter(pl.Series(cmask)), "weight": wc[cmask]}
    if method == "match":
        wt["matched"] = info["matched"][cmask]
    weights = pl.DataFrame(wt)
    if method == "match":
        pm, pdist = info["pairs"]
        matches = pl.DataFrame({id: d.ids.gather(prog), "match": d.ids.gather(np.maximum(pm, 0)), "distance": pdist})
        matches = matches.with_columns(pl.when(pl.Series(pm >= 0)).then(pl.col("match")).alias("match"))
    else:
        matches = pl.DataFrame(schema={id: d.ids.dtype, "match": d.ids.dtype, "distance": pl.Float64})
    result = ProgrammeEvaluation(effect=effect.with_columns(pl.col(pl.Float64).fill_nan(None)), balance=balance,
                                 placebo=placebo_t, weights=weights, matches=matches, audit=audit)  # fmt: skip
    if chart is not None:
        placebo_chart(result, chart, title=title, labels=labels)
    if balance_chart is not None:
        love_plot(result, balance_chart, title=title)
    return result


# ---------------------------------------------------------------------------------------------------------
# Charts


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def love_plot(result: ProgrammeEvaluation, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Balance (Love) plot: |SMD| of each covariate before (pool) and after (comparator), with the 0.1 line."""
    from .io import atomic_path

    plt = _pyplot()
    t = result.balance
    names = t["covariate"].to_list()
    y = np.arange(len(names))[::-1]
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.45 * len(names)), dpi=120)
    before = t["smd_before"].abs().to_numpy()
    after = t["smd_after"].abs().to_numpy()
    for yi, b, a in zip(y, before, after):
        ax.plot([b, a], [yi, yi], color="#bbbbbb", linewidth=1, zorder=1)
    ax.scatter(before, y, s=40, facecolors="white", edgecolors="#762a83", linewidths=1.5, label="Before (all non-programme units)", zorder=2)  # noqa: E501
    ax.scatter(after, y, s=40, color="#1b7837", label="After (comparator)", zorder=3)
    ax.axvline(0.1, color="black", linestyle="--", linewidth=0.8)
    ax.text(0.1, y.max() + 0.6, " 0.1", fontsize=8, va="bottom")
    ax.set_yticks(y, [n.replace("_", " ") for n in names])
    ax.set_ylim(-0.7, y.max() + 1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("|standardised mean difference| (population-weighted)")
    method = result.audit.get("method", "")
    ax.set_title(title or f"Covariate balance, programme against {'matched' if method == 'match' else 'weighted'} comparator")  # noqa: E501
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def placebo_chart(
    result: ProgrammeEvaluation, path: str | os.PathLike[str], *, title: str | None = None,
    labels: tuple[str, str] = ("2011", "2021"),
) -> Path:  # fmt: skip
    """Histogram of the placebo effects (one panel per measure) with the observed effect marked and its
    placebo p-value."""
    from .io import atomic_path

    plt = _pyplot()
    measures = result.effect["measure"].to_list()
    cols = {"crude": "effect_pp", "age_standardised": "effect_std_pp"}
    fig, axes = plt.subplots(1, len(measures), figsize=(5.5 * len(measures), 4.2), dpi=120, squeeze=False)
    for ax, row in zip(axes[0], result.effect.iter_rows(named=True)):
        e = result.placebo[cols[row["measure"]]].drop_nulls().to_numpy() if result.placebo.height else np.array([])
        obs = row["effect_pp"]
        if e.size:
            ax.hist(e, bins=min(50, max(10, e.size // 20)), color="#9e9ac8", edgecolor="white")
        ax.axvline(obs, color="#b2182b", linewidth=2, label=f"observed {obs:+.2f} pp")
        ax.axvline(0, color="black", linewidth=0.6)
        p = row["p_value"]
        ptxt = f"p = {p:.3f}" if p is not None else "no placebos"
        ax.set_title(f"{row['measure'].replace('_', '-')}: {ptxt} ({row['placebos']} {row['placebo']} placebos)",
                     fontsize=10)  # fmt: skip
        ax.set_xlabel(f"effect on {row['outcome'].replace('_', ' ')}, {labels[0]}–{labels[1]} (pp)")
        ax.set_ylabel("placebo programmes")
        ax.legend(frameon=True, framealpha=0.9, fontsize=8, loc="best")
    fig.suptitle(title or "Programme effect against its placebo distribution", fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
