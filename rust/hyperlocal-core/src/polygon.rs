//! Polygon crosswalks: exact area shares of each area in each H3 cell, and point location in areas.
//!
//! * Geometry arrives as WKB (Polygon or MultiPolygon, 2-D, Z, M or ZM, ISO or EWKB flags) in WGS84 degrees
//!   or British National Grid metres (converted vertex by vertex with [`crate::bng`]). WGS84 longitudes are
//!   unwrapped along each ring (consecutive vertices less than 180° apart), so a polygon crossing the
//!   antimeridian is one polygon; longitudes are normalised again before every H3 lookup.
//! * Areas are measured in the Lambert azimuthal equal-area projection of the WGS84 ellipsoid (through the
//!   authalic latitude), centred on the centre of the res-3 cell holding the area's bounding-box centre (so
//!   neighbouring areas share a projection and its projected hexagons): areas are true ellipsoidal areas in m²,
//!   as in ETRS89-LAEA (EPSG:3035). Polygon edges and hexagon edges are straight lines between projected
//!   vertices (a hexagon's great-circle edges bow by well under a metre at res ≥ 6). A polygon with a vertex
//!   more than [`MAX_EXTENT_KM`] from its projection's centre is rejected, naming its row.
//! * Validity and repair (module `repair`): each area is tested for OGC validity in its input coordinates,
//!   as GEOS (`shapely.is_valid`) tests it; invalid areas are flagged (`repaired`) and measured as the region
//!   of GEOS `make_valid(method="structure")`: each ring's non-zero-winding region; per polygon, the shell's
//!   minus the holes that meet it, plus the holes that do not (they become shells); per multipolygon, the union
//!   of the parts; parts whose shell has no area are dropped. The repaired region is computed exactly (noding,
//!   winding numbers, closed loops) in the projection; an area valid in its input coordinates whose projected
//!   edges cross (a vertex within the chords' bow of another edge) is repaired there too, unflagged. Valid
//!   areas are measured from their rings directly (exterior rings add, holes subtract, whatever their
//!   winding).
//! * Cells: the boundary cells are found by walking every input ring from cell to cell (Cyrus–Beck exit, one
//!   cell lookup per crossed cell), so a polygon however small or thin gets every cell it touches; they are
//!   clipped exactly (Sutherland–Hodgman against the convex hexagon, loop by loop, signed areas added). Every
//!   other cell is wholly inside or wholly outside: the inside ones are found by flooding outwards from the
//!   boundary cells (expanding only from cells whose centre is inside, so the flood ends by itself) and taken
//!   whole, each decided by one non-zero-coverage test of its centre; an area too narrow to hold a whole cell
//!   has none and is not flooded. Covered area = polygon area to rounding.
//! * Fast path (module `lattice`): an area whose cells all lie well inside one icosahedron face (every area in
//!   Great Britain) is done on the face's hexagonal lattice instead: trig-free projected vertices shared by
//!   three cells, a boundary walk from lattice neighbour to lattice neighbour, boundary-cell areas by Green's
//!   theorem from the walk (checked, clipping as the fallback), interior runs by scanlines, cell indices by
//!   integer arithmetic. Same cells and areas as the general path above, to rounding (tested).
//! * Areas are processed in spatial order (a Morton code of each geometry's first stored vertex) in parallel
//!   runs, each area parsed, projected and cut in one go; a run shares caches of projected hexagons (per
//!   projection region) and of converted BNG vertices (the areas of a tessellation share their vertices).
//!   The caches hold pure functions of their keys: results do not depend on the number of threads.
//! * [`locate_points`]: a bin index over bounding boxes (bin size grown until the index is small) and the same
//!   non-zero coverage test, for the population method.

use h3o::{CellIndex, LatLng, Resolution};
use rayon::prelude::*;

use crate::bng::{bng_point, valid_bng};

mod lattice;
use crate::error::{HlError, Result, RowList};

/// Coordinate reference system of the input geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crs {
    /// WGS84 longitude/latitude degrees (EPSG:4326, OGC:CRS84).
    Wgs84,
    /// British National Grid metres (EPSG:27700).
    Bng,
}

type Pt = (f64, f64);

/// One polygon: rings of (lat, lng) degrees, the first exterior, the rest holes (closing vertex and
/// consecutive repeated vertices dropped). WGS84 longitudes are unwrapped along each ring (consecutive vertices
/// less than 180° apart, every ring starting within 180° of the geometry's first vertex), so a polygon that
/// crosses the antimeridian stays in one piece (its longitudes may pass ±180).
#[derive(Debug, Clone, Default)]
struct Poly {
    rings: Vec<Vec<Pt>>,
    /// The same rings in the input coordinates (x, y) (WGS84: unwrapped longitude, latitude), for the validity test.
    raw: Vec<Vec<Pt>>,
    /// A ring had fewer than three distinct vertices (invalid; dropped, or kept as an exterior's points).
    degenerate: bool,
}

/// British National Grid vertices converted to WGS84, by their input bits, shared by the areas one thread
/// handles in a row (the areas of a tessellation share most vertices, so most are converted once; a
/// conversion costs ~10 times a lookup). A pure function of the key, so results do not depend on what the
/// cache holds.
#[derive(Default)]
pub(crate) struct VertexCache {
    latlng: std::collections::HashMap<VKey, Pt, VKeyBuild>,
}

impl VertexCache {
    /// Entries kept before the cache is emptied (about 40 bytes each).
    const MAX: usize = 1 << 18;
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct VKey(u64, u64);

impl std::hash::Hash for VKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 ^ self.1.rotate_left(32));
    }
}

type VKeyBuild = std::hash::BuildHasherDefault<CellHasher>;

/// Why a geometry was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GeomIssue {
    Empty,
    NotPolygon,
    OutOfRange,
    Malformed,
    TooLarge,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    le: bool,
}

impl Reader<'_> {
    fn u8(&mut self) -> std::result::Result<u8, GeomIssue> {
        let v = *self.b.get(self.pos).ok_or(GeomIssue::Malformed)?;
        self.pos += 1;
        Ok(v)
    }
    fn u32(&mut self) -> std::result::Result<u32, GeomIssue> {
        let s = self
            .b
            .get(self.pos..self.pos + 4)
            .ok_or(GeomIssue::Malformed)?;
        self.pos += 4;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(if self.le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }
    fn f64(&mut self) -> std::result::Result<f64, GeomIssue> {
        let s = self
            .b
            .get(self.pos..self.pos + 8)
            .ok_or(GeomIssue::Malformed)?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(if self.le {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        })
    }
    /// Byte order and geometry type; returns (base type, number of ordinates per vertex).
    fn header(&mut self) -> std::result::Result<(u32, usize), GeomIssue> {
        self.le = match self.u8()? {
            0 => false,
            1 => true,
            _ => return Err(GeomIssue::Malformed),
        };
        let t = self.u32()?;
        let (mut z, mut m) = (t & 0x8000_0000 != 0, t & 0x4000_0000 != 0);
        if t & 0x2000_0000 != 0 {
            self.u32()?; // EWKB SRID
        }
        let iso = t & 0x0FFF_FFFF;
        let base = iso % 1000;
        match iso / 1000 {
            1 => z = true,
            2 => m = true,
            3 => {
                z = true;
                m = true
            }
            _ => {}
        }
        Ok((base, 2 + usize::from(z) + usize::from(m)))
    }
}

/// One input vertex as WGS84 (lat, lng) degrees; BNG vertices are converted once each per cache.
fn to_latlng(
    x: f64,
    y: f64,
    crs: Crs,
    cache: &mut VertexCache,
) -> std::result::Result<Pt, GeomIssue> {
    match crs {
        Crs::Wgs84 => {
            if x.is_finite() && y.is_finite() && x.abs() <= 180.0 && y.abs() <= 90.0 {
                Ok((y, x))
            } else {
                Err(GeomIssue::OutOfRange)
            }
        }
        Crs::Bng => {
            if !valid_bng(x, y) {
                return Err(GeomIssue::OutOfRange);
            }
            if cache.latlng.len() >= VertexCache::MAX {
                cache.latlng.clear();
            }
            Ok(*cache
                .latlng
                .entry(VKey(x.to_bits(), y.to_bits()))
                .or_insert_with(|| bng_point(x, y)))
        }
    }
}

fn read_polygon(
    r: &mut Reader<'_>,
    dims: usize,
    crs: Crs,
    ref_lng: &mut Option<f64>,
    cache: &mut VertexCache,
) -> std::result::Result<Poly, GeomIssue> {
    let nrings = r.u32()? as usize;
    let mut poly = Poly {
        rings: Vec::with_capacity(nrings.min(1024)),
        raw: Vec::with_capacity(nrings.min(1024)),
        degenerate: false,
    };
    for _ in 0..nrings {
        let n = r.u32()? as usize;
        if n > r.b.len() {
            return Err(GeomIssue::Malformed);
        }
        let mut ring: Vec<Pt> = Vec::with_capacity(n);
        let mut raw: Vec<Pt> = Vec::with_capacity(n);
        let mut first_unwrapped: Option<f64> = None;
        let mut prev_input: Option<f64> = None;
        for _ in 0..n {
            let x = r.f64()?;
            let y = r.f64()?;
            for _ in 2..dims {
                r.f64()?;
            }
            let mut p = to_latlng(x, y, crs, cache)?;
            let mut x = x;
            if crs == Crs::Wgs84 {
                // An edge from −180° to +180° (or back) goes all the way round: the ring encloses a pole or
                // a band around the globe, far beyond MAX_EXTENT_KM.
                if prev_input.is_some_and(|q: f64| (q - x).abs() >= 360.0) {
                    return Err(GeomIssue::TooLarge);
                }
                prev_input = Some(x);
                // Unwrap: within 180° of the previous vertex (or of the geometry's first vertex), so an edge
                // whose longitudes differ by more than 180° crosses the antimeridian (the short way round).
                if let Some(prev) = raw.last().map(|q: &Pt| q.0).or(*ref_lng) {
                    // (The rounding is 0 within 180°: skip the libm call for almost every vertex.)
                    if (prev - x).abs() >= 180.0 {
                        x += 360.0 * ((prev - x) / 360.0).round();
                    }
                }
                ref_lng.get_or_insert(x);
                first_unwrapped.get_or_insert(x);
                p = (y, x);
            }
            if raw.last() != Some(&(x, y)) {
                raw.push((x, y));
                ring.push(p);
            }
        }
        // A closed ring whose unwrapped end lies 360° from its start winds around a pole.
        if let (Some(f), Some(l)) = (first_unwrapped, raw.last()) {
            if (l.0 - f).abs() >= 180.0 {
                return Err(GeomIssue::TooLarge);
            }
        }
        if raw.len() > 1 && raw.first() == raw.last() {
            raw.pop();
            ring.pop();
        }
        if ring.len() >= 3 {
            poly.rings.push(ring);
            poly.raw.push(raw);
        } else if n > 0 {
            poly.degenerate = true;
            if poly.rings.is_empty() {
                // A degenerate exterior ring: keep its points so the area still gets a cell.
                poly.rings.push(ring);
                poly.raw.push(raw);
            }
        }
    }
    Ok(poly)
}

