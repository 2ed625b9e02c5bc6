"""Seeded synthetic England-and-Wales-like nation for demos, tests and benchmarks.

:func:`nation` builds a table of synthetic census *output areas* (OAs) scattered over a hand-drawn,
simplified England-and-Wales outline in British National Grid metres (EPSG:27700), with 2011 and 2021
populations, a latent deprivation score and general-health counts for both census years.
:meth:`Nation.events` then draws any number of point-located health-service events from it. Nothing here
comes from real data: the only "real" inputs are a coarse coastline drawn by hand
(:mod:`hyperlocal._outline`), the rough positions and relative sizes of about two dozen cities, and the
national general-health shares of the 2011 and 2021 censuses, which the synthetic counts reproduce on
average.

Model
-----
Towns
    About 15% of areas belong to a London-like city centred near (530000, 180000); Birmingham-,
    Manchester-, Leeds-, Liverpool-, Newcastle-, Bristol-, Cardiff-like and a dozen more cities sit near
    their real locations with roughly their real shares. ~600 further towns get Zipf-like sizes
    (weight ``1 / (rank + 15)`` with log-normal noise); 40% of them are satellites scattered around the
    named cities (commuter belts, conurbations), the rest are spread over the outline with a density
    that is reduced over upland areas (Lake District, Pennines, Snowdonia, mid Wales, moors).
    ``RURAL_SHARE`` (12%) of areas are rural scatter (``town == 0``), placed uniformly with a milder
    upland penalty. The number of areas of each town is one multinomial draw over these shares.
Area positions
    Within a town, an area sits at distance ``r = s * Gamma(2, 1)`` from the centre, in a random
    direction, on a randomly rotated ellipse of axis ratio ~``exp(N(0, 0.2))``. This gives an areal
    density ``~ exp(-r / s)``: many small, dense areas in the centre and sparser suburbs. The scale
    grows with the square root of the town's area count, ``s = 50 m * sqrt(n_areas)``, so a
    2,000-area city spreads over ~8-12 km and the London-like one over ~30 km. Points falling outside
    the outline are redrawn (coastal towns are therefore truncated by the sea), so every area lies
    inside the outline and inside ``0 <= easting <= 700000``, ``0 <= northing <= 1300000``.
Population
    ``population_2011 ~ round(LogNormal(log 303, 0.2))`` (1% of areas are inflated by 1.3-2.2x, like
    student halls or new estates), i.e. mean ~310 and almost all within 100-700.
    ``population_2021 = round(population_2011 * (1 + g_town + N(0, 0.06)))`` with a town-level growth
    ``g_town ~ N(0.06, 0.05)`` (drawn per area for rural scatter). Both are at least 40.
Deprivation
    ``deprivation = logistic(z)`` in (0, 1), higher = more deprived, where ``z`` adds a town effect
    (hand-set for the named cities, ``N(-0.1, 0.45)`` for other towns, -0.5 for rural scatter), a gentle
    north-south gradient, a regional smooth random field (~40 km), a neighbourhood smooth random field
    (~1.5 km, the within-town component), an inner-city bump ``0.45 * exp(-r / s)`` for towns of 150+
    areas, and independent area noise. Smooth fields are value noise on a fixed national lattice,
    bilinearly (smoothstep) interpolated. ``imd_decile`` ranks areas by ``deprivation``: 1 = the most
    deprived 10% of areas, 10 = the least deprived.
General health
    Ordered-logit model over (very good, good, fair, bad, very bad): ``P(Y <= k) = logistic(c_k - eta)``
    with ``eta = 2 * (deprivation - 0.5)`` plus a smooth "age structure" field, a rural effect and area
    noise, so more deprived areas have less very good and more bad/very bad health. For 2021, ``eta``
    gains a town-level change ``N(0, 0.12)`` (some towns improve more than others), a slight widening of
    the deprivation gradient and area noise. The cut points ``c_k`` of each year are solved (Newton) so
    that the population-weighted expected national shares equal ``NATIONAL_HEALTH_SHARES`` exactly;
    the counts are then one multinomial draw per area and year (as chained binomials), so the five
    counts of a year always sum to that year's population.
Events
    Each event picks an area with probability proportional to
    ``population_2021 * (0.6 + deprivation)``, adds isotropic Gaussian jitter (sd 150 m) clipped to the
    grid extent (so an event may land slightly offshore), a service with unequal probabilities and a
    uniform date in 2024 (a leap year: 366 days).

Determinism
-----------
Everything is drawn from ``numpy.random.default_rng`` generators seeded from the nation seed (never
the global RNG), in a fixed order, and all heavy lifting is single-threaded numpy, so the same
arguments give identical frames on every run, machine and thread count (for a given numpy version:
numpy does not promise bit-identical streams across releases). :meth:`Nation.events` uses its own
stream, derived from the nation seed unless ``seed`` is given, so drawing events never changes the areas.

Examples
--------
>>> from hyperlocal import synth
>>> nat = synth.nation(seed=0)
>>> nat.areas.height
188880
>>> ev = nat.events(1_000_000)
>>> ev.columns
['easting', 'northing', 'service', 'date']
>>> synth.nation(seed=0) == nat
True
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from ._outline import OUTLINE_BNG
from .categories import HEALTH_CATEGORIES as _CATEGORIES

__all__ = [
    "DEFAULT_SERVICES",
    "E_MAX",
    "HEALTH_CATEGORIES",
    "N_MAX",
    "NAMED_TOWNS",
    "NATIONAL_HEALTH_SHARES",
    "RURAL_SHARE",
    "Nation",
    "in_outline",
    "nation",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Grid extent (BNG metres): every area lies in ``[0, E_MAX] x [0, N_MAX]``, events are clipped to it.
E_MAX = 700_000.0
N_MAX = 1_300_000.0

#: Default services of :meth:`Nation.events` and their relative frequencies.
DEFAULT_SERVICES: tuple[str, ...] = ("gp_appointment", "ae_attendance", "nhs111_call", "outpatient")
_SERVICE_RATES: dict[str, float] = {
    "gp_appointment": 0.55,
    "ae_attendance": 0.15,
    "nhs111_call": 0.20,
    "outpatient": 0.10,
}

#: General-health categories, best to worst, as used in the column names (``f"{category}_{year}"``).
HEALTH_CATEGORIES: tuple[str, ...] = _CATEGORIES
#: National shares (England and Wales, usual residents) of each category, per census year.
NATIONAL_HEALTH_SHARES: dict[int, tuple[float, ...]] = {
    2011: (0.472, 0.342, 0.132, 0.042, 0.012),
    2021: (0.485, 0.336, 0.127, 0.040, 0.012),
}

#: Share of areas that are rural scatter (``town == 0``).
RURAL_SHARE = 0.12

# Named cities: (name, easting, northing, share of all areas, deprivation effect). Town ids follow
# this order, starting at 1. Shares are of the whole conurbation, roughly; effects are hand-set.
_CITIES: tuple[tuple[str, float, float, float, float], ...] = (
    ("London", 530_000.0, 180_000.0, 0.150, 0.15),
    ("Birmingham", 407_000.0, 287_000.0, 0.040, 0.55),
    ("Manchester", 384_000.0, 398_000.0, 0.040, 0.45),
    ("Leeds", 430_000.0, 434_000.0, 0.022, 0.10),
    ("Liverpool", 336_000.0, 391_000.0, 0.018, 0.55),
    ("Newcastle", 425_000.0, 564_000.0, 0.016, 0.10),
    ("Sheffield", 435_000.0, 387_000.0, 0.014, 0.20),
    ("Bristol", 359_000.0, 173_000.0, 0.011, -0.05),
    ("Nottingham", 457_000.0, 340_000.0, 0.011, 0.45),
    ("Bradford", 416_000.0, 433_000.0, 0.009, 0.45),
    ("Leicester", 458_000.0, 304_000.0, 0.008, 0.35),
    ("Cardiff", 318_000.0, 177_000.0, 0.008, 0.20),
    ("Southampton", 442_000.0, 112_000.0, 0.007, 0.20),
    ("Coventry", 433_000.0, 279_000.0, 0.006, 0.20),
    ("Stoke-on-Trent", 388_000.0, 347_000.0, 0.006, 0.40),
    ("Portsmouth", 465_000.0, 102_000.0, 0.006, 0.20),
    ("Hull", 509_000.0, 430_000.0, 0.005, 0.55),
    ("Plymouth", 248_000.0, 57_000.0, 0.005, 0.30),
    ("Brighton", 531_000.0, 106_000.0, 0.005, 0.05),
    ("Middlesbrough", 450_000.0, 517_000.0, 0.005, 0.45),
    ("Reading", 471_000.0, 173_000.0, 0.005, -0.25),
    ("Swansea", 265_000.0, 194_000.0, 0.004, 0.30),
    ("Norwich", 623_000.0, 308_000.0, 0.004, 0.15),
    ("Derby", 435_000.0, 336_000.0, 0.004, 0.15),
)

#: Town ids of the named cities (``areas["town"]``), e.g. ``NAMED_TOWNS[1] == "London"``.
NAMED_TOWNS: dict[int, str] = {i: c[0] for i, c in enumerate(_CITIES, start=1)}

# Sparsely populated uplands: (easting, northing, radius, strength). Habitability is the product of
# ``1 - strength * exp(-d^2 / (2 radius^2))`` over these bumps.
_SPARSE: tuple[tuple[float, float, float, float], ...] = (
    (330_000.0, 508_000.0, 18_000.0, 0.9),  # Lake District
    (375_000.0, 535_000.0, 22_000.0, 0.9),  # North Pennines
    (390_000.0, 475_000.0, 18_000.0, 0.8),  # Yorkshire Dales
    (410_000.0, 380_000.0, 10_000.0, 0.6),  # Peak District
    (470_000.0, 495_000.0, 15_000.0, 0.8),  # North York Moors
    (375_000.0, 590_000.0, 25_000.0, 0.9),  # Northumberland, Kielder
    (270_000.0, 345_000.0, 16_000.0, 0.9),  # Snowdonia
    (280_000.0, 270_000.0, 30_000.0, 0.9),  # Cambrian Mountains
    (300_000.0, 220_000.0, 15_000.0, 0.7),  # Brecon Beacons
    (260_000.0, 78_000.0, 10_000.0, 0.8),  # Dartmoor
    (280_000.0, 138_000.0, 9_000.0, 0.7),  # Exmoor
    (545_000.0, 300_000.0, 18_000.0, 0.4),  # Fens
    (520_000.0, 370_000.0, 25_000.0, 0.4),  # Lincolnshire
)

_N_GENERIC_TOWNS = 600
_ZIPF_OFFSET = 15.0
_SATELLITE_FRACTION = 0.4
_SCALE_PER_SQRT_AREA = 50.0  # metres
_CITY_EXCLUSION = 1.2  # other towns keep this many city scales away from a named city's centre
_MAX_CODE = 99_999_999

_EVENT_STREAM = 0x45564E54  # domain separation of the events RNG stream from the areas stream
_EVENT_CHUNK = 1 << 20
_EVENT_JITTER_M = 150.0
_EVENT_DAY0 = (_dt.date(2024, 1, 1) - _dt.date(1970, 1, 1)).days
_EVENT_DAYS = (_dt.date(2024, 12, 31) - _dt.date(2024, 1, 1)).days + 1

_OUTLINE = np.asarray(OUTLINE_BNG, dtype=np.float64)
_OUTLINE_LO = _OUTLINE.min(axis=0)
_OUTLINE_HI = _OUTLINE.max(axis=0)


# --------------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------------


def _points_in_polygon(x: FloatArray, y: FloatArray, ring: FloatArray) -> BoolArray:
    """Even-odd (ray casting) point-in-polygon test, vectorised over points.

    Points are sorted by ``y`` once; each edge then only touches the contiguous slice of points whose
    ``y`` lies in its half-open span ``[min(y0, y1), max(y0, y1))``, which is the crossing rule of the
    classic PNPOLY test. NaN coordinates are outside.
    """
    order = np.argsort(y, kind="stable")
    ys = y[order]
    xs = x[order]
    parity = np.zeros(ys.shape[0], dtype=np.bool_)
    x0s, y0s = ring[:, 0], ring[:, 1]
    x1s, y1s = np.roll(x0s, -1), np.roll(y0s, -1)
    for x0, y0, x1, y1 in zip(x0s.tolist(), y0s.tolist(), x1s.tolist(), y1s.tolist(), strict=True):
        if y0 == y1:
            continue
        i0, i1 = np.searchsorted(ys, (min(y0, y1), max(y0, y1)), side="left").tolist()
        if i0 == i1:
            continue
        xc = x0 + (ys[i0:i1] - y0) * ((x1 - x0) / (y1 - y0))
        parity[i0:i1] ^= xs[i0:i1] < xc
    inside = np.empty_like(parity)
    inside[order] = parity
    return inside


def in_outline(easting: npt.ArrayLike, northing: npt.ArrayLike) -> BoolArray:
    """Whether BNG points lie inside the synthetic England-and-Wales outline.

    Parameters
    ----------
    easting, northing : array_like
        BNG coordinates in metres, broadcastable to a common shape.

    Returns
    -------
    numpy.ndarray of bool
        Same shape as the broadcast inputs; ``True`` strictly inside the outline (NaN is outside).
    """
    e, n = np.broadcast_arrays(np.asarray(easting, dtype=np.float64), np.asarray(northing, dtype=np.float64))
    return _points_in_polygon(e.ravel(), n.ravel(), _OUTLINE).reshape(e.shape)


def _habitability(e: FloatArray, n: FloatArray) -> FloatArray:
    """Relative settlement density in (0, 1]: low over uplands, 1 elsewhere."""
    h = np.ones_like(e)
    for x, y, r, a in _SPARSE:
        h *= 1.0 - a * np.exp(-((e - x) ** 2 + (n - y) ** 2) / (2.0 * r * r))
    return h


def _value_noise(rng: np.random.Generator, spacing: float, e: FloatArray, n: FloatArray) -> FloatArray:
    """Smooth N(0, 1) random field with correlation length ~``spacing``, evaluated at points.

    i.i.d. normals on a lattice covering the whole grid extent (so the draw count does not depend on
    the points), smoothstep-bilinear interpolation, renormalised to unit variance everywhere.
    """
    nx = int(np.ceil(E_MAX / spacing)) + 2
    ny = int(np.ceil(N_MAX / spacing)) + 2
    lattice = rng.standard_normal((ny, nx))
    gx = np.clip(e / spacing, 0.0, nx - 1.0)
    gy = np.clip(n / spacing, 0.0, ny - 1.0)
    ix = np.minimum(gx.astype(np.intp), nx - 2)
    iy = np.minimum(gy.astype(np.intp), ny - 2)
    fx = gx - ix
    fy = gy - iy
    sx = fx * fx * (3.0 - 2.0 * fx)
    sy = fy * fy * (3.0 - 2.0 * fy)
    w00 = (1.0 - sx) * (1.0 - sy)
    w10 = sx * (1.0 - sy)
    w01 = (1.0 - sx) * sy
    w11 = sx * sy
    v = (
        w00 * lattice[iy, ix]
        + w10 * lattice[iy, ix + 1]
        + w01 * lattice[iy + 1, ix]
        + w11 * lattice[iy + 1, ix + 1]
    )
    return v / np.sqrt(w00 * w00 + w10 * w10 + w01 * w01 + w11 * w11)


_Proposal = Callable[[IntArray, int], tuple[FloatArray, FloatArray]]  # (pending indices, round)
_Acceptance = Callable[[FloatArray, FloatArray, IntArray], BoolArray]


def _rejection_fill(
    size: int, propose: _Proposal, accept: _Acceptance, max_rounds: int
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Draw ``size`` points by vectorised rejection; returns coordinates and a done-mask."""
    e = np.zeros(size)
    n = np.zeros(size)
    done = np.zeros(size, dtype=np.bool_)
    pending = np.arange(size, dtype=np.int64)
    for round_ in range(max_rounds):
        if pending.size == 0:
            break
        ce, cn = propose(pending, round_)
        ok = accept(ce, cn, pending)
        hit = pending[ok]
        e[hit] = ce[ok]
        n[hit] = cn[ok]
        done[hit] = True
        pending = pending[~ok]
    return e, n, done


