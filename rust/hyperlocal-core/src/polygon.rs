//! Polygon crosswalks: exact area shares of each area in each H3 cell.
//!
//! * Geometry arrives as WKB (Polygon or MultiPolygon, 2-D, Z, M or ZM, ISO or EWKB flags) in WGS84 degrees
//!   or British National Grid metres (converted vertex by vertex with [`crate::bng`]).
//! * Areas are measured in the Lambert azimuthal equal-area projection of the WGS84 ellipsoid (through the
//!   authalic latitude), centred on each area's bounding box: areas are true ellipsoidal areas in m², as in
//!   ETRS89-LAEA (EPSG:3035), wherever the centre is. Polygons and hexagons are both regions bounded by
//!   straight lines between their projected vertices (a hexagon's great-circle edges bow by well under a
//!   metre at res ≥ 6).
//! * Candidate cells: every cell holding a point of a lattice over the area's bounding box (spacing below the
//!   smallest cell inradius at that resolution), every cell holding a point of the densified boundary, and
//!   the neighbours of those boundary cells. So a polygon however small or thin always gets the cells it
//!   touches. Boundary cells are clipped (Sutherland–Hodgman against the convex hexagon, ring by ring); the
//!   other candidates are wholly inside or outside and are decided by one point-in-polygon test of their
//!   centre, with no clipping.
//! * Repair rule for invalid rings: a ring that crosses itself is split at its self-crossings into simple
//!   loops (as PostGIS `ST_MakeValid` does with a figure of eight); loops of an exterior ring add their
//!   absolute areas, loops of a hole subtract theirs. Ring orientation is ignored (exteriors add, holes
//!   subtract, whatever their winding). Each repaired area is flagged in the audit.

use h3o::{CellIndex, LatLng, Resolution};
use rayon::prelude::*;

use crate::bng::{bng_point, valid_bng};
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

/// One polygon: rings of (lat, lng) degrees, the first exterior, the rest holes (closing vertex dropped).
#[derive(Debug, Clone, Default)]
struct Poly {
    rings: Vec<Vec<Pt>>,
}

/// Why a geometry was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GeomIssue {
    Empty,
    NotPolygon,
    OutOfRange,
    Malformed,
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

fn to_latlng(x: f64, y: f64, crs: Crs) -> std::result::Result<Pt, GeomIssue> {
    match crs {
        Crs::Wgs84 => {
            if x.is_finite() && y.is_finite() && x.abs() <= 180.0 && y.abs() <= 90.0 {
                Ok((y, x))
            } else {
                Err(GeomIssue::OutOfRange)
            }
        }
        Crs::Bng => {
            if valid_bng(x, y) {
                Ok(bng_point(x, y))
            } else {
                Err(GeomIssue::OutOfRange)
            }
        }
    }
}

fn read_polygon(r: &mut Reader<'_>, dims: usize, crs: Crs) -> std::result::Result<Poly, GeomIssue> {
    let nrings = r.u32()? as usize;
    let mut rings = Vec::with_capacity(nrings.min(1024));
    for _ in 0..nrings {
        let n = r.u32()? as usize;
        if n > r.b.len() {
            return Err(GeomIssue::Malformed);
        }
        let mut ring: Vec<Pt> = Vec::with_capacity(n);
        for _ in 0..n {
            let x = r.f64()?;
            let y = r.f64()?;
            for _ in 2..dims {
                r.f64()?;
            }
            let p = to_latlng(x, y, crs)?;
            if ring.last() != Some(&p) {
                ring.push(p);
            }
        }
        if ring.len() > 1 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() >= 3 {
            rings.push(ring);
        } else if rings.is_empty() && n > 0 {
            // A degenerate exterior ring: keep its points so the area still gets a cell.
            rings.push(ring);
        }
    }
    Ok(Poly { rings })
}