fn parse(
    wkb: &[u8],
    crs: Crs,
    cache: &mut VertexCache,
) -> std::result::Result<Vec<Poly>, GeomIssue> {
    let mut r = Reader {
        b: wkb,
        pos: 0,
        le: true,
    };
    let (base, dims) = r.header()?;
    let mut ref_lng = None;
    let polys = match base {
        3 => vec![read_polygon(&mut r, dims, crs, &mut ref_lng, cache)?],
        6 => {
            let n = r.u32()? as usize;
            if n > wkb.len() {
                return Err(GeomIssue::Malformed);
            }
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let (b, d) = r.header()?;
                if b != 3 {
                    return Err(GeomIssue::NotPolygon);
                }
                v.push(read_polygon(&mut r, d, crs, &mut ref_lng, cache)?);
            }
            v
        }
        _ => return Err(GeomIssue::NotPolygon),
    };
    let polys: Vec<Poly> = polys.into_iter().filter(|p| !p.rings.is_empty()).collect();
    if polys.is_empty() {
        return Err(GeomIssue::Empty);
    }
    Ok(polys)
}

const WGS84_A: f64 = 6_378_137.0;
const WGS84_E2: f64 = 0.006_694_379_990_141_317;

/// q(φ) of the authalic latitude (Snyder, *Map Projections: A Working Manual*, eq. 3-12).
///
/// The logarithm term, −(1/2e)·ln((1 − e sin φ)/(1 + e sin φ)) = atanh(e sin φ)/e, is summed as its series
/// sin φ · Σ_k (e² sin² φ)^k / (2k + 1): e² sin² φ ≤ 0.0067, so nine terms reach 1e-19 relative (no logarithm
/// call, no cancellation).
#[inline]
fn authalic_q(sin_phi: f64) -> f64 {
    let s2 = sin_phi * sin_phi;
    let y = WGS84_E2 * s2;
    let mut atanh_over = 1.0 / 17.0;
    for k in (0..8).rev() {
        atanh_over = 1.0 / f64::from(2 * k + 1) + y * atanh_over;
    }
    (1.0 - WGS84_E2) * (sin_phi / (1.0 - y) + sin_phi * atanh_over)
}

/// Radius of the sphere with the WGS84 ellipsoid's surface area, R_q = a·√(q_p/2).
fn authalic_radius() -> f64 {
    WGS84_A * (authalic_q(1.0) / 2.0).sqrt()
}

/// Lambert azimuthal equal-area projection of the WGS84 ellipsoid, centred at (lat0, lng0): geodetic latitude
/// is mapped to authalic latitude β = asin(q/q_p), then projected from the authalic sphere (Snyder eqs. 3-11,
/// 3-12, 24-2 to 24-4). Both steps preserve area, so areas come out in true ellipsoidal square metres.
#[derive(Debug, Clone, Copy)]
struct Laea {
    sin0: f64,
    cos0: f64,
    lng0: f64,
    /// sin and cos of lng0.
    sl0: f64,
    cl0: f64,
    qp: f64,
    r: f64,
}

impl Laea {
    fn new(lat0: f64, lng0: f64) -> Self {
        let qp = authalic_q(1.0);
        let beta0 = (authalic_q(lat0.to_radians().sin()) / qp)
            .clamp(-1.0, 1.0)
            .asin();
        let (s, c) = beta0.sin_cos();
        let (sl0, cl0) = lng0.to_radians().sin_cos();
        Laea {
            sin0: s,
            cos0: c,
            lng0: lng0.to_radians(),
            sl0,
            cl0,
            qp,
            r: authalic_radius(),
        }
    }
    #[inline]
    fn fwd(&self, (lat, lng): Pt) -> Pt {
        // The fast kernel's fdlibm sine and cosine (arguments within a few radians here).
        let sb =
            (authalic_q(crate::fastcell::sincos(lat.to_radians()).0) / self.qp).clamp(-1.0, 1.0);
        let cb = (1.0 - sb * sb).max(0.0).sqrt();
        let (sl, cl) = crate::fastcell::sincos(lng.to_radians() - self.lng0);
        let denom = 1.0 + self.sin0 * sb + self.cos0 * cb * cl;
        let k = (2.0 / denom.max(1e-300)).sqrt();
        (
            self.r * k * cb * sl,
            self.r * k * (self.cos0 * sb - self.sin0 * cb * cl),
        )
    }
    /// Inverse: projected metres back to geodetic (lat, lng) degrees (Snyder eqs. 24-16, 24-17, 20-14 and
    /// the authalic-to-geodetic series 3-18; better than a millimetre).
    fn inv(&self, (x, y): Pt) -> Pt {
        let rho = (x * x + y * y).sqrt();
        let (beta, lam) = if rho < 1e-12 {
            (self.sin0.asin(), self.lng0)
        } else {
            let c = 2.0 * (rho / (2.0 * self.r)).min(1.0).asin();
            let (sc, cc) = c.sin_cos();
            let beta = (cc * self.sin0 + y * sc * self.cos0 / rho)
                .clamp(-1.0, 1.0)
                .asin();
            let lam = self.lng0 + (x * sc).atan2(rho * self.cos0 * cc - y * self.sin0 * sc);
            (beta, lam)
        };
        let e2 = WGS84_E2;
        let (e4, e6) = (e2 * e2, e2 * e2 * e2);
        let phi = beta
            + (e2 / 3.0 + 31.0 * e4 / 180.0 + 517.0 * e6 / 5040.0) * (2.0 * beta).sin()
            + (23.0 * e4 / 360.0 + 251.0 * e6 / 3780.0) * (4.0 * beta).sin()
            + (761.0 * e6 / 45360.0) * (6.0 * beta).sin();
        (phi.to_degrees(), lam.to_degrees())
    }
}

/// The projection centred on the centre of the res-3 cell `r`, memoised per thread (a pure function of the
/// cell: the centre's trigonometry and the authalic latitude cost about a microsecond, per area otherwise).
fn region_projection(r: CellIndex) -> Laea {
    thread_local! {
        static MEMO: std::cell::RefCell<CellMap<Laea>> = std::cell::RefCell::new(CellMap::default());
    }
    MEMO.with(|m| {
        *m.borrow_mut().entry(r).or_insert_with(|| {
            let c = LatLng::from(r);
            Laea::new(c.lat(), c.lng())
        })
    })
}

/// Signed shoelace area (positive counter-clockwise).
fn signed_area(ring: &[Pt]) -> f64 {
    let n = ring.len();
    if n < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    let (mut x1, mut y1) = ring[n - 1];
    for &(x2, y2) in ring {
        s += x1 * y2 - x2 * y1;
        (x1, y1) = (x2, y2);
    }
    0.5 * s
}

#[inline]
fn cross(o: Pt, a: Pt, b: Pt) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Farthest a vertex may lie from its projection's centre (great-circle distance on the authalic sphere).
pub const MAX_EXTENT_KM: f64 = 2_000.0;

/// Bound (1/m) on the curvature, in an area's projection, of an edge that is straight in the input coordinates
/// (lon/lat within 85° of the equator: below tan 85° / R = 1.8e-6; British National Grid: below 1e-7), so such
/// an edge bows at most `BOW_KAPPA · L² / 8` away from its chord of length L. Checked in the tests.
const BOW_KAPPA: f64 = 4e-6;

/// A projected area, ready for clipping: loops with a factor, such that Σ factor × winding number of the loop
/// is 1 inside the area and 0 outside. Valid polygons: the rings themselves, factor ±1 (sign × orientation: an
/// exterior adds, a hole subtracts, whatever its winding). Invalid polygons: the loops of the repaired region
/// (see [`crate::repair`]), factor 1.
#[derive(Debug, Clone)]
struct Projected {
    proj: Laea,
    /// The res-3 cell whose centre is the projection's centre.
    region: u64,
    loops: Vec<(Vec<Pt>, f64)>,
    /// Input rings in lat/lng and the same rings projected (for walking the boundary).
    rings_ll: Vec<Vec<Pt>>,
    /// Empty when `loops_are_rings` (the rings are then the loops): read them through [`Projected::rings_xy`].
    rings_xy: Vec<Vec<Pt>>,
    bbox: (f64, f64, f64, f64), // lat_min, lat_max, lng_min, lng_max (longitudes unwrapped)
    /// The smaller side of the projected bounding box (m).
    min_span_m: f64,
    area_m2: f64,
    /// The input was invalid (OGC) and was repaired.
    repaired: bool,
    /// `loops` are `rings_xy` themselves (in the same order), with their factors: the projected rings are a
    /// valid polygon, so no repair was needed.
    loops_are_rings: bool,
}

impl Projected {
    /// The projected rings (the same order as `rings_ll`).
    fn rings_xy(&self) -> impl Iterator<Item = &[Pt]> + '_ {
        let own = self
            .loops
            .iter()
            .take(if self.loops_are_rings { usize::MAX } else { 0 });
        self.rings_xy
            .iter()
            .map(Vec::as_slice)
            .chain(own.map(|l| l.0.as_slice()))
    }
}