def _uniform_in_outline(
    rng: np.random.Generator,
    size: int,
    density_floor: float,
    extra: Callable[[FloatArray, FloatArray], BoolArray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Points inside the outline with density ``∝ floor + (1 - floor) * habitability``."""

    def propose(idx: IntArray, round_: int) -> tuple[FloatArray, FloatArray]:
        pts = rng.uniform(_OUTLINE_LO, _OUTLINE_HI, size=(idx.size, 2))
        return pts[:, 0], pts[:, 1]

    def accept(e: FloatArray, n: FloatArray, idx: IntArray) -> BoolArray:
        u = rng.random(idx.size)
        ok = _points_in_polygon(e, n, _OUTLINE) & (
            u < density_floor + (1.0 - density_floor) * _habitability(e, n)
        )
        if extra is not None:
            ok &= extra(e, n)
        return ok

    e, n, done = _rejection_fill(size, propose, accept, max_rounds=10_000)
    if not done.all():  # pragma: no cover - acceptance rate is ~30%, so this cannot happen in practice
        raise RuntimeError("rejection sampling inside the outline did not converge")
    return e, n


# --------------------------------------------------------------------------------------------------
# Nation
# --------------------------------------------------------------------------------------------------


def _is_count(x: object) -> bool:
    """A non-negative integer (Python or numpy, not bool)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and bool(x >= 0)


def _service_probabilities(services: Sequence[str]) -> FloatArray:
    """Known default services keep their rates (renormalised); otherwise Zipf weights by position."""
    if all(s in _SERVICE_RATES for s in services):
        w = np.array([_SERVICE_RATES[s] for s in services], dtype=np.float64)
    else:
        w = 1.0 / np.arange(1.0, len(services) + 1.0)
    return w / w.sum()


@dataclass(frozen=True)
class Nation:
    """A synthetic nation: one row per output area, plus the seed that built it.

    Attributes
    ----------
    areas : polars.DataFrame
        Columns, in order: ``code`` (String, ``"S00000001"``...), ``town`` (Int32: 0 = rural
        scatter, 1..24 = the named cities of :data:`NAMED_TOWNS` with 1 the London-like one, then the
        other towns), ``easting``, ``northing`` (Float64, BNG metres), ``population_2011``,
        ``population_2021`` (Int64), ``deprivation`` (Float64 in (0, 1), higher = more deprived),
        ``imd_decile`` (Int8, 1 = most deprived 10%), then
        ``very_good_2011, good_2011, fair_2011, bad_2011, very_bad_2011`` and the same five for 2021
        (Int64; each year's five sum to that year's population). Rows are ordered by town (1, 2, ...)
        with the rural scatter last; codes follow row order.
    seed : int
        The seed passed to :func:`nation`.

    Notes
    -----
    Equality compares the seed and the frame contents (``DataFrame.equals``); the hash uses the seed
    and row count only.
    """

    areas: pl.DataFrame
    seed: int

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Nation):
            return NotImplemented
        return self.seed == other.seed and self.areas.equals(other.areas)

    def __hash__(self) -> int:
        return hash((self.seed, self.areas.height))

    def __repr__(self) -> str:
        return f"Nation(seed={self.seed}, n_areas={self.areas.height})"

    def events(
        self,
        n: int,
        *,
        seed: int | None = None,
        services: Sequence[str] = DEFAULT_SERVICES,
    ) -> pl.DataFrame:
        """Draw ``n`` synthetic health-service events.

        Parameters
        ----------
        n : int
            Number of events (rows), ``>= 0``. Generated in chunks of ~1M rows, so peak memory stays
            near 1.5x the output (~21 bytes per row; ~330 MB in total for 10M rows).
        seed : int, optional
            Non-negative seed. Defaults to the nation's seed; either way the stream is separated from
            the one that built the areas, so ``events(n)`` equals ``events(n, seed=nation.seed)``.
        services : sequence of str
            Distinct, non-empty service names. Names among :data:`DEFAULT_SERVICES` are drawn with
            relative rates gp_appointment 0.55, ae_attendance 0.15, nhs111_call 0.20, outpatient 0.10
            (renormalised over those given); if any other name is present, the i-th service (from 1)
            gets weight ``1 / i``, normalised.

        Returns
        -------
        polars.DataFrame
            ``easting``, ``northing`` (Float64, BNG metres: an area drawn with probability
            ``∝ population_2021 * (0.6 + deprivation)`` plus N(0, 150 m) jitter, clipped to
            ``[0, 700000] x [0, 1300000]``), ``service`` (``pl.Enum(services)``: a string column stored
            as UInt8/UInt32 codes, much cheaper than ``pl.String``; ``.cast(pl.String)`` if needed) and
            ``date`` (``pl.Date``, uniform over 2024-01-01..2024-12-31).
        """
        if not _is_count(n):
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        if seed is not None and not _is_count(seed):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        if isinstance(services, str):
            raise ValueError("services must be a sequence of strings, not a single string")
        services = tuple(services)
        if not services or not all(isinstance(s, str) for s in services):
            raise ValueError("services must be a non-empty sequence of strings")
        if len(set(services)) != len(services):
            raise ValueError(f"services must be distinct, got {services!r}")
        if self.areas.height == 0 and n > 0:
            raise ValueError("cannot draw events from a nation with no areas")
        n = int(n)
        rng = np.random.default_rng([int(self.seed if seed is None else seed), _EVENT_STREAM])

        area_e = self.areas["easting"].to_numpy()
        area_n = self.areas["northing"].to_numpy()
        weight = self.areas["population_2021"].to_numpy().astype(np.float64) * (
            0.6 + self.areas["deprivation"].to_numpy()
        )
        p_area = weight / weight.sum() if weight.size else weight
        area_ids = np.arange(p_area.size, dtype=np.int32)
        svc_cum = np.cumsum(_service_probabilities(services))[:-1]

        east = np.empty(n, dtype=np.float64)
        north = np.empty(n, dtype=np.float64)
        svc = np.empty(n, dtype=np.uint8 if len(services) <= 256 else np.uint32)
        day = np.empty(n, dtype=np.int32)
        for start in range(0, n, _EVENT_CHUNK):
            k = min(_EVENT_CHUNK, n - start)
            sl = slice(start, start + k)
            # An i.i.d. categorical sample of size k == multinomial counts in a uniformly random order.
            idx = np.repeat(area_ids, rng.multinomial(k, p_area))
            rng.shuffle(idx)
            np.clip(area_e[idx] + _EVENT_JITTER_M * rng.standard_normal(k), 0.0, E_MAX, out=east[sl])
            np.clip(area_n[idx] + _EVENT_JITTER_M * rng.standard_normal(k), 0.0, N_MAX, out=north[sl])
            svc[sl] = np.searchsorted(svc_cum, rng.random(k), side="right")
            day[sl] = rng.integers(0, _EVENT_DAYS, size=k, dtype=np.int32)
        day += _EVENT_DAY0

        return pl.DataFrame(
            [
                pl.Series("easting", east),
                pl.Series("northing", north),
                pl.Series("service", services, dtype=pl.Enum(services)).gather(svc),
                pl.Series("date", day).cast(pl.Date),
            ]
        )


def _place_town_centres(
    rng: np.random.Generator, city_xy: FloatArray, city_scale: FloatArray, city_weight: FloatArray, count: int
) -> tuple[FloatArray, FloatArray]:
    """Centres of the generic towns: satellites around named cities, the rest spread over the land."""

    def clear_of_cities(e: FloatArray, n: FloatArray) -> BoolArray:
        d2 = (e[:, None] - city_xy[None, :, 0]) ** 2 + (n[:, None] - city_xy[None, :, 1]) ** 2
        return np.all(d2 > (_CITY_EXCLUSION * city_scale[None, :]) ** 2, axis=1)

    is_sat = rng.random(count) < _SATELLITE_FRACTION
    parent = rng.choice(city_xy.shape[0], size=count, p=city_weight)

    sat = np.flatnonzero(is_sat)

    def propose(idx: IntArray, round_: int) -> tuple[FloatArray, FloatArray]:
        par = parent[sat[idx]]
        r = city_scale[par] * (_CITY_EXCLUSION + 1.5 * rng.gamma(2.0, size=idx.size))
        phi = rng.uniform(0.0, 2.0 * np.pi, size=idx.size)
        return city_xy[par, 0] + r * np.cos(phi), city_xy[par, 1] + r * np.sin(phi)

    def accept(e: FloatArray, n: FloatArray, idx: IntArray) -> BoolArray:
        u = rng.random(idx.size)
        return _points_in_polygon(e, n, _OUTLINE) & (u < _habitability(e, n)) & clear_of_cities(e, n)

    ce = np.zeros(count)
    cn = np.zeros(count)
    se, sn, sdone = _rejection_fill(sat.size, propose, accept, max_rounds=200)
    ce[sat[sdone]] = se[sdone]
    cn[sat[sdone]] = sn[sdone]

    rest = np.concatenate([np.flatnonzero(~is_sat), sat[~sdone]])
    rest.sort()
    ue, un = _uniform_in_outline(rng, rest.size, 0.0, clear_of_cities)
    ce[rest] = ue
    cn[rest] = un
    return ce, cn


def _place_urban_areas(
    rng: np.random.Generator,
    cx: FloatArray,
    cy: FloatArray,
    scale: FloatArray,
    angle: FloatArray,
    stretch: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Areas around their town centres (one entry per area) with an exponential radial profile."""
    cos_t, sin_t = np.cos(angle), np.sin(angle)
    sq = np.sqrt(stretch)

    def propose(idx: IntArray, round_: int) -> tuple[FloatArray, FloatArray]:
        # After 20 rounds the few leftovers (towns on a thin spit of land) are drawn ever closer in.
        shrink = 0.8 ** max(0, round_ - 20)
        r = scale[idx] * shrink * rng.gamma(2.0, size=idx.size)
        phi = rng.uniform(0.0, 2.0 * np.pi, size=idx.size)
        u = r * np.cos(phi) * sq[idx]
        v = r * np.sin(phi) / sq[idx]
        return (
            cx[idx] + u * cos_t[idx] - v * sin_t[idx],
            cy[idx] + u * sin_t[idx] + v * cos_t[idx],
        )

    def accept(e: FloatArray, n: FloatArray, idx: IntArray) -> BoolArray:
        return _points_in_polygon(e, n, _OUTLINE)

    e, n, done = _rejection_fill(cx.size, propose, accept, max_rounds=200)
    # Unreachable in practice (the radius has shrunk to ~1e-15 of the scale): fall back to the centre.
    e[~done] = cx[~done]
    n[~done] = cy[~done]
    return e, n


def _health_counts(
    rng: np.random.Generator, population: IntArray, eta: FloatArray, shares: Sequence[float]
) -> list[IntArray]:
    """Ordered-logit multinomial counts calibrated to national ``shares`` (best to worst category)."""
    weight = population.astype(np.float64)
    weight /= weight.sum()
    cum_target = np.cumsum(shares)[:-1]
    cuts = np.log(cum_target / (1.0 - cum_target))
    for k, target in enumerate(cum_target.tolist()):
        c = float(cuts[k])
        for _ in range(50):  # Newton on the population-weighted mean; monotone, converges in ~5 steps
            s = 1.0 / (1.0 + np.exp(eta - c))
            f = float(weight @ s) - target
            c -= f / float(weight @ (s * (1.0 - s)))
            if abs(f) < 1e-13:
                break
        cuts[k] = c
    cdf = 1.0 / (1.0 + np.exp(eta[:, None] - cuts[None, :]))
    probs = np.diff(cdf, axis=1, prepend=0.0, append=1.0)

    counts: list[IntArray] = []
    remaining = population.astype(np.int64)
    mass_left = np.ones_like(eta)
    for k in range(len(shares) - 1):
        p = np.clip(probs[:, k] / np.maximum(mass_left, 1e-300), 0.0, 1.0)
        c_k = rng.binomial(remaining, p).astype(np.int64)
        counts.append(c_k)
        remaining = remaining - c_k
        mass_left = mass_left - probs[:, k]
    counts.append(remaining)
    return counts


def nation(seed: int = 0, n_areas: int = 188_880) -> Nation:
    """Build a seeded synthetic England-and-Wales-like nation.

    Parameters
    ----------
    seed : int, default 0
        Non-negative seed for ``numpy.random.default_rng``; the same seed (and ``n_areas``) always gives
        an identical ``areas`` frame.
    n_areas : int, default 188_880
        Number of output areas (rows); the default matches the 2021 census count for England and Wales.
        Town shares are fixed, so smaller nations are coarser versions of the same country.

    Returns
    -------
    Nation
        ``areas`` as documented on :class:`Nation`, and ``seed``.

    See Also
    --------
    Nation.events : point events drawn from the nation.
    in_outline : the land test every area satisfies.
    """
    if not _is_count(seed):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not _is_count(n_areas) or n_areas > _MAX_CODE:
        raise ValueError(f"n_areas must be an integer in [0, {_MAX_CODE}], got {n_areas!r}")
    seed, n_areas = int(seed), int(n_areas)
    rng = np.random.default_rng(seed)

    # ---- towns: sizes ------------------------------------------------------------------------------
    n_cities = len(_CITIES)
    city_xy = np.array([(c[1], c[2]) for c in _CITIES], dtype=np.float64)
    city_share = np.array([c[3] for c in _CITIES], dtype=np.float64)
    city_dep = np.array([c[4] for c in _CITIES], dtype=np.float64)
    if not _points_in_polygon(city_xy[:, 0], city_xy[:, 1], _OUTLINE).all():  # pragma: no cover
        raise RuntimeError("a named city centre lies outside the outline")
    generic_weight = (np.arange(1.0, _N_GENERIC_TOWNS + 1.0) + _ZIPF_OFFSET) ** -1.0
    generic_weight *= rng.lognormal(0.0, 0.25, size=_N_GENERIC_TOWNS)
    generic_share = (1.0 - RURAL_SHARE - city_share.sum()) * generic_weight / generic_weight.sum()
    # Multinomial over [towns 1..T, rural]; town ids are 1..T, rural scatter is 0.
    shares = np.concatenate([city_share, generic_share, [RURAL_SHARE]])
    counts = rng.multinomial(n_areas, shares / shares.sum())
    n_towns = n_cities + _N_GENERIC_TOWNS
    town_size = counts[:n_towns]
    town_scale = _SCALE_PER_SQRT_AREA * np.sqrt(np.maximum(town_size, 1))

    # ---- towns: centres, shapes and town-level effects ----------------------------------------------
    city_weight = city_share**0.7
    city_weight /= city_weight.sum()
    ge, gn = _place_town_centres(rng, city_xy, town_scale[:n_cities], city_weight, _N_GENERIC_TOWNS)
    # Index 0 is a placeholder for rural scatter so that ``array[town]`` works for every area.
    t_cx = np.concatenate([[0.0], city_xy[:, 0], ge])
    t_cy = np.concatenate([[0.0], city_xy[:, 1], gn])
    t_scale = np.concatenate([[1.0], town_scale])
    t_size = np.concatenate([[0], town_size])
    t_angle = rng.uniform(0.0, np.pi, size=n_towns + 1)
    t_stretch = rng.lognormal(0.0, 0.2, size=n_towns + 1)
    t_dep = np.concatenate([[-0.5], city_dep, rng.normal(-0.1, 0.45, size=_N_GENERIC_TOWNS)])
    t_growth = rng.normal(0.06, 0.05, size=n_towns + 1)
    t_health_change = rng.normal(0.0, 0.12, size=n_towns + 1)

    # ---- areas: positions (towns 1..T in order, then rural scatter) ---------------------------------
    town = np.repeat(np.arange(n_towns + 1, dtype=np.int64), np.concatenate([[0], town_size]))
    town = np.concatenate([town, np.zeros(counts[-1], dtype=np.int64)])
    urban = town > 0
    n_urban = int(urban.sum())
    tu = town[:n_urban]
    ue, un = _place_urban_areas(rng, t_cx[tu], t_cy[tu], t_scale[tu], t_angle[tu], t_stretch[tu])
    re_, rn = _uniform_in_outline(rng, n_areas - n_urban, 0.35)
    easting = np.concatenate([ue, re_])
    northing = np.concatenate([un, rn])

    # ---- deprivation --------------------------------------------------------------------------------
    regional = _value_noise(rng, 40_000.0, easting, northing)
    neighbourhood = _value_noise(rng, 1_500.0, easting, northing)
    dist = np.hypot(easting - t_cx[town], northing - t_cy[town]) / t_scale[town]
    inner_city = np.where(urban & (t_size[town] >= 150), 0.45 * np.exp(-dist), 0.0)
    z = (
        t_dep[town]
        + 0.35 * (northing - 300_000.0) / 250_000.0
        + 0.30 * regional
        + 0.70 * neighbourhood
        + inner_city
        + 0.40 * rng.standard_normal(n_areas)
    )
    deprivation = 1.0 / (1.0 + np.exp(-z))
    rank = np.empty(n_areas, dtype=np.int64)
    rank[np.argsort(-deprivation, kind="stable")] = np.arange(n_areas)
    imd_decile = (rank * 10 // max(n_areas, 1) + 1).astype(np.int8)

    # ---- population ---------------------------------------------------------------------------------
    pop = rng.lognormal(np.log(303.0), 0.2, size=n_areas)
    pop *= np.where(rng.random(n_areas) < 0.01, rng.uniform(1.3, 2.2, size=n_areas), 1.0)
    pop_2011 = np.maximum(np.rint(pop), 40).astype(np.int64)
    growth = np.where(urban, t_growth[town], rng.normal(0.06, 0.05, size=n_areas))
    pop_2021 = np.maximum(np.rint(pop_2011 * (1.0 + growth + rng.normal(0.0, 0.06, size=n_areas))), 40)
    pop_2021 = pop_2021.astype(np.int64)

    # ---- general health -----------------------------------------------------------------------------
    age_structure = _value_noise(rng, 5_000.0, easting, northing)
    eta_2011 = (
        2.0 * (deprivation - 0.5)
        + 0.30 * age_structure
        + np.where(urban, 0.0, 0.10)
        + 0.20 * rng.standard_normal(n_areas)
    )
    change = np.where(urban, t_health_change[town], rng.normal(0.0, 0.12, size=n_areas))
    eta_2021 = eta_2011 + 0.2 * (deprivation - 0.5) + change + 0.08 * rng.standard_normal(n_areas)
    health: dict[str, IntArray] = {}
    for year, eta, pop_y in ((2011, eta_2011, pop_2011), (2021, eta_2021, pop_2021)):
        if n_areas == 0:
            year_counts = [np.zeros(0, dtype=np.int64)] * len(HEALTH_CATEGORIES)
        else:
            year_counts = _health_counts(rng, pop_y, eta, NATIONAL_HEALTH_SHARES[year])
        for category, c in zip(HEALTH_CATEGORIES, year_counts, strict=True):
            health[f"{category}_{year}"] = c

    # ---- frame --------------------------------------------------------------------------------------
    code = pl.select(
        pl.concat_str(pl.lit("S"), pl.int_range(1, n_areas + 1, dtype=pl.Int64).cast(pl.String).str.zfill(8))
    ).to_series()
    areas = pl.DataFrame(
        [
            code.alias("code"),
            pl.Series("town", town, dtype=pl.Int32),
            pl.Series("easting", easting, dtype=pl.Float64),
            pl.Series("northing", northing, dtype=pl.Float64),
            pl.Series("population_2011", pop_2011, dtype=pl.Int64),
            pl.Series("population_2021", pop_2021, dtype=pl.Int64),
            pl.Series("deprivation", deprivation, dtype=pl.Float64),
            pl.Series("imd_decile", imd_decile, dtype=pl.Int8),
            *(pl.Series(name, values, dtype=pl.Int64) for name, values in health.items()),
        ]
    )
    return Nation(areas=areas, seed=seed)