fn parse(wkb: &[u8], crs: Crs) -> std::result::Result<Vec<Poly>, GeomIssue> {
    let mut r = Reader {
        b: wkb,
        pos: 0,
        le: true,
    };
    let (base, dims) = r.header()?;
    let polys = match base {
        3 => vec![read_polygon(&mut r, dims, crs)?],
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
                v.push(read_polygon(&mut r, d, crs)?);
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
fn authalic_q(sin_phi: f64) -> f64 {
    let e = WGS84_E2.sqrt();
    let es = e * sin_phi;
    (1.0 - WGS84_E2)
        * (sin_phi / (1.0 - WGS84_E2 * sin_phi * sin_phi)
            - (1.0 / (2.0 * e)) * ((1.0 - es) / (1.0 + es)).ln())
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
        Laea {
            sin0: s,
            cos0: c,
            lng0: lng0.to_radians(),
            qp,
            r: authalic_radius(),
        }
    }
    #[inline]
    fn fwd(&self, (lat, lng): Pt) -> Pt {
        let sb = (authalic_q(lat.to_radians().sin()) / self.qp).clamp(-1.0, 1.0);
        let cb = (1.0 - sb * sb).max(0.0).sqrt();
        let (sl, cl) = (lng.to_radians() - self.lng0).sin_cos();
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

/// Signed shoelace area (positive counter-clockwise).
fn signed_area(ring: &[Pt]) -> f64 {
    let n = ring.len();
    if n < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    for i in 0..n {
        let (x1, y1) = ring[i];
        let (x2, y2) = ring[(i + 1) % n];
        s += x1 * y2 - x2 * y1;
    }
    0.5 * s
}

#[inline]
fn cross(o: Pt, a: Pt, b: Pt) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Proper intersection point of segments p1p2 and p3p4 (excluding shared endpoints), if any.
fn seg_intersection(p1: Pt, p2: Pt, p3: Pt, p4: Pt) -> Option<Pt> {
    let d1 = cross(p3, p4, p1);
    let d2 = cross(p3, p4, p2);
    let d3 = cross(p1, p2, p3);
    let d4 = cross(p1, p2, p4);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        let t = d1 / (d1 - d2);
        Some((p1.0 + t * (p2.0 - p1.0), p1.1 + t * (p2.1 - p1.1)))
    } else {
        None
    }
}

/// First self-crossing of a ring: (segment i, segment j > i + 1, point).
fn first_crossing(ring: &[Pt]) -> Option<(usize, usize, Pt)> {
    let n = ring.len();
    if n < 4 {
        return None;
    }
    let seg = |i: usize| (ring[i], ring[(i + 1) % n]);
    let mut order: Vec<(f64, f64, usize)> = (0..n)
        .map(|i| {
            let (a, b) = seg(i);
            (a.0.min(b.0), a.0.max(b.0), i)
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut best: Option<(usize, usize, Pt)> = None;
    for (k, &(_, xmax, i)) in order.iter().enumerate() {
        for &(xmin2, _, j) in &order[k + 1..] {
            if xmin2 > xmax {
                break;
            }
            let (lo, hi) = if i < j { (i, j) } else { (j, i) };
            if hi == lo + 1 || (lo == 0 && hi == n - 1) {
                continue;
            }
            let (a, b) = seg(lo);
            let (c, d) = seg(hi);
            if let Some(p) = seg_intersection(a, b, c, d) {
                if best.is_none_or(|(bl, bh, _)| (lo, hi) < (bl, bh)) {
                    best = Some((lo, hi, p));
                }
            }
        }
    }
    best
}

/// Split a ring at its self-crossings into simple loops. Returns the loops and whether any split happened.
fn simple_loops(ring: Vec<Pt>) -> (Vec<Vec<Pt>>, bool) {
    let mut out = Vec::new();
    let mut stack = vec![ring];
    let mut repaired = false;
    let mut guard = 0;
    while let Some(r) = stack.pop() {
        guard += 1;
        match (guard < 10_000).then(|| first_crossing(&r)).flatten() {
            Some((i, j, p)) => {
                repaired = true;
                // Loop A: p, r[i+1..=j]; loop B: p, r[j+1..], r[..=i].
                let mut a = vec![p];
                a.extend_from_slice(&r[i + 1..=j]);
                let mut b = vec![p];
                b.extend_from_slice(&r[j + 1..]);
                b.extend_from_slice(&r[..=i]);
                stack.push(a);
                stack.push(b);
            }
            None => out.push(r),
        }
    }
    (out, repaired)
}

/// A projected area, ready for clipping: loops with a sign (+1 exterior, −1 hole).
#[derive(Debug, Clone)]
struct Projected {
    proj: Laea,
    /// The res-3 cell whose centre is the projection's centre.
    region: u64,
    loops: Vec<(Vec<Pt>, f64)>,
    /// Rings in lat/lng and the same rings projected, before repair (for walking the boundary).
    rings_ll: Vec<Vec<Pt>>,
    loops_raw: Vec<(Vec<Pt>, f64)>,
    bbox: (f64, f64, f64, f64), // lat_min, lat_max, lng_min, lng_max
    area_m2: f64,
    repaired: bool,
}

fn project(polys: Vec<Poly>) -> Projected {
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
        Some(r) => {
            let c = LatLng::from(r);
            Laea::new(c.lat(), c.lng())
        }
        None => Laea::new(0.5 * (bbox.0 + bbox.1), 0.5 * (bbox.2 + bbox.3)),
    };
    let region = region.map(u64::from).unwrap_or(0);
    let mut loops = Vec::new();
    let mut loops_raw = Vec::new();
    let mut rings_ll = Vec::new();
    let mut repaired = false;
    for p in polys {
        for (k, r) in p.rings.into_iter().enumerate() {
            let sign = if k == 0 { 1.0 } else { -1.0 };
            let xy: Vec<Pt> = r.iter().map(|&q| proj.fwd(q)).collect();
            rings_ll.push(r);
            loops_raw.push((xy.clone(), sign));
            let (ls, rep) = simple_loops(xy);
            repaired |= rep;
            for l in ls {
                // Each loop carries sign × orientation, so that its clipped signed areas add up to its area.
                let orient = if signed_area(&l) < 0.0 { -1.0 } else { 1.0 };
                loops.push((l, sign * orient));
            }
        }
    }
    let area_m2 = loops
        .iter()
        .map(|(l, f)| f * signed_area(l))
        .sum::<f64>()
        .max(0.0);
    Projected {
        proj,
        region,
        loops,
        rings_ll,
        loops_raw,
        bbox,
        area_m2,
        repaired,
    }
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
        let (a, b) = (clip[e], clip[(e + 1) % m]);
        std::mem::swap(buf, out);
        out.clear();
        let n = buf.len();
        for i in 0..n {
            let cur = buf[i];
            let prev = buf[(i + n - 1) % n];
            let cin = cross(a, b, cur) >= 0.0;
            let pin = cross(a, b, prev) >= 0.0;
            if cin {
                if !pin {
                    out.push(line_hit(prev, cur, a, b));
                }
                out.push(cur);
            } else if pin {
                out.push(line_hit(prev, cur, a, b));
            }
        }
    }
}

#[inline]
fn line_hit(p: Pt, q: Pt, a: Pt, b: Pt) -> Pt {
    let d1 = cross(a, b, p);
    let d2 = cross(a, b, q);
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
        let n = l.len();
        let mut wn = 0i64;
        for i in 0..n {
            let (a, b) = (l[i], l[(i + 1) % n]);
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
    LatLng::new(lat, lng).ok().map(|ll| ll.to_cell(res))
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
        let (a, b) = (h[i], h[(i + 1) % m]);
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
        let (p, q) = (h[i], h[(i + 1) % m]);
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
    for (ring_ll, (ring_xy, _)) in p.rings_ll.iter().zip(&p.loops_raw) {
        let n = ring_ll.len();
        if n == 0 {
            continue;
        }
        let Some(mut cur) = cell_of(ring_ll[0].0, ring_ll[0].1, res) else {
            continue;
        };
        cells.push(cur);
        for i in 0..n {
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
/// cells are left out. Boundary cells are clipped; interior cells are found by flooding outwards from them,
/// each decided by one point-in-polygon test of its centre and taken whole, until the area is accounted for.
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
    let mut acc = 0.0;
    for &c in &boundary {
        let (hex, _) = hexes.get(c);
        let mut a = 0.0;
        for (l, factor) in &p.loops {
            clip_convex(l, hex, &mut buf, &mut clipped);
            a += factor * signed_area(&clipped);
        }
        if a > 0.0 {
            acc += a;
            out.push((u64::from(c), a));
        }
    }
    let target = p.area_m2;
    if acc < target * (1.0 - 1e-9) {
        let mut seen: CellSet = boundary.iter().copied().collect();
        let mut stack: Vec<CellIndex> = Vec::new();
        for &c in &boundary {
            disk1(c, &mut |nb| {
                if seen.insert(nb) {
                    stack.push(nb);
                }
            });
        }
        while let Some(c) = stack.pop() {
            if acc >= target * (1.0 - 1e-12) {
                break;
            }
            let centre = LatLng::from(c);
            let cover = coverage(&p.loops, p.proj.fwd((centre.lat(), centre.lng())));
            if cover > 0.5 {
                let a = cover.round() * hexes.get(c).1;
                acc += a;
                out.push((u64::from(c), a));
                disk1(c, &mut |nb| {
                    if seen.insert(nb) {
                        stack.push(nb);
                    }
                });
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

/// The area crosswalk of a set of polygons at one resolution, plus the per-area audit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolygonCrosswalk {
    pub area: Vec<u32>,
    pub cell: Vec<u64>,
    pub weight: Vec<f64>,
    /// Intersection area (m²) of each row.
    pub isect_m2: Vec<f64>,
    /// Per area: polygon area (m², equal-area sphere), whether it was repaired, and the method code.
    pub area_m2: Vec<f64>,
    pub repaired: Vec<bool>,
    pub method: Vec<u8>,
}

/// Parse every geometry; errors name the rows by issue.
fn parse_all(geoms: &[&[u8]], crs: Crs) -> Result<Vec<Projected>> {
    let parsed: Vec<std::result::Result<Vec<Poly>, GeomIssue>> =
        geoms.par_iter().map(|g| parse(g, crs)).collect();
    let mut lists: [RowList; 4] = Default::default();
    for (i, p) in parsed.iter().enumerate() {
        if let Err(e) = p {
            lists[*e as usize].push(i);
        }
    }
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
    Ok(parsed
        .into_par_iter()
        .map(|p| project(p.unwrap_or_default()))
        .collect())
}

/// One area's cells with their intersection areas, and how they were obtained.
type AreaResult = (usize, Vec<(u64, f64)>, AreaMethod);

/// Exact area-share crosswalk of polygons (WKB) onto cells at `res`. Every area's weights sum to 1 (to
/// rounding); rows come ordered by area, then cell, whatever the number of threads.
pub fn polygon_crosswalk(geoms: &[&[u8]], crs: Crs, res: Resolution) -> Result<PolygonCrosswalk> {
    let projected = parse_all(geoms, crs)?;
    // Work in spatial order (projection region, then the res-5 cell of the first vertex), so that the areas
    // one thread handles in a row are neighbours and share projected hexagons; results go back to input order.
    let mut order: Vec<(u64, u64, usize)> = projected
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let first = p
                .rings_ll
                .first()
                .and_then(|r| r.first())
                .copied()
                .unwrap_or((0.0, 0.0));
            let key = cell_of(first.0, first.1, Resolution::Five)
                .map(u64::from)
                .unwrap_or(0);
            (p.region, key, i)
        })
        .collect();
    order.par_sort_unstable();
    // A few contiguous runs per thread, each with its own boundary cache (results do not depend on it).
    let run = order
        .len()
        .div_ceil(16 * rayon::current_num_threads())
        .max(1);
    let done: Vec<AreaResult> = order
        .par_chunks(run)
        .flat_map_iter(|chunk| {
            let mut shared = CellMap::<(Vec<Pt>, f64)>::default();
            let mut region = u64::MAX;
            chunk
                .iter()
                .map(|&(reg, _, i)| {
                    if reg != region || shared.len() > 200_000 {
                        shared.clear();
                        region = reg;
                    }
                    let p = &projected[i];
                    let cells = area_cells(p, res, &mut shared);
                    let total: f64 = cells.iter().map(|c| c.1).sum();
                    if total > 0.0 && p.area_m2 > 0.0 {
                        (i, cells, AreaMethod::Area)
                    } else {
                        let first = p
                            .rings_ll
                            .first()
                            .and_then(|r| r.first())
                            .copied()
                            .unwrap_or((0.0, 0.0));
                        let c = cell_of(first.0, first.1, res).map(u64::from).unwrap_or(0);
                        (i, vec![(c, 0.0)], AreaMethod::Degenerate)
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut per_area: Vec<(Vec<(u64, f64)>, AreaMethod)> =
        vec![(Vec::new(), AreaMethod::Area); projected.len()];
    for (i, cells, m) in done {
        per_area[i] = (cells, m);
    }
    let mut out = PolygonCrosswalk::default();
    for (i, ((cells, method), p)) in per_area.into_iter().zip(&projected).enumerate() {
        let total: f64 = cells.iter().map(|c| c.1).sum();
        for (c, a) in &cells {
            out.area.push(i as u32);
            out.cell.push(*c);
            out.isect_m2.push(*a);
            out.weight.push(if method == AreaMethod::Area {
                a / total
            } else {
                1.0
            });
        }
        out.area_m2.push(p.area_m2);
        out.repaired.push(p.repaired);
        out.method.push(method as u8);
    }
    Ok(out)
}

/// The area (0-based index) containing each point, or `u32::MAX` where none does; with overlapping areas
/// the lowest index wins. Points are WGS84 degrees. A uniform bin index over area bounding boxes picks the
/// candidates; the exact test is even-odd point-in-polygon in each area's equal-area projection.
pub fn locate_points(geoms: &[&[u8]], crs: Crs, lat: &[f64], lng: &[f64]) -> Result<Vec<u32>> {
    crate::error::check_len("lng", lng.len(), "lat", lat.len())?;
    let projected = parse_all(geoms, crs)?;
    const BIN: f64 = 0.02; // degrees
    let key = |la: f64, ln: f64| ((la / BIN).floor() as i64, (ln / BIN).floor() as i64);
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
    Ok(lat
        .par_iter()
        .zip(lng.par_iter())
        .map(|(&la, &ln)| {
            if !crate::cells::valid_latlng(la, ln) {
                return u32::MAX;
            }
            bins.get(&key(la, ln))
                .and_then(|cands| {
                    cands.iter().copied().find(|&i| {
                        let p = &projected[i as usize];
                        la >= p.bbox.0
                            && la <= p.bbox.1
                            && ln >= p.bbox.2
                            && ln <= p.bbox.3
                            && contains(&p.loops, p.proj.fwd((la, ln)))
                    })
                })
                .unwrap_or(u32::MAX)
        })
        .collect())
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
mod tests {
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
    fn weights_sum_to_one_and_areas_add_up() {
        let g = square(530_000.0, 180_000.0, 3_000.0);
        let xw = polygon_crosswalk(&[&g], Crs::Bng, Resolution::Eight).unwrap();
        let s: f64 = xw.weight.iter().sum();
        assert!((s - 1.0).abs() < 1e-12);
        let covered: f64 = xw.isect_m2.iter().sum();
        // 3 km × 3 km on the grid is 9 km² / k² on the ground, k ≈ 0.99981 being the grid's point scale factor
        // 130 km east of the central meridian: 9.0034 km².
        assert!(
            (xw.area_m2[0] - 9.0034e6).abs() / 9.0e6 < 2e-4,
            "{}",
            xw.area_m2[0]
        );
        assert!((covered - xw.area_m2[0]).abs() / xw.area_m2[0] < 1e-4);
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
        let xw = polygon_crosswalk(&[&b], Crs::Bng, Resolution::Eight).unwrap();
        assert!(
            (xw.area_m2[0] - 3.0e6).abs() / 3.0e6 < 1e-3,
            "{}",
            xw.area_m2[0]
        );
        assert!(!xw.repaired[0]);
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
                let covered: f64 = xw.isect_m2.iter().sum();
                proptest::prop_assert!((covered - xw.area_m2[0]).abs() <= 1e-6 * xw.area_m2[0].max(1.0));
            }
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
        let covered: f64 = xw.isect_m2.iter().sum();
        assert!(
            (covered - xw.area_m2[0]).abs() <= 1e-6 * xw.area_m2[0],
            "{covered} vs {}",
            xw.area_m2[0]
        );
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