fn project(polys: Vec<Poly>) -> std::result::Result<Projected, GeomIssue> {
    let mut bbox = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in &polys {
        for r in &p.rings {
            for &(la, ln) in r {
                bbox = (
                    bbox.0.min(la),
                    bbox.1.max(la),
                    bbox.2.min(ln),
                    bbox.3.max(ln),
                );
            }
        }
    }
    // The projection is centred on the res-3 cell (≈ 100 km across) holding the area's bounding-box centre,
    // so neighbouring areas share it, and with it their projected hexagons.
    let region = cell_of(
        0.5 * (bbox.0 + bbox.1),
        0.5 * (bbox.2 + bbox.3),
        Resolution::Three,
    );
    let proj = match region {
        Some(r) => region_projection(r),
        None => Laea::new(0.5 * (bbox.0 + bbox.1), 0.5 * (bbox.2 + bbox.3)),
    };
    let region = region.map(u64::from).unwrap_or(0);
    // Validity in the input coordinates (as shapely/GEOS would judge the geometry); repair in the projection.
    let degenerate = polys.iter().any(|p| p.degenerate);
    let mut raws = Vec::with_capacity(polys.len());
    let mut xys: Vec<Vec<Vec<Pt>>> = Vec::with_capacity(polys.len());
    let mut rings_ll = Vec::new();
    let r_auth = authalic_radius();
    let max_rho = 2.0 * r_auth * (MAX_EXTENT_KM * 1e3 / (2.0 * r_auth)).sin();
    for p in polys {
        let mut xy_rings = Vec::with_capacity(p.rings.len());
        for r in p.rings {
            let xy: Vec<Pt> = r.iter().map(|&q| proj.fwd(q)).collect();
            if !xy.iter().all(|q| (q.0 * q.0 + q.1 * q.1).sqrt() <= max_rho) {
                return Err(GeomIssue::TooLarge);
            }
            xy_rings.push(xy);
            rings_ll.push(r);
        }
        xys.push(xy_rings);
        raws.push(p.raw);
    }
    // The flag reports the input as OGC-invalid, judged in the input coordinates. The region measured is
    // always that of a valid polygon in the projection, where edges are straight: a polygon valid in its input
    // coordinates whose projected edges cross or touch (a vertex within the chords' bow of another edge) is
    // repaired there too. The projected test runs first; when it finds the rings valid with every pair of
    // segments farther apart than their bows, the input rings are valid too and their test is skipped.
    let polar = bbox.0 < -85.0 || bbox.1 > 85.0;
    let (valid_xy, clear) =
        crate::repair::is_valid_clear(&xys, if polar { f64::NAN } else { BOW_KAPPA });
    let repaired = degenerate || !((valid_xy && clear) || crate::repair::is_valid(&raws));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in xys.iter().flatten().flatten() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    // A valid area's loops are its projected rings themselves (moved, not copied: `rings_xy` stays empty).
    type Loops = Vec<(Vec<Pt>, f64)>;
    let (loops, rings_xy): (Loops, Vec<Vec<Pt>>) = if !valid_xy {
        let loops = crate::repair::repair(&xys)
            .into_iter()
            .map(|l| (l, 1.0))
            .collect();
        (loops, xys.into_iter().flatten().collect())
    } else {
        let mut loops = Vec::with_capacity(xys.iter().map(Vec::len).sum());
        for p in xys {
            for (k, r) in p.into_iter().enumerate() {
                // Factor sign × orientation, so that the clipped signed areas add up to the ring's area.
                let sign = if k == 0 { 1.0 } else { -1.0 };
                let orient = if signed_area(&r) < 0.0 { -1.0 } else { 1.0 };
                loops.push((r, sign * orient));
            }
        }
        (loops, Vec::new())
    };
    let area_m2 = loops
        .iter()
        .map(|(l, f)| f * signed_area(l))
        .sum::<f64>()
        .max(0.0);
    Ok(Projected {
        proj,
        region,
        loops,
        rings_ll,
        rings_xy,
        bbox,
        min_span_m: (x1 - x0).min(y1 - y0).max(0.0),
        area_m2,
        repaired,
        loops_are_rings: valid_xy,
    })
}

/// Sutherland–Hodgman: clip `subject` by the convex counter-clockwise polygon `clip`.
fn clip_convex(subject: &[Pt], clip: &[Pt], buf: &mut Vec<Pt>, out: &mut Vec<Pt>) {
    out.clear();
    out.extend_from_slice(subject);
    let m = clip.len();
    for e in 0..m {
        if out.is_empty() {
            return;
        }
        let (a, b) = (clip[e], clip[if e + 1 == m { 0 } else { e + 1 }]);
        std::mem::swap(buf, out);
        out.clear();
        let mut prev = buf[buf.len() - 1];
        let mut dp = cross(a, b, prev);
        for &cur in buf.iter() {
            let dc = cross(a, b, cur);
            if dc >= 0.0 {
                if dp < 0.0 {
                    out.push(line_hit(prev, cur, dp, dc));
                }
                out.push(cur);
            } else if dp >= 0.0 {
                out.push(line_hit(prev, cur, dp, dc));
            }
            (prev, dp) = (cur, dc);
        }
    }
}

/// The point where segment p→q crosses a line, from the signed distances-like crosses `d1` (of p) and `d2`
/// (of q) of opposite signs.
#[inline]
fn line_hit(p: Pt, q: Pt, d1: f64, d2: f64) -> Pt {
    let t = d1 / (d1 - d2);
    (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1))
}

/// Point in polygon (non-zero coverage, see [`coverage`]).
fn contains(loops: &[(Vec<Pt>, f64)], p: Pt) -> bool {
    coverage(loops, p) > 0.5
}

/// How many times the area covers `p`: Σ over loops of (loop factor × winding number of the loop around p).
/// 1 inside a valid polygon, 0 outside or in a hole; the same weighting as the clipped areas, so interior cells
/// and boundary cells add up to the polygon's area.
fn coverage(loops: &[(Vec<Pt>, f64)], p: Pt) -> f64 {
    let mut total = 0.0;
    for (l, factor) in loops {
        let Some(&last) = l.last() else {
            continue;
        };
        let mut wn = 0i64;
        let mut a = last;
        for &b in l {
            let prev = std::mem::replace(&mut a, b);
            let a = prev;
            if a.1 <= p.1 {
                if b.1 > p.1 && cross(a, b, p) > 0.0 {
                    wn += 1;
                }
            } else if b.1 <= p.1 && cross(a, b, p) < 0.0 {
                wn -= 1;
            }
        }
        total += factor * wn as f64;
    }
    total
}

/// Average hexagon edge length (m) at each resolution (H3 published table, res 0..=15).
const AVG_EDGE_M: [f64; 16] = [
    1_281_256.011,
    483_056.839,
    182_512.957,
    68_979.222,
    26_071.760,
    9_854.091,
    3_724.533,
    1_406.476,
    531.414,
    200.786,
    75.864,
    28.664,
    10.830,
    4.092,
    1.546,
    0.584,
];

#[inline]
fn cell_of(lat: f64, lng: f64, res: Resolution) -> Option<CellIndex> {
    // Unwrapped longitudes (antimeridian crossers) back into [-180, 180].
    let lng = if lng.abs() > 180.0 {
        lng - 360.0 * (lng / 360.0).round()
    } else {
        lng
    };
    if !(lat.is_finite() && lng.is_finite()) {
        return None;
    }
    // The fast kernel: bit-identical to H3 C 4.5 (h3-py), and to h3o off cell edges.
    CellIndex::try_from(crate::fastcell::latlng_to_cell(lat, lng, u8::from(res))).ok()
}

/// A hasher for cell indices (one 64-bit finaliser): far cheaper than SipHash here.
#[derive(Default, Clone, Copy)]
struct CellHasher(u64);

impl std::hash::Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // MurmurHash3's fmix64 finaliser: every input bit reaches the low (bucket) and high (tag) bits.
        let mut x = v;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 33;
        self.0 = x;
    }
}

type CellBuild = std::hash::BuildHasherDefault<CellHasher>;
type CellMap<V> = std::collections::HashMap<CellIndex, V, CellBuild>;
type CellSet = std::collections::HashSet<CellIndex, CellBuild>;

/// The neighbours of a cell (and the cell), without allocating.
fn disk1(c: CellIndex, f: &mut impl FnMut(CellIndex)) {
    let mut fast = [None; 7];
    let mut ok = true;
    for (slot, n) in fast.iter_mut().zip(c.grid_disk_fast(1)) {
        ok &= n.is_some();
        *slot = n;
    }
    if ok {
        fast.iter().flatten().for_each(|&n| f(n));
    } else {
        c.grid_disk_safe(1).for_each(f);
    }
}

/// Projected hexagons (counter-clockwise) and their areas, shared by the areas of one projection region that
/// one thread processes in a row (neighbours share cells). Entries depend only on the cell and the region's
/// projection, so results do not depend on what the cache holds.
struct Hexes<'a> {
    proj: &'a Laea,
    map: &'a mut CellMap<(Vec<Pt>, f64)>,
}

impl Hexes<'_> {
    fn get(&mut self, c: CellIndex) -> &(Vec<Pt>, f64) {
        let proj = self.proj;
        self.map.entry(c).or_insert_with(|| {
            let mut h: Vec<Pt> = c
                .boundary()
                .iter()
                .map(|v| proj.fwd((v.lat(), v.lng())))
                .collect();
            let a = signed_area(&h);
            if a < 0.0 {
                h.reverse();
            }
            (h, a.abs())
        })
    }
}

/// Is `p` inside (or within `tol` metres of) the convex counter-clockwise polygon `h`.
fn inside_convex(h: &[Pt], p: Pt, tol: f64) -> bool {
    let m = h.len();
    (0..m).all(|i| {
        let (a, b) = (h[i], h[if i + 1 == m { 0 } else { i + 1 }]);
        let c = cross(a, b, p);
        c >= 0.0 || c >= -tol * ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt()
    })
}

/// Parameter t in [0, 1] at which the segment a→b leaves the convex counter-clockwise polygon `h`
/// (Cyrus–Beck), or None if it never does.
fn exit_t(h: &[Pt], a: Pt, b: Pt) -> Option<f64> {
    let m = h.len();
    let d = (b.0 - a.0, b.1 - a.1);
    let mut t_exit = f64::INFINITY;
    for i in 0..m {
        let (p, q) = (h[i], h[if i + 1 == m { 0 } else { i + 1 }]);
        let f0 = cross(p, q, a);
        let cd = (q.0 - p.0) * d.1 - (q.1 - p.1) * d.0;
        if cd < 0.0 {
            t_exit = t_exit.min(f0 / -cd);
        }
    }
    (t_exit.is_finite()).then_some(t_exit)
}

/// The cells the boundary of an area crosses: each ring is walked segment by segment from cell to cell
/// (leave the current hexagon, step just past the exit point, look the next cell up), so every crossed cell
/// is found with one cell lookup each, however thin the polygon. Segments the walk cannot follow (numerical
/// corner cases) are sampled densely instead, with the neighbours of the sampled cells added.
fn boundary_cells(p: &Projected, res: Resolution, hexes: &mut Hexes<'_>) -> Vec<CellIndex> {
    let mut cells: Vec<CellIndex> = Vec::new();
    let step_m = 0.3 * AVG_EDGE_M[usize::from(u8::from(res))];
    for (ring_ll, ring_xy) in p.rings_ll.iter().zip(p.rings_xy()) {
        let n = ring_ll.len();
        if n == 0 {
            continue;
        }
        let Some(mut cur) = cell_of(ring_ll[0].0, ring_ll[0].1, res) else {
            continue;
        };
        cells.push(cur);
        for i in 0..n {
            // One huge polygon can take seconds: honour Ctrl-C inside it (the caller checks afterwards).
            if i.is_multiple_of(1024) && crate::cancel::requested() {
                return cells;
            }
            let (a, b) = (ring_xy[i], ring_xy[(i + 1) % n]);
            let seg = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            if seg == 0.0 {
                continue;
            }
            let mut t0 = 0.0f64;
            let mut ok = true;
            for _ in 0..100_000 {
                let h = &hexes.get(cur).0;
                if inside_convex(h, b, 1e-6) {
                    break;
                }
                let t = match exit_t(h, a, b) {
                    Some(t) => t.max(t0),
                    None => {
                        ok = false;
                        break;
                    }
                };
                if t >= 1.0 {
                    break;
                }
                let mut eps = (1e-3 / seg).max(1e-12);
                let mut next = cur;
                for _ in 0..6 {
                    let tn = (t + eps).min(1.0);
                    let q = p.proj.inv((a.0 + tn * (b.0 - a.0), a.1 + tn * (b.1 - a.1)));
                    if let Some(c) = cell_of(q.0, q.1, res) {
                        next = c;
                    }
                    if next != cur {
                        break;
                    }
                    eps *= 10.0;
                }
                if next == cur {
                    ok = false;
                    break;
                }
                cur = next;
                cells.push(cur);
                t0 = t;
            }
            if !ok {
                // Dense fallback for this segment.
                let k = ((seg / step_m).ceil() as usize).max(1);
                for s in 0..=k {
                    let t = s as f64 / k as f64;
                    let q = p.proj.inv((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
                    if let Some(c) = cell_of(q.0, q.1, res) {
                        disk1(c, &mut |n| cells.push(n));
                    }
                }
                let q = p.proj.inv(b);
                if let Some(c) = cell_of(q.0, q.1, res) {
                    cur = c;
                }
            }
        }
    }
    cells.sort_unstable();
    cells.dedup();
    cells
}

/// Intersection areas (m²) of one projected area with the cells it touches, ascending by cell; zero-area
/// cells are left out. Boundary cells (those the input rings pass through) are clipped; every other cell is
/// wholly inside or wholly outside, and the inside ones are found by flooding outwards from the boundary cells,
/// each decided by one point-in-polygon test of its centre and taken whole. The flood visits every cell inside
/// (it expands only from cells whose centre is inside, and the boundary cells are already visited); it is
/// skipped only when the area's projected bounding box is too narrow to hold any whole cell.
fn area_cells(
    p: &Projected,
    res: Resolution,
    shared: &mut CellMap<(Vec<Pt>, f64)>,
) -> Vec<(u64, f64)> {
    let mut hexes = Hexes {
        proj: &p.proj,
        map: shared,
    };
    let boundary = boundary_cells(p, res, &mut hexes);
    let mut out: Vec<(u64, f64)> = Vec::with_capacity(boundary.len());
    let (mut buf, mut clipped) = (Vec::new(), Vec::new());
    for &c in &boundary {
        let (hex, _) = hexes.get(c);
        let mut a = 0.0;
        for (l, factor) in &p.loops {
            clip_convex(l, hex, &mut buf, &mut clipped);
            a += factor * signed_area(&clipped);
        }
        if a > 0.0 {
            out.push((u64::from(c), a));
        }
    }
    // A cell wholly inside the area needs room for its inscribed circle: radius > 0.34 × the average edge
    // length at this resolution (H3's shortest edges are 0.71 × the average, a pentagon's inradius is 0.69 × its
    // edge). An area whose projected bounding box is narrower than 0.6 × the average edge has no cell wholly
    // inside it, so nothing to flood (a geometric bound, not an area count).
    if p.min_span_m < 0.6 * AVG_EDGE_M[usize::from(u8::from(res))] {
        out.sort_unstable_by_key(|x| x.0);
        return out;
    }
    // The flood: cells next to a boundary cell are decided by the coverage of their centre; a cell reached
    // from an inside cell with no boundary cell among its neighbours takes that cell's coverage (no ring passes
    // through either cell, or both would be boundary cells: coverage is constant across the two), which skips
    // the centre's computation and the point-in-polygon test for most interior cells.
    let bset: CellSet = boundary.iter().copied().collect();
    let mut seen: CellSet = bset.clone();
    let mut stack: Vec<(CellIndex, f64)> = Vec::new();
    for &c in &boundary {
        disk1(c, &mut |nb| {
            if seen.insert(nb) {
                stack.push((nb, f64::NAN));
            }
        });
    }
    let mut visited = 0u32;
    let mut nbs: Vec<CellIndex> = Vec::with_capacity(7);
    while let Some((c, inherited)) = stack.pop() {
        visited = visited.wrapping_add(1);
        if visited.is_multiple_of(65_536) && crate::cancel::requested() {
            break; // the caller reports the cancellation; nothing of this area is used
        }
        let centre_cover = || {
            let centre = LatLng::from(c);
            coverage(&p.loops, p.proj.fwd((centre.lat(), centre.lng()))).round()
        };
        nbs.clear();
        let cover = if inherited.is_nan() {
            centre_cover()
        } else {
            disk1(c, &mut |nb| nbs.push(nb));
            if nbs.iter().any(|nb| bset.contains(nb)) {
                centre_cover()
            } else {
                inherited
            }
        };
        if cover > 0.5 {
            if nbs.is_empty() {
                disk1(c, &mut |nb| nbs.push(nb));
            }
            out.push((u64::from(c), cover * hexes.get(c).1));
            for &nb in &nbs {
                if seen.insert(nb) {
                    stack.push((nb, cover));
                }
            }
        }
    }
    out.sort_unstable_by_key(|x| x.0);
    out
}

/// How an area's weights were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AreaMethod {
    /// Exact area shares.
    Area = 1,
    /// The polygon has zero area (degenerate): all of it goes to the cell of its first vertex.
    Degenerate = 4,
}

impl AreaMethod {
    /// Every method, for the bindings' code → name table.
    pub const ALL: [AreaMethod; 2] = [AreaMethod::Area, AreaMethod::Degenerate];

    /// The name the audit shows.
    pub fn name(self) -> &'static str {
        match self {
            AreaMethod::Area => "area",
            AreaMethod::Degenerate => "degenerate",
        }
    }
}

/// The area crosswalk of a set of polygons at one resolution, plus the per-area audit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolygonCrosswalk {
    pub area: Vec<u32>,
    pub cell: Vec<u64>,
    pub weight: Vec<f64>,
    /// Per area: the summed intersection areas of its rows (m²; equal to `area_m2` up to rounding; 0 for
    /// the degenerate method). A row's intersection area is its weight × this.
    pub covered_m2: Vec<f64>,
    /// Per area: polygon area (m², on the WGS84 ellipsoid: equal-area projection through the authalic
    /// latitude), whether it was invalid and repaired, and the method code.
    pub area_m2: Vec<f64>,
    pub repaired: Vec<bool>,
    pub method: Vec<u8>,
}

/// Parse and project every geometry; errors name the rows by issue.
fn parse_all(geoms: &[&[u8]], crs: Crs) -> Result<Vec<Projected>> {
    let parsed: Vec<std::result::Result<Projected, GeomIssue>> = geoms
        .par_iter()
        .map_init(VertexCache::default, |cache, g| {
            if crate::cancel::requested() {
                return Err(GeomIssue::Empty); // discarded: the check below reports the cancellation
            }
            parse(g, crs, cache).and_then(project)
        })
        .collect();
    crate::cancel::check()?;
    report_issues(
        parsed
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().err().map(|e| (i, *e))),
        crs,
    )?;
    parsed
        .into_iter()
        .map(|p| p.map_err(|_| HlError::Internal("unreported geometry issue".into())))
        .collect()
}

/// The error naming the rows (ascending) of the first kind of issue found, if any.
fn report_issues(issues: impl Iterator<Item = (usize, GeomIssue)>, crs: Crs) -> Result<()> {
    let mut lists: [RowList; 5] = Default::default();
    for (i, e) in issues {
        lists[e as usize].push(i);
    }
    let too_large = format!(
        "polygons within {MAX_EXTENT_KM:.0} km of their centre (every vertex within {MAX_EXTENT_KM:.0} km of the \
         centre of the res-3 cell holding the bounding-box centre, where each polygon's Lambert equal-area \
         projection is centred); split larger polygons"
    );
    let names = [
        (GeomIssue::Empty, "non-empty polygon geometry"),
        (GeomIssue::NotPolygon, "Polygon or MultiPolygon geometry"),
        (
            GeomIssue::OutOfRange,
            match crs {
                Crs::Wgs84 => "coordinates in range for WGS84 (|lng| <= 180, |lat| <= 90)",
                Crs::Bng => {
                    "coordinates in range for British National Grid (0..700000 E, 0..1300000 N)"
                }
            },
        ),
        (GeomIssue::Malformed, "well-formed WKB"),
        (GeomIssue::TooLarge, too_large.as_str()),
    ];
    for (issue, expected) in names {
        let rows = std::mem::take(&mut lists[issue as usize]);
        if !rows.is_empty() {
            return Err(HlError::InvalidValues {
                arg: "geometry".into(),
                rows,
                expected: expected.into(),
            });
        }
    }
    Ok(())
}

/// A spatial sort key of a geometry from its first vertex as stored (no conversion): a Morton code of the
/// input coordinates on a grid (BNG: 1 km; WGS84: 0.1°); 0 when the WKB cannot be read
/// that far (the geometry's own processing then reports it).
fn first_vertex_key(wkb: &[u8], crs: Crs) -> u64 {
    let mut r = Reader {
        b: wkb,
        pos: 0,
        le: true,
    };
    let mut first = || -> std::result::Result<Pt, GeomIssue> {
        let (base, _) = r.header()?;
        if base == 6 {
            r.u32()?;
            r.header()?;
        }
        r.u32()?; // rings
        r.u32()?; // points
        Ok((r.f64()?, r.f64()?))
    };
    let Ok((x, y)) = first() else {
        return 0;
    };
    let k = match crs {
        Crs::Bng => 1.0,
        Crs::Wgs84 => 1e4, // 0.1° bins after the /1000 of morton_km
    };
    if !(x.is_finite() && y.is_finite()) {
        return 0;
    }
    morton_km((x * k, y * k))
}

/// The areas' indices sorted by [`first_vertex_key`] (then index). Keys have 44 bits: with fewer than 2^20
/// areas, key and index pack into one u64 (a third of the sort's memory traffic).
fn spatial_order(geoms: &[&[u8]], crs: Crs) -> Vec<usize> {
    const IDX: u32 = 20;
    if geoms.len() < 1 << IDX {
        let mut keys: Vec<u64> = geoms
            .par_iter()
            .enumerate()
            .map(|(i, g)| (first_vertex_key(g, crs) << IDX) | i as u64)
            .collect();
        // Built in index order: a stable radix sort of the key bits alone gives (key, index) order.
        crate::aggregate::radix_sort(&mut keys, IDX, 64);
        return keys
            .iter()
            .map(|k| (k & ((1 << IDX) - 1)) as usize)
            .collect();
    }
    let mut order: Vec<(u64, usize)> = geoms
        .par_iter()
        .enumerate()
        .map(|(i, g)| (first_vertex_key(g, crs), i))
        .collect();
    order.par_sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// Morton (Z-order) code of a point in metres on a 1 km grid (|x|, |y| < 2^21 km).
fn morton_km((x, y): Pt) -> u64 {
    fn spread(v: f64) -> u64 {
        let mut v = ((v * 1e-3).floor() + f64::from(1u32 << 21))
            .clamp(0.0, f64::from((1u32 << 22) - 1)) as u64;
        v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
        v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
        v = (v | (v << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// Exact area-share crosswalk of polygons (WKB) onto cells at `res`. Every area's weights sum to 1 (to
/// rounding); rows come ordered by area, then cell, whatever the number of threads.
pub fn polygon_crosswalk(geoms: &[&[u8]], crs: Crs, res: Resolution) -> Result<PolygonCrosswalk> {
    crosswalk_with(geoms, crs, res, true)
}

/// [`polygon_crosswalk`], with the lattice fast path (areas well inside one icosahedron face) or without it
/// (every area by the general path: the tests compare the two).
fn crosswalk_with(
    geoms: &[&[u8]],
    crs: Crs,
    res: Resolution,
    fast: bool,
) -> Result<PolygonCrosswalk> {
    // Work in spatial order (a Morton code of each geometry's first vertex), so that the areas one thread
    // handles in a row are neighbours and share projected hexagons; each area is parsed, projected and cut
    // into cells in one go (its data stays in cache); results go back to input order and do not depend on
    // the order (the caches hold pure functions of the cell and the projection region).
    let order = spatial_order(geoms, crs);
    // A few contiguous runs per thread, each with its own caches of projected hexagons (one per region).
    let run = order
        .len()
        .div_ceil(16 * rayon::current_num_threads())
        .max(1);
    struct Run {
        /// (area, first row, row count, method, area m², repaired).
        areas: Vec<(usize, usize, usize, AreaMethod, f64, bool)>,
        rows: Vec<(u64, f64)>,
        issues: Vec<(usize, GeomIssue)>,
    }
    type Caches = CellMap<(Vec<Pt>, f64)>;
    type Scratch = lattice::Scratch;
    thread_local! {
        // The lattice path's table of projected hexagons, kept by each thread from run to run (fixed size).
        static HEXES: std::cell::RefCell<Option<Box<lattice::HexCache>>> = const { std::cell::RefCell::new(None) };
    }
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let runs: Vec<Run> = order
        .par_chunks(run)
        .map(|chunk| {
            let mut caches: std::collections::HashMap<u64, Caches, CellBuild> = Default::default();
            let mut hexes = HEXES.with(|h| h.borrow_mut().take()).unwrap_or_default();
            hexes.begin(call);
            let mut cached = 0usize;
            let mut scratch = Scratch::default();
            let mut vertices = VertexCache::default();
            if crs == Crs::Bng {
                vertices.latlng.reserve(chunk.len() * 4);
            }
            let mut out = Run {
                areas: Vec::with_capacity(chunk.len()),
                rows: Vec::with_capacity(chunk.len() * 8),
                issues: Vec::new(),
            };
            for &i in chunk {
                if crate::cancel::requested() {
                    break;
                }
                let p = match parse(geoms[i], crs, &mut vertices).and_then(project) {
                    Ok(p) => p,
                    Err(e) => {
                        out.issues.push((i, e));
                        continue;
                    }
                };
                if !out.issues.is_empty() {
                    continue; // the call fails: only the issues are still wanted
                }
                if cached > 400_000 {
                    caches.clear();
                    cached = 0;
                }
                let shared = caches.entry(p.region).or_default();
                let before = shared.len();
                let rows = &mut out.rows;
                let start = rows.len();
                let quick = fast
                    && lattice::Lattice::for_area(&p, u8::from(res)).is_some_and(|l| {
                        lattice::area_cells(&p, &l, &mut hexes, &mut scratch, rows)
                    });
                if quick {
                    rows[start..].sort_unstable_by_key(|x| x.0);
                } else {
                    rows.truncate(start);
                    rows.extend(area_cells(&p, res, shared));
                }
                cached += shared.len().saturating_sub(before);
                let total: f64 = rows[start..].iter().map(|c| c.1).sum();
                if total > 0.0 && p.area_m2 > 0.0 {
                    let n = rows.len() - start;
                    out.areas
                        .push((i, start, n, AreaMethod::Area, p.area_m2, p.repaired));
                } else {
                    let first = p
                        .rings_ll
                        .first()
                        .and_then(|r| r.first())
                        .copied()
                        .unwrap_or((0.0, 0.0));
                    let c = cell_of(first.0, first.1, res).map(u64::from).unwrap_or(0);
                    rows.truncate(start);
                    rows.push((c, 0.0));
                    out.areas
                        .push((i, start, 1, AreaMethod::Degenerate, p.area_m2, p.repaired));
                }
            }
            HEXES.with(|h| *h.borrow_mut() = Some(hexes));
            out
        })
        .collect();
    crate::cancel::check()?;
    let mut issues: Vec<(usize, GeomIssue)> =
        runs.iter().flat_map(|r| r.issues.iter().copied()).collect();
    if !issues.is_empty() {
        issues.sort_unstable_by_key(|x| x.0);
        report_issues(issues.into_iter(), crs)?;
        return Err(HlError::Internal("unreported geometry issue".into()));
    }
    // Input order: where each area's rows are (run, first row, count), and the per-area outputs.
    let n_areas = geoms.len();
    let mut loc: Vec<(u32, u32, u32)> = vec![(u32::MAX, 0, 0); n_areas];
    let mut area_m2 = vec![0f64; n_areas];
    let mut repaired = vec![false; n_areas];
    let mut method = vec![AreaMethod::Area as u8; n_areas];
    let mut total_rows = 0usize;
    for (r, run) in runs.iter().enumerate() {
        for &(i, start, len, m, a, rep) in &run.areas {
            loc[i] = (r as u32, start as u32, len as u32);
            (area_m2[i], repaired[i], method[i]) = (a, rep, m as u8);
            total_rows += len;
        }
    }
    // Rows in input order, written in parallel: blocks of areas, each into its own slice of the outputs.
    let mut area = vec![0u32; total_rows];
    let mut cell = vec![0u64; total_rows];
    let mut weight = vec![0f64; total_rows];
    // Per area, the summed intersection areas (not a per-row column: a row's is its weight × this).
    let mut covered_m2 = vec![0f64; n_areas];
    let block = n_areas.div_ceil(8 * rayon::current_num_threads()).max(1024);
    let mut parts = Vec::new();
    {
        let (mut ra, mut rc, mut rw) = (&mut area[..], &mut cell[..], &mut weight[..]);
        for (b, (areas, covered)) in loc
            .chunks(block)
            .zip(covered_m2.chunks_mut(block))
            .enumerate()
        {
            let areas = (areas, &method[b * block..b * block + areas.len()], covered);
            let n: usize = areas.0.iter().map(|l| l.2 as usize).sum();
            let (a0, a1) = std::mem::take(&mut ra).split_at_mut(n);
            let (c0, c1) = std::mem::take(&mut rc).split_at_mut(n);
            let (w0, w1) = std::mem::take(&mut rw).split_at_mut(n);
            parts.push((b * block, areas, a0, c0, w0));
            (ra, rc, rw) = (a1, c1, w1);
        }
    }
    parts
        .into_par_iter()
        .for_each(|(first, (areas, methods, covered), oa, oc, ow)| {
            let mut k = 0;
            for (j, (&(r, start, len), &method)) in areas.iter().zip(methods).enumerate() {
                if r == u32::MAX {
                    continue;
                }
                let cells = &runs[r as usize].rows[start as usize..(start + len) as usize];
                let total: f64 = cells.iter().map(|c| c.1).sum();
                let by_area = method == AreaMethod::Area as u8;
                if by_area {
                    covered[j] = total;
                }
                for &(c, a) in cells {
                    oa[k] = (first + j) as u32;
                    oc[k] = c;
                    ow[k] = if by_area { a / total } else { 1.0 };
                    k += 1;
                }
            }
        });
    let out = PolygonCrosswalk {
        area,
        cell,
        weight,
        covered_m2,
        area_m2,
        repaired,
        method,
    };
    Ok(out)
}

/// The area (0-based index) containing each point, or `u32::MAX` where none does; with overlapping areas
/// the lowest index wins. Points are WGS84 degrees. A uniform bin index over the areas' bounding boxes picks
/// the candidates (bins of 0.02°, doubled until the index holds at most max(4M, 8 × areas) entries); the exact
/// test is the non-zero coverage of the area (as repaired) in its equal-area projection, the same test that
/// decides interior cells in [`polygon_crosswalk`]. Areas crossing the antimeridian are found from either side.
pub fn locate_points(geoms: &[&[u8]], crs: Crs, lat: &[f64], lng: &[f64]) -> Result<Vec<u32>> {
    crate::error::check_len("lng", lng.len(), "lat", lat.len())?;
    let projected = parse_all(geoms, crs)?;
    let cap = (8.0 * projected.len() as f64).max(4e6);
    let span = |lo: f64, hi: f64, bin: f64| (hi / bin).floor() - (lo / bin).floor() + 1.0;
    let mut bin = 0.02; // degrees
    while bin < 360.0
        && projected
            .iter()
            .map(|p| span(p.bbox.0, p.bbox.1, bin) * span(p.bbox.2, p.bbox.3, bin))
            .sum::<f64>()
            > cap
    {
        bin *= 2.0;
    }
    let key = |la: f64, ln: f64| ((la / bin).floor() as i64, (ln / bin).floor() as i64);
    let mut bins: std::collections::HashMap<(i64, i64), Vec<u32>> =
        std::collections::HashMap::new();
    for (i, p) in projected.iter().enumerate() {
        let (a0, b0) = key(p.bbox.0, p.bbox.2);
        let (a1, b1) = key(p.bbox.1, p.bbox.3);
        for a in a0..=a1 {
            for b in b0..=b1 {
                bins.entry((a, b)).or_default().push(i as u32);
            }
        }
    }
    let wraps = projected
        .iter()
        .any(|p| p.bbox.2 < -180.0 || p.bbox.3 > 180.0);
    let shifts: &[f64] = if wraps { &[0.0, 360.0, -360.0] } else { &[0.0] };
    let located: Vec<u32> = lat
        .par_iter()
        .zip(lng.par_iter())
        .map(|(&la, &ln)| {
            if !crate::cells::valid_latlng(la, ln) || crate::cancel::requested() {
                return u32::MAX;
            }
            shifts
                .iter()
                .filter_map(|&s| {
                    let ln = ln + s;
                    bins.get(&key(la, ln)).and_then(|cands| {
                        cands.iter().copied().find(|&i| {
                            let p = &projected[i as usize];
                            la >= p.bbox.0
                                && la <= p.bbox.1
                                && ln >= p.bbox.2
                                && ln <= p.bbox.3
                                && contains(&p.loops, p.proj.fwd((la, ln)))
                        })
                    })
                })
                .min()
                .unwrap_or(u32::MAX)
        })
        .collect();
    crate::cancel::check()?;
    Ok(located)
}

/// Test helper: WKB of a single-ring polygon.
pub fn polygon_wkb(ring: &[(f64, f64)]) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&((ring.len() + 1) as u32).to_le_bytes());
    for &(x, y) in ring.iter().chain(ring.first()) {
        b.extend_from_slice(&x.to_le_bytes());
        b.extend_from_slice(&y.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests_support {
    use super::*;

    /// A WGS84 ring of (lat, lng) degrees, parsed and projected as the crosswalk does.
    pub(super) fn projected(ring: &[(f64, f64)]) -> Projected {
        let xy: Vec<(f64, f64)> = ring.iter().map(|&(la, ln)| (ln, la)).collect();
        let mut cache = VertexCache::default();
        let polys = parse(&polygon_wkb(&xy), Crs::Wgs84, &mut cache).unwrap();
        project(polys).unwrap()
    }

    /// Any WKB geometry, parsed and projected as the crosswalk does.
    pub(super) fn projected_wkb(wkb: &[u8], crs: Crs) -> Projected {
        let mut cache = VertexCache::default();
        project(parse(wkb, crs, &mut cache).unwrap()).unwrap()
    }

    /// A MultiPolygon of (x, y) rings (each polygon: exterior, then holes; rings given open).
    pub(super) fn multi(polys: &[Vec<Vec<(f64, f64)>>]) -> Vec<u8> {
        let mut b = vec![1u8];
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&(polys.len() as u32).to_le_bytes());
        for p in polys {
            b.push(1);
            b.extend_from_slice(&3u32.to_le_bytes());
            b.extend_from_slice(&(p.len() as u32).to_le_bytes());
            for r in p {
                b.extend_from_slice(&((r.len() + 1) as u32).to_le_bytes());
                for &(x, y) in r.iter().chain(r.first()) {
                    b.extend_from_slice(&x.to_le_bytes());
                    b.extend_from_slice(&y.to_le_bytes());
                }
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::multi;
    use super::*;

    fn square(e: f64, n: f64, side: f64) -> Vec<u8> {
        polygon_wkb(&[(e, n), (e + side, n), (e + side, n + side), (e, n + side)])
    }

    #[test]
    fn laea_round_trips_to_a_millimetre() {
        let proj = Laea::new(52.0, -1.5);
        for &(lat, lng) in &[(52.0, -1.5), (50.1, -5.6), (55.8, 1.7), (51.5, -0.12)] {
            let (y, x) = proj.inv(proj.fwd((lat, lng)));
            assert!(
                (y - lat).abs() < 1e-8 && (x - lng).abs() < 1e-8,
                "{lat} {lng} -> {y} {x}"
            );
        }
    }

    #[test]
    fn straight_input_edges_bow_less_than_the_bound() {
        // Segments straight in lon/lat (up to ±85°, up to 2000 km from the centre) or in BNG, projected: the
        // largest distance from the chord stays below BOW_KAPPA · L² / 8.
        let frac = |x: f64| x - x.floor();
        let mut worst = 0.0f64;
        let max_rho =
            2.0 * authalic_radius() * (MAX_EXTENT_KM * 1e3 / (2.0 * authalic_radius())).sin();
        let mut check = |proj: &Laea, a: Pt, b: Pt| {
            let (pa, pb) = (proj.fwd(a), proj.fwd(b));
            if [pa, pb]
                .iter()
                .any(|p| (p.0 * p.0 + p.1 * p.1).sqrt() > max_rho)
            {
                return;
            }
            let l2 = (pb.0 - pa.0).powi(2) + (pb.1 - pa.1).powi(2);
            let bound = BOW_KAPPA * l2 / 8.0;
            for t in 1..40 {
                let t = f64::from(t) / 40.0;
                let q = proj.fwd((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
                let dev = cross(pa, pb, q).abs() / l2.sqrt();
                assert!(dev <= bound, "{a:?} {b:?}: {dev} > {bound}");
                worst = worst.max(dev / bound);
            }
        };
        for &lat0 in &[-84.0, -60.0, -30.0, 0.0, 30.0, 52.0, 60.0, 75.0, 84.0] {
            let proj = Laea::new(lat0, 10.0);
            for k in 0..400 {
                let k = f64::from(k);
                let lat = (lat0 + (frac(k * 0.618_034) - 0.5) * 30.0).clamp(-85.0, 85.0);
                let lng = 10.0 + (frac(k * 0.414_214) - 0.5) * 60.0;
                let span = [0.01, 0.1, 1.0, 3.0][k as usize % 4];
                let lat2 = (lat + (frac(k * 0.732_051) - 0.5) * span).clamp(-85.0, 85.0);
                let lng2 = lng + (frac(k * 0.236_068) - 0.5) * span;
                check(&proj, (lat, lng), (lat2, lng2));
            }
        }
        // BNG: straight in grid metres, through the OS transform, then projected.
        let proj = Laea::new(54.0, -2.5);
        for k in 0..400 {
            let k = f64::from(k);
            let (e, n) = (
                frac(k * 0.618_034) * 650_000.0,
                frac(k * 0.414_214) * 1_200_000.0,
            );
            let d = [1_000.0, 20_000.0, 100_000.0][k as usize % 3];
            let (e2, n2) = (
                e + (frac(k * 0.732_051) - 0.5) * d,
                n + (frac(k * 0.236_068) - 0.5) * d,
            );
            let (pa, pb) = (proj.fwd(bng_point(e, n)), proj.fwd(bng_point(e2, n2)));
            let l2 = (pb.0 - pa.0).powi(2) + (pb.1 - pa.1).powi(2);
            for t in 1..40 {
                let t = f64::from(t) / 40.0;
                let q = proj.fwd(bng_point(e + t * (e2 - e), n + t * (n2 - n)));
                let dev = cross(pa, pb, q).abs() / l2.sqrt();
                assert!(dev <= BOW_KAPPA * l2 / 8.0, "BNG {e} {n}: {dev}");
            }
        }
        assert!(worst > 0.01, "the bound is not vacuous: {worst}");
    }

    #[test]
    fn weights_sum_to_one_and_areas_add_up() {
        let g = square(530_000.0, 180_000.0, 3_000.0);
        let xw = polygon_crosswalk(&[&g], Crs::Bng, Resolution::Eight).unwrap();
        let s: f64 = xw.weight.iter().sum();
        assert!((s - 1.0).abs() < 1e-12);
        let covered: f64 = xw.covered_m2.iter().sum();
        // 3 km × 3 km on the grid is 9 km² / k² on the ground, k ≈ 0.99981 being the grid's point scale factor
        // 130 km east of the central meridian: 9.0034 km².
        assert!(
            (xw.area_m2[0] - 9.0034e6).abs() / 9.0e6 < 2e-4,
            "{}",
            xw.area_m2[0]
        );
        // Weights are normalised, so they sum to one by construction; the independent check is that clipped
        // and whole cells add up to the polygon's shoelace area.
        assert!((covered - xw.area_m2[0]).abs() / xw.area_m2[0] < 1e-9);
        assert!(xw.cell.len() > 10);
    }

    #[test]
    fn tiny_square_gets_its_one_cell_and_thin_strip_every_cell() {
        let c = CellIndex::try_from(0x0891_95da_49b7_ffff_u64).unwrap();
        let ll = LatLng::from(c);
        let d = 0.00004; // ~4 m
        let g = polygon_wkb(&[
            (ll.lng() - d, ll.lat() - d),
            (ll.lng() + d, ll.lat() - d),
            (ll.lng() + d, ll.lat() + d),
            (ll.lng() - d, ll.lat() + d),
        ]);
        let xw = polygon_crosswalk(&[&g], Crs::Wgs84, Resolution::Nine).unwrap();
        assert_eq!(xw.cell, vec![u64::from(c)]);
        assert_eq!(xw.weight, vec![1.0]);
        // A 5 m wide, 3 km long strip crosses many res-9 cells: all of them are found.
        let strip = polygon_wkb(&[
            (530_000.0, 180_000.0),
            (533_000.0, 180_000.0),
            (533_000.0, 180_005.0),
            (530_000.0, 180_005.0),
        ]);
        let xw = polygon_crosswalk(&[&strip], Crs::Bng, Resolution::Nine).unwrap();
        assert!(xw.cell.len() >= 8, "{}", xw.cell.len());
        let (lat, lng): (Vec<f64>, Vec<f64>) = (0..=3000)
            .map(|k| bng_point(530_000.0 + k as f64, 180_002.5))
            .unzip();
        let (mut cells, _) = crate::cells::latlng_to_cell(
            &lat,
            &lng,
            Resolution::Nine,
            crate::cells::OnInvalid::Raise,
        )
        .unwrap();
        cells.sort_unstable();
        cells.dedup();
        for c in cells {
            assert!(xw.cell.contains(&c), "missing cell {c:x}");
        }
    }

    #[test]
    fn holes_and_bowties() {
        // Square with a square hole: area = outer − inner.
        let mut b = vec![1u8];
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        for (e, n, s) in [
            (500_000.0, 200_000.0, 2000.0),
            (500_500.0, 200_500.0, 1000.0),
        ] {
            b.extend_from_slice(&5u32.to_le_bytes());
            for (x, y) in [(e, n), (e + s, n), (e + s, n + s), (e, n + s), (e, n)] {
                b.extend_from_slice(&f64::to_le_bytes(x));
                b.extend_from_slice(&f64::to_le_bytes(y));
            }
        }
        let outer = square(500_000.0, 200_000.0, 2000.0);
        let inner = square(500_500.0, 200_500.0, 1000.0);
        let xw = polygon_crosswalk(&[&b, &outer, &inner], Crs::Bng, Resolution::Eight).unwrap();
        // 3 km² on the grid, k² ≈ 0.9992 on the ground; exactly outer − inner.
        assert!(
            (xw.area_m2[0] - 3.0e6).abs() / 3.0e6 < 1e-3,
            "{}",
            xw.area_m2[0]
        );
        assert!((xw.area_m2[0] - (xw.area_m2[1] - xw.area_m2[2])).abs() < 1e-9 * xw.area_m2[0]);
        assert_eq!(xw.repaired, vec![false; 3]);
        // A figure of eight: two 1 km triangles, measured as their sum, flagged as repaired.
        let bow = polygon_wkb(&[
            (400_000.0, 300_000.0),
            (402_000.0, 302_000.0),
            (402_000.0, 300_000.0),
            (400_000.0, 302_000.0),
        ]);
        let xw = polygon_crosswalk(&[&bow], Crs::Bng, Resolution::Eight).unwrap();
        assert!(xw.repaired[0]);
        assert!(
            (xw.area_m2[0] - 2.0e6).abs() / 2.0e6 < 1e-3,
            "{}",
            xw.area_m2[0]
        );
        let s: f64 = xw.weight.iter().sum();
        assert!((s - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_geometries_are_named() {
        let point = {
            let mut b = vec![1u8];
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&0f64.to_le_bytes());
            b.extend_from_slice(&0f64.to_le_bytes());
            b
        };
        let empty = {
            let mut b = vec![1u8];
            b.extend_from_slice(&3u32.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b
        };
        let ok = square(530_000.0, 180_000.0, 100.0);
        let out = square(-5_000.0, 180_000.0, 100.0);
        match polygon_crosswalk(&[&ok, &point, &ok, &point], Crs::Bng, Resolution::Eight) {
            Err(HlError::InvalidValues { rows, .. }) => assert_eq!(rows.first, vec![1, 3]),
            other => panic!("{other:?}"),
        }
        assert!(polygon_crosswalk(&[&empty], Crs::Bng, Resolution::Eight).is_err());
        assert!(polygon_crosswalk(&[&out], Crs::Bng, Resolution::Eight).is_err());
        assert!(polygon_crosswalk(&[&ok], Crs::Wgs84, Resolution::Eight).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(48))]
        /// Random triangles to pentagons (possibly self-crossing, possibly with collinear overlaps) in Great
        /// Britain: every area's weights sum to one and the covered area equals the polygon's (as repaired).
        #[test]
        fn random_polygons_weights_sum_to_one(
            pts in proptest::collection::vec((300_000.0f64..310_000.0, 200_000.0f64..210_000.0), 3..6),
            res in 6u8..10,
        ) {
            let g = polygon_wkb(&pts);
            let res = Resolution::try_from(res).unwrap();
            let xw = polygon_crosswalk(&[&g], Crs::Bng, res).unwrap();
            let s: f64 = xw.weight.iter().sum();
            proptest::prop_assert!((s - 1.0).abs() < 1e-12);
            if xw.method[0] == AreaMethod::Area as u8 {
                let covered: f64 = xw.covered_m2.iter().sum();
                // Rounding of projected coordinates of ~10⁵ m: about 1e-6 m² absolute.
                proptest::prop_assert!((covered - xw.area_m2[0]).abs() <= 1e-9 * xw.area_m2[0] + 1e-4);
            }
        }
    }

    /// The lattice fast path and the general path give the same rows (up to slivers below 1e-12 of an area,
    /// which the general path's 1 mm probe can step over) and the same weights to 1e-10.
    fn fast_equals_general(geoms: &[&[u8]], crs: Crs, res: Resolution) {
        let fast = crosswalk_with(geoms, crs, res, true).unwrap();
        let general = crosswalk_with(geoms, crs, res, false).unwrap();
        assert_eq!(fast.area_m2, general.area_m2);
        assert_eq!(fast.method, general.method);
        let rows = |x: &PolygonCrosswalk| -> std::collections::BTreeMap<(u32, u64), f64> {
            x.area
                .iter()
                .zip(&x.cell)
                .zip(&x.weight)
                .map(|((&a, &c), &w)| ((a, c), w))
                .collect()
        };
        let (f, g) = (rows(&fast), rows(&general));
        for (k, w) in &f {
            let other = g.get(k).copied().unwrap_or(0.0);
            assert!((w - other).abs() < 1e-10, "{k:?}: fast {w} general {other}");
        }
        for (k, w) in &g {
            assert!(
                f.contains_key(k) || *w < 1e-12,
                "{k:?} ({w}) missing from the fast path"
            );
        }
    }

    #[test]
    fn lattice_path_equals_general_path_round_the_world() {
        // Small areas on several faces (both hemispheres, the antimeridian, Great Britain), resolutions 5..=11.
        let places: [(f64, f64); 6] = [
            (51.5, -0.1),
            (35.7, 139.7),
            (-33.9, 151.2),
            (-17.8, 179.9),
            (64.1, -21.9),
            (-1.3, 36.8),
        ];
        let mut lattice_areas = 0;
        for &(la, ln) in &places {
            let ring: Vec<(f64, f64)> = (0..9)
                .map(|k| {
                    let t = f64::from(k) / 9.0 * std::f64::consts::TAU;
                    let r = 0.05 * (1.0 + 0.4 * (3.0 * t).sin());
                    (ln + r * t.cos() / la.to_radians().cos(), la + r * t.sin())
                })
                .collect();
            let g = polygon_wkb(&ring);
            let p =
                tests_support::projected(&ring.iter().map(|&(x, y)| (y, x)).collect::<Vec<_>>());
            for res in 5u8..=11 {
                lattice_areas += usize::from(lattice::Lattice::for_area(&p, res).is_some());
                fast_equals_general(&[&g], Crs::Wgs84, Resolution::try_from(res).unwrap());
            }
        }
        // The comparison is not vacuous: most of these areas are well inside a face.
        assert!(
            lattice_areas >= 30,
            "{lattice_areas} of 42 took the lattice"
        );
    }

    #[test]
    fn an_area_shaped_as_a_cell_goes_to_that_cell() {
        // Rings running along hexagon edges (crossings at lattice vertices, pieces along edges): a res-9 cell's
        // own boundary as the area, and the outline of two adjacent cells, at res 9 (and 10).
        let c = h3o::LatLng::new(53.48, -2.24)
            .unwrap()
            .to_cell(Resolution::Nine);
        let ring: Vec<(f64, f64)> = c.boundary().iter().map(|v| (v.lng(), v.lat())).collect();
        let one = polygon_wkb(&ring);
        let xw = polygon_crosswalk(&[&one], Crs::Wgs84, Resolution::Nine).unwrap();
        let w: f64 = xw
            .cell
            .iter()
            .zip(&xw.weight)
            .filter(|(&k, _)| k == u64::from(c))
            .map(|x| *x.1)
            .sum();
        assert!(w > 1.0 - 1e-9, "weight {w} in the cell itself");
        fast_equals_general(&[&one], Crs::Wgs84, Resolution::Nine);
        fast_equals_general(&[&one], Crs::Wgs84, Resolution::Ten);
        // Two cells sharing an edge: their outline (10 vertices), half in each.
        let n = c
            .grid_disk::<Vec<_>>(1)
            .into_iter()
            .find(|&n| n != c)
            .unwrap();
        let (bc, bn): (Vec<_>, Vec<_>) = (c.boundary().to_vec(), n.boundary().to_vec());
        let key = |v: &h3o::LatLng| {
            (
                (v.lat() * 1e9).round() as i64,
                (v.lng() * 1e9).round() as i64,
            )
        };
        let shared: Vec<_> = bc
            .iter()
            .filter(|v| bn.iter().any(|w| key(w) == key(v)))
            .map(key)
            .collect();
        assert_eq!(shared.len(), 2);
        // Counter-clockwise round c from the shared vertex whose successor is not shared to the other one
        // (six vertices), then on round n (its four others).
        let ic = (0..6)
            .find(|&i| shared.contains(&key(&bc[i])) && !shared.contains(&key(&bc[(i + 1) % 6])))
            .unwrap();
        let mut outline: Vec<(f64, f64)> = (0..6)
            .map(|k| &bc[(ic + k) % 6])
            .map(|v| (v.lng(), v.lat()))
            .collect();
        let jn = bn
            .iter()
            .position(|v| key(v) == key(&bc[(ic + 5) % 6]))
            .unwrap();
        outline.extend(
            (1..5)
                .map(|k| &bn[(jn + k) % 6])
                .map(|v| (v.lng(), v.lat())),
        );
        assert_eq!(key(&bn[(jn + 5) % 6]), key(&bc[ic]));
        let two = polygon_wkb(&outline);
        let xw = polygon_crosswalk(&[&two], Crs::Wgs84, Resolution::Nine).unwrap();
        let weight_of = |k: CellIndex| -> f64 {
            xw.cell
                .iter()
                .zip(&xw.weight)
                .filter(|(&x, _)| x == u64::from(k))
                .map(|x| *x.1)
                .sum()
        };
        let (wc, wn) = (weight_of(c), weight_of(n));
        assert!(
            (wc + wn - 1.0).abs() < 1e-9 && (wc - wn).abs() < 0.01,
            "{wc} {wn}"
        );
        fast_equals_general(&[&two], Crs::Wgs84, Resolution::Nine);
    }

    #[test]
    fn shared_vertices_give_the_same_rows_together_or_alone() {
        // A 3 × 3 block of adjacent BNG squares (vertices shared, converted once per run): each square's rows
        // are bit for bit those of the square crosswalked alone.
        let squares: Vec<Vec<u8>> = (0..9)
            .map(|k| {
                square(
                    383_000.0 + 700.0 * f64::from(k % 3),
                    398_000.0 + 700.0 * f64::from(k / 3),
                    700.0,
                )
            })
            .collect();
        let all: Vec<&[u8]> = squares.iter().map(Vec::as_slice).collect();
        let together = polygon_crosswalk(&all, Crs::Bng, Resolution::Ten).unwrap();
        for (k, g) in all.iter().enumerate() {
            let alone = polygon_crosswalk(&[g], Crs::Bng, Resolution::Ten).unwrap();
            let mine: Vec<(u64, f64)> = (0..together.area.len())
                .filter(|&r| together.area[r] as usize == k)
                .map(|r| (together.cell[r], together.weight[r]))
                .collect();
            let theirs: Vec<(u64, f64)> = (0..alone.area.len())
                .map(|r| (alone.cell[r], alone.weight[r]))
                .collect();
            assert_eq!(mine, theirs, "square {k}");
            assert_eq!(together.area_m2[k].to_bits(), alone.area_m2[0].to_bits());
            assert_eq!(
                together.covered_m2[k].to_bits(),
                alone.covered_m2[0].to_bits()
            );
        }
    }

    #[test]
    fn areas_across_a_face_edge_take_the_general_path() {
        // Face 3 meets its neighbours; a square straddling a face boundary has no lattice, and the crosswalk
        // still covers it exactly.
        let (la, ln) = (58.0, 0.0);
        let mut found = false;
        for d in 0..200 {
            let lng = ln + f64::from(d) * 0.25;
            let ring = vec![
                (lng, la),
                (lng + 0.2, la),
                (lng + 0.2, la + 0.2),
                (lng, la + 0.2),
            ];
            let p =
                tests_support::projected(&ring.iter().map(|&(x, y)| (y, x)).collect::<Vec<_>>());
            if lattice::Lattice::for_area(&p, 8).is_none() {
                found = true;
                let g = polygon_wkb(&ring);
                fast_equals_general(&[&g], Crs::Wgs84, Resolution::Eight);
                let xw = polygon_crosswalk(&[&g], Crs::Wgs84, Resolution::Eight).unwrap();
                let covered: f64 = xw.covered_m2.iter().sum();
                assert!((covered - xw.area_m2[0]).abs() < 1e-9 * xw.area_m2[0]);
                break;
            }
        }
        assert!(found, "no face edge met");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(48))]
        /// Random (possibly self-crossing, so repaired) polygons with a hole, as a multipolygon with a second
        /// part: the fast path agrees with the general path.
        #[test]
        fn random_polygons_fast_path_equals_general_path(
            pts in proptest::collection::vec((300_000.0f64..310_000.0, 200_000.0f64..210_000.0), 3..9),
            res in 6u8..11,
        ) {
            let g = polygon_wkb(&pts);
            let outer = sq(320_000.0, 200_000.0, 8_000.0);
            let hole: Vec<(f64, f64)> = sq(322_000.0, 202_000.0, 3_000.0).into_iter().rev().collect();
            let m = multi(&[vec![outer, hole], vec![sq(331_000.0, 200_000.0, 1_500.0)]]);
            fast_equals_general(&[&g, &m], Crs::Bng, Resolution::try_from(res).unwrap());
        }
    }

    #[test]
    fn collinear_overlaps_still_add_up() {
        // Found by proptest: a self-crossing pentagon with three vertices on one vertical line.
        let g = polygon_wkb(&[
            (304_440.951_624_167_4, 200_000.0),
            (300_000.0, 207_213.236_099_893_4),
            (307_781.424_975_405, 205_961.440_261_549_78),
            (300_000.0, 200_000.0),
            (300_000.0, 208_681.390_144_475_8),
        ]);
        let xw = polygon_crosswalk(&[&g], Crs::Bng, Resolution::Nine).unwrap();
        assert!(xw.repaired[0]);
        let s: f64 = xw.weight.iter().sum();
        assert!((s - 1.0).abs() < 1e-12);
        let covered: f64 = xw.covered_m2.iter().sum();
        assert!(
            (covered - xw.area_m2[0]).abs() <= 1e-9 * xw.area_m2[0],
            "{covered} vs {}",
            xw.area_m2[0]
        );
    }

    fn sq(e: f64, n: f64, s: f64) -> Vec<(f64, f64)> {
        vec![(e, n), (e + s, n), (e + s, n + s), (e, n + s)]
    }

    #[test]
    fn invalid_polygons_are_measured_as_repaired() {
        // Overlapping parts: their union (today's double count would give 8 km², not 7), every cell once.
        let both = multi(&[
            vec![sq(400_000.0, 300_000.0, 2000.0)],
            vec![sq(401_000.0, 301_000.0, 2000.0)],
        ]);
        let a = square(400_000.0, 300_000.0, 2000.0);
        let b = square(401_000.0, 301_000.0, 2000.0);
        let ab = square(401_000.0, 301_000.0, 1000.0);
        let xw = polygon_crosswalk(&[&both, &a, &b, &ab], Crs::Bng, Resolution::Nine).unwrap();
        assert_eq!(xw.repaired, vec![true, false, false, false]);
        let union = xw.area_m2[1] + xw.area_m2[2] - xw.area_m2[3];
        assert!(
            (xw.area_m2[0] - union).abs() < 1e-6 * union,
            "{} {union}",
            xw.area_m2[0]
        );
        assert!((xw.covered_m2[0] - xw.area_m2[0]).abs() < 1e-9 * union);
        for k in 0..xw.area.len() {
            if xw.area[k] == 0 {
                let hex = CellIndex::try_from(xw.cell[k]).unwrap().area_m2();
                let isect = xw.weight[k] * xw.covered_m2[0];
                assert!(isect <= hex * 1.01, "a cell counted twice");
            }
        }
        // A hole crossing its shell: shell − hole, the interior cells the old early exit dropped included.
        let holed = multi(&[vec![
            sq(400_000.0, 300_000.0, 2000.0),
            sq(401_000.0, 301_000.0, 2000.0),
        ]]);
        let xw = polygon_crosswalk(&[&holed, &a, &ab], Crs::Bng, Resolution::Nine).unwrap();
        assert!(xw.repaired[0]);
        let want = xw.area_m2[1] - xw.area_m2[2];
        assert!((xw.area_m2[0] - want).abs() < 1e-6 * want);
        assert!((xw.covered_m2[0] - xw.area_m2[0]).abs() < 1e-9 * want);
    }

    #[test]
    fn antimeridian_square_equals_the_same_square_elsewhere() {
        // 0.06° × 0.03° at 16.8° S: over the antimeridian (wrapped longitudes), and at 0° E.
        let over = polygon_wkb(&[
            (179.97, -16.80),
            (-179.97, -16.80),
            (-179.97, -16.77),
            (179.97, -16.77),
        ]);
        let here = polygon_wkb(&[
            (-0.03, -16.80),
            (0.03, -16.80),
            (0.03, -16.77),
            (-0.03, -16.77),
        ]);
        let xw = polygon_crosswalk(&[&over, &here], Crs::Wgs84, Resolution::Eight).unwrap();
        assert_eq!(xw.repaired, vec![false, false]);
        assert!((xw.area_m2[0] / xw.area_m2[1] - 1.0).abs() < 1e-6);
        assert!((xw.area_m2[0] - 6.39e3 * 3.32e3).abs() < 0.01 * xw.area_m2[0]);
        let n0 = xw.area.iter().filter(|&&a| a == 0).count();
        assert!(n0 > 40, "{n0}");
        // Its cells straddle the antimeridian and are real cells.
        for k in 0..xw.area.len() {
            if xw.area[k] == 0 {
                let ll = LatLng::from(CellIndex::try_from(xw.cell[k]).unwrap());
                assert!(ll.lng().abs() > 179.9, "{}", ll.lng());
            }
        }
        let got = locate_points(
            &[&over],
            Crs::Wgs84,
            &[-16.785, -16.785, -16.785],
            &[179.99, -179.99, 179.9],
        )
        .unwrap();
        assert_eq!(got, vec![0, 0, u32::MAX]);
    }

    #[test]
    fn too_large_polygons_are_named_and_big_ones_do_not_blow_up_the_bin_index() {
        let ok = polygon_wkb(&[(-0.2, 51.5), (-0.1, 51.5), (-0.1, 51.6), (-0.2, 51.6)]);
        let globe = polygon_wkb(&[
            (-179.0, -80.0),
            (179.0, -80.0),
            (179.0, 80.0),
            (-179.0, 80.0),
        ]);
        for r in [
            polygon_crosswalk(&[&ok, &globe, &ok, &globe], Crs::Wgs84, Resolution::Five)
                .map(|_| ()),
            locate_points(&[&ok, &globe, &ok, &globe], Crs::Wgs84, &[51.55], &[-0.15]).map(|_| ()),
        ] {
            match r {
                Err(HlError::InvalidValues { rows, expected, .. }) => {
                    assert_eq!(rows.first, vec![1, 3]);
                    assert!(expected.contains("2000 km"), "{expected}");
                }
                other => panic!("{other:?}"),
            }
        }
        // 300 polygons of 12° × 12° (allowed) would need 10⁸ bins of 0.02°: the bins grow instead.
        let boxes: Vec<Vec<u8>> = (0..300)
            .map(|k| {
                let (x, y) = (
                    -170.0 + (k % 25) as f64 * 13.0,
                    -40.0 + (k / 25) as f64 * 6.0,
                );
                polygon_wkb(&[(x, y), (x + 12.0, y), (x + 12.0, y + 12.0), (x, y + 12.0)])
            })
            .collect();
        let refs: Vec<&[u8]> = boxes.iter().map(|b| b.as_slice()).collect();
        let got = locate_points(&refs, Crs::Wgs84, &[-34.0, 75.0], &[-164.0, 0.0]).unwrap();
        assert_eq!(got, vec![0, u32::MAX]);
    }

    #[test]
    fn bands_round_the_globe_and_polar_rings_are_rejected_not_degenerate() {
        let ok = polygon_wkb(&[(-0.2, 51.5), (-0.1, 51.5), (-0.1, 51.6), (-0.2, 51.6)]);
        // box(-180, 60, 180, 61): its ±180° edges unwrap onto one meridian (it used to be a silent zero-area
        // "degenerate" polygon).
        let band = polygon_wkb(&[(180.0, 60.0), (180.0, 61.0), (-180.0, 61.0), (-180.0, 60.0)]);
        // A ring around the north pole: its unwrapped end lies 360° from its start.
        let polar = polygon_wkb(&[(0.0, 89.0), (90.0, 89.0), (-180.0, 89.0), (-90.0, 89.0)]);
        for bad in [&band, &polar] {
            match polygon_crosswalk(&[&ok, bad], Crs::Wgs84, Resolution::Five) {
                Err(HlError::InvalidValues { rows, .. }) => assert_eq!(rows.first, vec![1]),
                other => panic!("{other:?}"),
            }
        }
        // box(-179, 60, 179, 61) is read the short way round: the 2° sliver over the antimeridian.
        let sliver = polygon_wkb(&[(179.0, 60.0), (179.0, 61.0), (-179.0, 61.0), (-179.0, 60.0)]);
        let cw = polygon_crosswalk(&[&sliver], Crs::Wgs84, Resolution::Five).unwrap();
        let width_km = 2.0 * 111.32 * 60.5f64.to_radians().cos();
        let expected_m2 = width_km * 111.2e3 * 1e3;
        assert!(
            (cw.area_m2[0] / expected_m2 - 1.0).abs() < 0.01,
            "{}",
            cw.area_m2[0]
        );
        assert_eq!(cw.method[0], AreaMethod::Area as u8);
    }

    #[test]
    fn locate_points_in_squares() {
        let a = square(530_000.0, 180_000.0, 1000.0);
        let b = square(531_000.0, 180_000.0, 1000.0);
        let (la, ln): (Vec<f64>, Vec<f64>) = [
            (530_500.0, 180_500.0),
            (531_500.0, 180_500.0),
            (540_000.0, 180_000.0),
        ]
        .iter()
        .map(|&(e, n)| bng_point(e, n))
        .unzip();
        let got = locate_points(&[&a, &b], Crs::Bng, &la, &ln).unwrap();
        assert_eq!(got, vec![0, 1, u32::MAX]);
    }
}
