//! The fast path of the area crosswalk: H3 cells as the regular lattice they are on one icosahedron face.
//!
//! In the gnomonic projection of an icosahedron face, the cells of one resolution are exactly the Voronoi
//! hexagons of a triangular lattice (great circles are straight lines there; this is how H3 defines them), in
//! the face's hex2d coordinates: cell `(a, b)` (axial, `a = i − k`, `b = j − k`) has its centre at
//! `(a − b/2, b·√3/2)` and its six vertices `1/√3` away, at 30°, 90°, …; neighbours differ by `(±1, 0)`,
//! `(0, ±1)`, `±(1, 1)`. For an area whose cells all lie well inside one face (no pentagon, no overage: every
//! area in Great Britain, which lies on face 3), this replaces every H3 library call of the general path:
//! * a vertex is projected without trigonometry (the hex2d point is the direction `c + (x/s)·u + (y/s)·v` of the
//!   face frame, whose z component and horizontal norm are the sine and cosine of the latitude; then the same
//!   Lambert equal-area formulas as [`Laea::fwd`], with the longitude difference by the angle-difference
//!   identities), once per lattice vertex (each vertex serves three cells);
//! * the boundary walk steps from a cell to the lattice neighbour across its exit edge (checked by a point
//!   just past the exit), with no cell lookup;
//! * boundary cells' areas by Green's theorem from what the walk saw (for areas that needed no repair): the
//!   pieces of the rings inside each cell, plus the stretches of the cell's boundary between the points where
//!   rings cross it, weighted by the coverage there (which changes by ±1 × the loop's factor at each crossing);
//!   work proportional to the vertices and crossings, instead of clipping every ring against every boundary
//!   cell. Checked (coverage back to its start round each cell, every area within its hexagon's, the cells'
//!   sum equal to the area's to 1e-9), with Sutherland–Hodgman clipping as the fallback and for repaired areas;
//! * the interior is filled by scanlines: in each lattice row, the cells between two consecutive boundary cells
//!   are all inside or all outside (adjacent cells that no ring crosses have equal coverage), so one
//!   point-in-polygon test of one centre decides a whole run;
//! * cell indices come from the lattice coordinates by integer arithmetic ([`fastcell::lattice_cell`]).
//!
//! The hexagons are the same as the general path's (h3o's boundaries projected), to rounding: the tests
//! compare vertices, cells and areas with the general path.

use super::{authalic_q, clip_convex, coverage, inside_convex, signed_area, Laea, Projected, Pt};
use crate::fastcell;

const SQRT3_2: f64 = 0.866_025_403_784_438_6;
const INV_SQRT3: f64 = 0.577_350_269_189_625_8;
const HALF_INV_SQRT3: f64 = 0.288_675_134_594_812_9;

/// Neighbour offsets `(da, db)` at 0°, 60°, …, 300° in hex2d.
const NB: [(i32, i32); 6] = [(1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1)];

/// One face's lattice at one resolution, in one area's projection.
pub(super) struct Lattice {
    face: usize,
    res: u8,
    /// The projection region (see [`Projected`]): the projected hexagons depend on it.
    region: u64,
    c: [f64; 3],
    u: [f64; 3],
    v: [f64; 3],
    inv_s: f64,
    // The projection (see `Laea`), with the sine and cosine of its central longitude.
    sin0: f64,
    cos0: f64,
    sl0: f64,
    cl0: f64,
    qp: f64,
    r: f64,
    /// Are hexagons counter-clockwise in the projection when listed by increasing vertex angle in hex2d.
    ccw: bool,
}

/// Key of a lattice cell in the shared hexagon cache (face, a, b; the resolution is fixed per call).
#[inline]
pub(super) fn key(face: usize, a: i32, b: i32) -> u64 {
    ((face as u64) << 58)
        | ((u64::from((a as u32).wrapping_add(1 << 28)) & 0x1fff_ffff) << 29)
        | (u64::from((b as u32).wrapping_add(1 << 28)) & 0x1fff_ffff)
}

#[inline]
fn unit(lat_deg: f64, lng_deg: f64) -> [f64; 3] {
    let (sla, cla) = crate::fastcell::sincos(lat_deg.to_radians());
    let (sln, cln) = crate::fastcell::sincos(lng_deg.to_radians());
    [cla * cln, cla * sln, sla]
}

#[inline]
fn dot(p: &[f64; 3], q: &[f64; 3]) -> f64 {
    p[0] * q[0] + p[1] * q[1] + p[2] * q[2]
}

/// For each face f and each other face g: n = c_f − c_g and |n| (zero for g = f), the normals of the planes
/// bounding face f's region.
type FaceNormals = [[([f64; 3], f64); 20]; 20];

fn face_normals() -> &'static FaceNormals {
    static T: std::sync::OnceLock<FaceNormals> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t: FaceNormals = [[([0.0; 3], 0.0); 20]; 20];
        for (f, row) in t.iter_mut().enumerate() {
            let c = fastcell::face_centre(f);
            for (g, slot) in row.iter_mut().enumerate() {
                if g != f {
                    let cg = fastcell::face_centre(g);
                    let n = [c[0] - cg[0], c[1] - cg[1], c[2] - cg[2]];
                    *slot = (n, dot(&n, &n).sqrt());
                }
            }
        }
        t
    })
}

/// The face holding the centre of the res-3 cell `region` (0: none) and the angle from that centre to the
/// boundary of the face's region (the planes equidistant from its centre and another face's), memoised per
/// thread.
fn region_face(region: u64) -> Option<(usize, f64)> {
    type Memo = std::collections::HashMap<u64, Option<(usize, f64)>, super::CellBuild>;
    thread_local! {
        static MEMO: std::cell::RefCell<Memo> = Default::default();
    }
    if region == 0 {
        return None;
    }
    MEMO.with(|m| {
        *m.borrow_mut().entry(region).or_insert_with(|| {
            let cell = h3o::CellIndex::try_from(region).ok()?;
            let centre = h3o::LatLng::from(cell);
            let q = unit(centre.lat(), centre.lng());
            let face = (0..20).max_by(|&f, &g| {
                dot(&q, &fastcell::face_centre(f)).total_cmp(&dot(&q, &fastcell::face_centre(g)))
            })?;
            let margin = face_normals()[face]
                .iter()
                .filter(|(_, norm)| *norm > 0.0)
                .map(|(n, norm)| (dot(&q, n) / norm).clamp(-1.0, 1.0).asin())
                .fold(f64::INFINITY, f64::min);
            (margin > 0.0).then_some((face, margin))
        })
    })
}

impl Lattice {
    /// The lattice for area `p` at `res`, or None when the area is not well inside one face. The area lies in
    /// the spherical cap around its bounding-box centre P₀ whose angular radius θ is 1.1 × the largest projected
    /// distance from P₀ to a vertex over R (the projection's scale and the authalic latitude distort distances
    /// by under 2 % within its extent), plus two cells and 1e-4 rad (about 600 m; edges bow far less); the cap
    /// must lie in the face's own region (nearer its centre c_f than any other face's centre c_g, i.e. the
    /// face triangle): for every g, with n = c_f − c_g, (P₀·n)·cos θ − |n|·sin θ > 0.
    ///
    /// Shortcut (the same decision, sooner): the cap around P₀ lies in the cap of radius c + θ around the
    /// centre of the projection region, c ≥ the angle from that centre to P₀ (1.1 × P₀'s projected distance
    /// from the centre over R); when that cap lies inside the face of the region's centre (at an angular
    /// distance below the centre's distance to the face's boundary, memoised per region), so does the area's.
    pub(super) fn for_area(p: &Projected, res: u8) -> Option<Lattice> {
        // (Region 0: a projection of the area's own, which the hexagon table's tags cannot tell apart.)
        if p.region == 0 || p.rings_ll.iter().all(Vec::is_empty) {
            return None;
        }
        let (lat0, lng0) = (0.5 * (p.bbox.0 + p.bbox.1), 0.5 * (p.bbox.2 + p.bbox.3));
        let o = p.proj.fwd((lat0, lng0));
        let d2max = p
            .rings_xy()
            .flatten()
            .map(|q| (q.0 - o.0) * (q.0 - o.0) + (q.1 - o.1) * (q.1 - o.1))
            .fold(0.0f64, f64::max);
        let s_res = fastcell::face_frame(0, res).3; // the scale depends on the resolution only
        let theta = 1.1 * d2max.sqrt() / p.proj.r + 2.0 / s_res + 1e-4;
        if theta.is_nan() || theta >= 0.3 {
            return None;
        }
        let quick = region_face(p.region).filter(|&(_, margin)| {
            1.1 * (o.0 * o.0 + o.1 * o.1).sqrt() / p.proj.r + theta < margin - 1e-9
        });
        let face = match quick {
            Some((face, _)) => face,
            None => {
                let p0 = unit(lat0, lng0);
                let face = (0..20).max_by(|&f, &g| {
                    dot(&p0, &fastcell::face_centre(f))
                        .total_cmp(&dot(&p0, &fastcell::face_centre(g)))
                })?;
                let (st, ct) = theta.sin_cos();
                for &(n, norm) in face_normals()[face].iter() {
                    if norm > 0.0 && dot(&p0, &n) * ct - norm * st <= 1e-9 {
                        return None;
                    }
                }
                face
            }
        };
        let (c, u, v, s) = fastcell::face_frame(face, res);
        let proj: &Laea = &p.proj;
        let (sl0, cl0) = (proj.sl0, proj.cl0);
        let mut lat = Lattice {
            face,
            res,
            region: p.region,
            c,
            u,
            v,
            inv_s: 1.0 / s,
            sin0: proj.sin0,
            cos0: proj.cos0,
            sl0,
            cl0,
            qp: proj.qp,
            r: proj.r,
            ccw: true,
        };
        // Hexagons listed by increasing hex2d angle turn counter-clockwise seen from outside the sphere when
        // (u × v)·c > 0; the projection (x east, y north) keeps that orientation.
        let uv = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        lat.ccw = dot(&uv, &c) > 0.0;
        Some(lat)
    }

    /// The lattice cell holding (lat, lng) degrees.
    pub(super) fn cell_at(&self, lat: f64, lng: f64) -> (i32, i32) {
        let q = unit(lat, lng);
        let w = dot(&q, &self.c);
        let s = 1.0 / self.inv_s;
        fastcell::hex2d_cell(s * dot(&q, &self.u) / w, s * dot(&q, &self.v) / w)
    }

    /// The hex2d point (x, y) in the projection.
    #[inline]
    pub(super) fn project(&self, x: f64, y: f64) -> Pt {
        let (gx, gy) = (x * self.inv_s, y * self.inv_s);
        let (c, u, v) = (&self.c, &self.u, &self.v);
        let px = c[0] + gx * u[0] + gy * v[0];
        let py = c[1] + gx * u[1] + gy * v[1];
        let pz = c[2] + gx * u[2] + gy * v[2];
        let h2 = px * px + py * py;
        let sin_phi = pz / (h2 + pz * pz).sqrt();
        let h = h2.sqrt();
        let (sinl, cosl) = if h > 0.0 {
            (py / h, px / h)
        } else {
            (0.0, 1.0)
        };
        let sb = (authalic_q(sin_phi) / self.qp).clamp(-1.0, 1.0);
        let cb = (1.0 - sb * sb).max(0.0).sqrt();
        let sl = sinl * self.cl0 - cosl * self.sl0;
        let cl = cosl * self.cl0 + sinl * self.sl0;
        let denom = 1.0 + self.sin0 * sb + self.cos0 * cb * cl;
        let k = self.r * (2.0 / denom.max(1e-300)).sqrt();
        (k * cb * sl, k * (self.cos0 * sb - self.sin0 * cb * cl))
    }

    /// Vertex `t` (0: at 30°, 1: at 90°) of cell (a, b), projected. Every lattice vertex is exactly one of
    /// these, so a vertex shared by three cells is computed by one call with the same arguments.
    #[inline]
    fn vertex(&self, a: i32, b: i32, t: usize) -> Pt {
        let x = f64::from(a) - 0.5 * f64::from(b);
        let y = f64::from(b) * SQRT3_2;
        if t == 0 {
            self.project(x + 0.5, y + HALF_INV_SQRT3)
        } else {
            self.project(x, y + INV_SQRT3)
        }
    }

    /// The centre of cell (a, b), projected.
    #[inline]
    pub(super) fn centre(&self, a: i32, b: i32) -> Pt {
        self.project(f64::from(a) - 0.5 * f64::from(b), f64::from(b) * SQRT3_2)
    }

    /// Vertex `j` of [`Lattice::raw_hex`] (a, b).
    #[inline]
    fn raw_vertex(&self, a: i32, b: i32, j: usize) -> Pt {
        match j {
            0 => self.vertex(a, b, 0),
            1 => self.vertex(a, b, 1),
            2 => self.vertex(a - 1, b, 0),
            3 => self.vertex(a - 1, b - 1, 1),
            4 => self.vertex(a - 1, b - 1, 0),
            _ => self.vertex(a, b - 1, 1),
        }
    }

    /// The vertices at 30°, 90°, …, 330° (hex2d) of cell (a, b), projected.
    #[cfg(test)]
    fn raw_hex(&self, a: i32, b: i32) -> [Pt; 6] {
        std::array::from_fn(|j| self.raw_vertex(a, b, j))
    }

    /// A raw hexagon (see [`Lattice::raw_hex`]) counter-clockwise; the same map takes it back.
    #[inline]
    fn ccw_order(&self, h: [Pt; 6]) -> [Pt; 6] {
        if self.ccw {
            h
        } else {
            [h[0], h[5], h[4], h[3], h[2], h[1]]
        }
    }

    /// The projected hexagon of cell (a, b), counter-clockwise (what [`HexCache`] holds).
    #[cfg(test)]
    pub(super) fn hex(&self, a: i32, b: i32) -> [Pt; 6] {
        self.ccw_order(self.raw_hex(a, b))
    }

    /// The neighbour of cell (a, b) across edge `k` (from vertex k to k+1) of [`Lattice::hex`].
    #[inline]
    fn across(&self, (a, b): (i32, i32), k: usize) -> (i32, i32) {
        let (da, db) = if self.ccw {
            NB[(k + 1) % 6]
        } else {
            NB[(6 - k) % 6]
        };
        (a + da, b + db)
    }

    /// The H3 index of cell (a, b).
    #[inline]
    pub(super) fn index(&self, a: i32, b: i32) -> u64 {
        fastcell::lattice_cell(self.face, a, b, self.res)
    }

    #[cfg(test)]
    pub(super) fn face(&self) -> usize {
        self.face
    }
}

/// Projected hexagons and H3 indices of lattice cells, shared by the areas one thread handles (neighbours
/// share cells): a direct-mapped table, one slot per (a mod 64, b mod 64), each entry tagged with what it is a
/// pure function of (projection region, face, a, b, resolution), so what the table holds never changes a
/// result. Fixed size (no allocation per area, no hashing); [`HexCache::begin`] starts a new call (entries of
/// earlier calls are not reused: an epoch, no clearing).
pub(super) struct HexCache {
    slots: Vec<HexSlot>,
    epoch: u32,
    call: u64,
}

#[derive(Clone, Copy)]
struct HexSlot {
    key: u64,
    region: u64,
    /// H3 index, 0 until asked for.
    index: u64,
    /// Area of `hex` (m²).
    area: f64,
    epoch: u32,
    res: u8,
    hex: [Pt; 6],
}

impl Default for HexCache {
    fn default() -> Self {
        let empty = HexSlot {
            key: 0,
            region: 0,
            index: 0,
            area: 0.0,
            epoch: 0,
            res: 0,
            hex: [(0.0, 0.0); 6],
        };
        HexCache {
            slots: vec![empty; 1 << 12],
            epoch: 1,
            call: 0,
        }
    }
}

impl HexCache {
    /// Use the table for call `call`: entries of any other call no longer count.
    pub(super) fn begin(&mut self, call: u64) {
        if call != self.call {
            self.call = call;
            self.epoch = self.epoch.wrapping_add(1);
            if self.epoch == 0 {
                self.slots.iter_mut().for_each(|s| s.epoch = 0);
                self.epoch = 1;
            }
        }
    }

    #[inline]
    fn at(a: i32, b: i32) -> usize {
        ((a as u32 & 63) | ((b as u32 & 63) << 6)) as usize
    }

    /// The entry of cell (a, b), if the table holds it.
    #[inline]
    fn held(&self, lat: &Lattice, (a, b): (i32, i32)) -> Option<&HexSlot> {
        let s = &self.slots[Self::at(a, b)];
        (s.key == key(lat.face, a, b)
            && s.epoch == self.epoch
            && s.region == lat.region
            && s.res == lat.res)
            .then_some(s)
    }

    #[inline]
    fn slot(&mut self, lat: &Lattice, c: (i32, i32)) -> &mut HexSlot {
        let i = Self::at(c.0, c.1);
        if self.held(lat, c).is_none() {
            let hex = self.new_hex(lat, c);
            self.slots[i] = HexSlot {
                key: key(lat.face, c.0, c.1),
                region: lat.region,
                index: 0,
                area: signed_area(&hex),
                epoch: self.epoch,
                res: lat.res,
                hex,
            };
        }
        &mut self.slots[i]
    }

    /// The hexagon of cell (a, b), its vertices copied from neighbours the table holds where it can (each
    /// lattice vertex is one projection of the same arguments, whichever cell asks: bit for bit the same),
    /// the others projected.
    fn new_hex(&self, lat: &Lattice, (a, b): (i32, i32)) -> [Pt; 6] {
        // For each vertex of `Lattice::raw_hex` (a, b): two neighbours (offset) holding it, and its position
        // in theirs.
        const SHARED: [[((i32, i32), usize); 2]; 6] = [
            [((1, 0), 2), ((1, 1), 4)],
            [((1, 1), 3), ((0, 1), 5)],
            [((-1, 0), 0), ((0, 1), 4)],
            [((-1, -1), 1), ((-1, 0), 5)],
            [((-1, -1), 0), ((0, -1), 2)],
            [((0, -1), 1), ((1, 0), 3)],
        ];
        // Position of raw vertex j in a stored (counter-clockwise) hexagon.
        let stored = |j: usize| if lat.ccw { j } else { (6 - j) % 6 };
        let mut raw = [(0.0, 0.0); 6];
        for (j, v) in raw.iter_mut().enumerate() {
            let found = SHARED[j].iter().find_map(|&((da, db), k)| {
                self.held(lat, (a + da, b + db)).map(|s| s.hex[stored(k)])
            });
            *v = match found {
                Some(q) => q,
                None => lat.raw_vertex(a, b, j),
            };
        }
        lat.ccw_order(raw)
    }
}

#[inline]
fn cached<'c>(lat: &Lattice, cache: &'c mut HexCache, c: (i32, i32)) -> &'c [Pt; 6] {
    &cache.slot(lat, c).hex
}

/// The entry of cell `c` with its H3 index (computed once per table entry).
#[inline]
fn indexed<'c>(lat: &Lattice, cache: &'c mut HexCache, c: (i32, i32)) -> &'c HexSlot {
    let s = cache.slot(lat, c);
    if s.index == 0 {
        s.index = lat.index(c.0, c.1);
    }
    s
}

/// The H3 index of cell `c`.
#[inline]
fn cached_index(lat: &Lattice, cache: &mut HexCache, c: (i32, i32)) -> u64 {
    indexed(lat, cache, c).index
}

/// A ring crossing edge `edge` of cell (a, b)'s hexagon at point `x`, `s` along the edge; `w` is the change of
/// coverage there, walking the hexagon counter-clockwise.
#[derive(Clone, Copy, Debug)]
struct Crossing {
    b: i32,
    a: i32,
    edge: u8,
    s: f64,
    w: f64,
    x: Pt,
}

impl Crossing {
    /// Crossing of edge `edge` of `cell`'s hexagon `h` at `x`, changing the coverage by `w`.
    fn at((a, b): (i32, i32), h: &[Pt; 6], edge: usize, x: Pt, w: f64) -> Self {
        let s = along(h[edge], h[(edge + 1) % 6], x);
        Crossing {
            b,
            a,
            edge: edge as u8,
            s,
            w,
            x,
        }
    }
}

/// Per-thread scratch space of the lattice path (reused from area to area).
#[derive(Default)]
pub(super) struct Scratch {
    /// Pieces of rings inside cells: (b, a) and factor × (p − v₀) × (q − v₀), v₀ = vertex 0 of the hexagon.
    pieces: Vec<((i32, i32), f64)>,
    crossings: Vec<Crossing>,
    /// Coverage at lattice vertices no ring passes through, by [`vertex_id`].
    vcov: std::collections::HashMap<u64, f64, super::CellBuild>,
    /// The walk's cells and the per-cell sums of pieces (their buffers reused from area to area).
    cells: Vec<(i32, i32)>,
    sums: Vec<f64>,
}

/// Position of point `x` along the edge from `v` to `u`, as a fraction of the edge.
#[inline]
fn along(v: Pt, u: Pt, x: Pt) -> f64 {
    let (ex, ey) = (u.0 - v.0, u.1 - v.1);
    ((x.0 - v.0) * ex + (x.1 - v.1) * ey) / (ex * ex + ey * ey)
}

/// The edge of hexagon `h` whose line passes nearest `x`.
fn nearest_edge(h: &[Pt; 6], x: Pt) -> usize {
    (0..6)
        .map(|j| {
            let (v, u) = (h[j], h[(j + 1) % 6]);
            let len = ((u.0 - v.0).powi(2) + (u.1 - v.1).powi(2)).sqrt();
            (j, (super::cross(v, u, x) / len).abs())
        })
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map_or(0, |x| x.0)
}

/// The cells (a, b) the rings of `p` pass through, sorted by (b, a): each segment is followed from cell to
/// cell (Cyrus–Beck exit from the projected hexagon, then the neighbour across the exit edge, confirmed by a
/// point just past the exit). None when a step cannot be confirmed (the caller takes the general path).
/// With `green`, also records in `scratch` the pieces of the rings in each cell and where the rings cross
/// hexagon edges (ring k with the factor of loop k: the caller's guarantee that the loops are the rings).
fn walk(
    p: &Projected,
    lat: &Lattice,
    cache: &mut HexCache,
    green: bool,
    scratch: &mut Scratch,
) -> Option<Vec<(i32, i32)>> {
    let mut cells = std::mem::take(&mut scratch.cells);
    cells.clear();
    scratch.pieces.clear();
    scratch.crossings.clear();
    for (ring, (ring_ll, ring_xy)) in p.rings_ll.iter().zip(p.rings_xy()).enumerate() {
        let n = ring_ll.len();
        if n == 0 {
            continue;
        }
        let f = p.loops.get(ring).map_or(0.0, |l| l.1);
        let mut cur = lat.cell_at(ring_ll[0].0, ring_ll[0].1);
        cells.push(cur);
        // The hexagon of `cur` (looked up once per cell entered).
        let mut h = *cached(lat, cache, cur);
        for i in 0..n {
            if i.is_multiple_of(1024) && crate::cancel::requested() {
                return Some(cells);
            }
            let (a, b) = (ring_xy[i], ring_xy[if i + 1 == n { 0 } else { i + 1 }]);
            let d = (b.0 - a.0, b.1 - a.1);
            let seg = (d.0 * d.0 + d.1 * d.1).sqrt();
            if seg == 0.0 {
                continue;
            }
            let mut t0 = 0.0f64;
            let mut from = a;
            let mut steps = 0u32;
            loop {
                steps += 1;
                if steps > 10_000_000 {
                    return None;
                }
                if inside_convex(&h, b, 1e-6) {
                    if green {
                        scratch
                            .pieces
                            .push(((cur.1, cur.0), f * super::cross(h[0], from, b)));
                    }
                    break;
                }
                let (mut t_exit, mut edge) = (f64::INFINITY, 6);
                for k in 0..6 {
                    let (p0, q0) = (h[k], h[(k + 1) % 6]);
                    let cd = (q0.0 - p0.0) * d.1 - (q0.1 - p0.1) * d.0;
                    if cd < 0.0 {
                        let t = super::cross(p0, q0, a) / -cd;
                        if t < t_exit {
                            (t_exit, edge) = (t, k);
                        }
                    }
                }
                if edge == 6 {
                    return None;
                }
                let t = t_exit.max(t0);
                if t >= 1.0 {
                    if green {
                        scratch
                            .pieces
                            .push(((cur.1, cur.0), f * super::cross(h[0], from, b)));
                    }
                    break;
                }
                // The cell just past the exit: the neighbour across the exit edge, or (past a vertex, or
                // after rounding) another neighbour; the probe moves further (1 µm, then ×10) until one
                // neighbour holds it.
                let guess = lat.across(cur, edge);
                let hg = *cached(lat, cache, guess);
                let mut eps = 1e-6 / seg;
                let mut next = None;
                'probe: for _ in 0..6 {
                    let tn = (t + eps).min(1.0);
                    let q = (a.0 + tn * d.0, a.1 + tn * d.1);
                    if inside_convex(&hg, q, 0.0) {
                        next = Some((guess, hg));
                        break;
                    }
                    for (da, db) in NB {
                        let nb = (cur.0 + da, cur.1 + db);
                        if nb == guess {
                            continue;
                        }
                        let hn = cached(lat, cache, nb);
                        if inside_convex(hn, q, 0.0) {
                            next = Some((nb, *hn));
                            break 'probe;
                        }
                    }
                    eps *= 10.0;
                }
                let (next, hn) = next?;
                if green {
                    let x = (a.0 + t * d.0, a.1 + t * d.1);
                    scratch
                        .pieces
                        .push(((cur.1, cur.0), f * super::cross(h[0], from, x)));
                    // Leaving `cur` across its edge: walking that edge counter-clockwise, the points past x
                    // are left of the ring (coverage + f); entering `next`, the reverse.
                    scratch.crossings.push(Crossing::at(cur, &h, edge, x, f));
                    let en = if next == guess {
                        (edge + 3) % 6
                    } else {
                        nearest_edge(&hn, x)
                    };
                    scratch.crossings.push(Crossing::at(next, &hn, en, x, -f));
                    from = x;
                }
                cur = next;
                h = hn;
                cells.push(cur);
                t0 = t;
            }
        }
    }
    cells.sort_unstable_by_key(|&(a, b)| (b, a));
    cells.dedup();
    Some(cells)
}

/// The lattice vertex `i` (counter-clockwise order of [`Lattice::hex`]) of cell (a, b): every vertex is vertex
/// 0 or 1 (at 30° or 90°) of exactly one cell (see [`Lattice::raw_hex`]).
#[inline]
fn vertex_id(lat: &Lattice, (a, b): (i32, i32), i: usize) -> u64 {
    let r = if lat.ccw { i } else { (6 - i) % 6 };
    let (va, vb, t) = match r {
        0 => (a, b, 0u64),
        1 => (a, b, 1),
        2 => (a - 1, b, 0),
        3 => (a - 1, b - 1, 1),
        4 => (a - 1, b - 1, 0),
        _ => (a, b - 1, 1),
    };
    (u64::from(va as u32) << 33) | (u64::from(vb as u32) << 1) | t
}

/// Intersection areas of the boundary cells by Green's theorem, from the walk's pieces and crossings: for
/// cell H and coverage c = Σ factor × winding number, 2 ∫_H c dA = Σ_pieces factor × (p × q) + Σ c(s) ×
/// (x_i × x_{i+1}) over the stretches of H's boundary between crossings (counter-clockwise, where c is
/// constant), coordinates relative to vertex 0 of H. Along the boundary the coverage starts from a vertex no
/// ring passes through whose coverage a neighbouring cell already found (else, and when vertices × boundary
/// cells ≤ 4096, from a point-in-polygon test there), and changes by each crossing's step; it must come back to its start after the six edges, and every
/// area must lie in [0, hexagon area] (to rounding), or the result is None (the caller clips instead). Rows
/// with positive area go to `out`.
fn green_areas(
    p: &Projected,
    lat: &Lattice,
    cache: &mut HexCache,
    cells: &[(i32, i32)],
    scratch: &mut Scratch,
    out: &mut Vec<(u64, f64)>,
) -> Option<()> {
    let mut sums = std::mem::take(&mut scratch.sums);
    sums.clear();
    sums.resize(cells.len(), 0.0);
    for &((b, a), v) in &scratch.pieces {
        let i = cells.binary_search_by_key(&(b, a), |&(a, b)| (b, a)).ok()?;
        sums[i] += v;
    }
    let crossings = &mut scratch.crossings;
    crossings.sort_unstable_by(|x, y| {
        (x.b, x.a, x.edge)
            .cmp(&(y.b, y.a, y.edge))
            .then(x.s.total_cmp(&y.s))
    });
    let vcov = &mut scratch.vcov;
    vcov.clear();
    // Few vertices × cells: a point-in-polygon test per cell costs less than sharing coverages through the map.
    let small = p.loops.iter().map(|l| l.0.len()).sum::<usize>() * cells.len() <= 4096;
    const NEAR: f64 = 1e-9;
    let mut k0 = 0usize;
    for (ci, &(a, b)) in cells.iter().enumerate() {
        let mut k1 = k0;
        while k1 < crossings.len() && crossings[k1].a == a && crossings[k1].b == b {
            k1 += 1;
        }
        let cell = &crossings[k0..k1];
        k0 = k1;
        // Crossings of each edge: cell[ranges[e]..ranges[e + 1]].
        let mut ranges = [0usize; 7];
        for (e, r) in ranges.iter_mut().enumerate().skip(1) {
            *r = cell.partition_point(|c| usize::from(c.edge) < e);
        }
        let clean = |j: usize| {
            let (e, prev) = (&cell[ranges[j]..ranges[j + 1]], (j + 5) % 6);
            let before = &cell[ranges[prev]..ranges[prev + 1]];
            e.first().is_none_or(|c| c.s > NEAR) && before.last().is_none_or(|c| c.s < 1.0 - NEAR)
        };
        let (h, full, index) = {
            let s = indexed(lat, cache, (a, b));
            (s.hex, s.area, s.index)
        };
        let known = (!small)
            .then(|| {
                (0..6).find_map(|j| {
                    if !clean(j) {
                        return None;
                    }
                    vcov.get(&vertex_id(lat, (a, b), j)).map(|&c| (j, c))
                })
            })
            .flatten();
        let (j0, mut cov) = match known {
            Some(x) => x,
            None => {
                let j = (0..6).find(|&j| clean(j)).unwrap_or(0);
                (j, coverage(&p.loops, h[j]))
            }
        };
        let start = cov;
        let o = h[0];
        let mut twice = sums[ci];
        for step in 0..6 {
            let e = if j0 + step >= 6 {
                j0 + step - 6
            } else {
                j0 + step
            };
            if !small && clean(e) {
                vcov.insert(vertex_id(lat, (a, b), e), cov);
            }
            let mut x = h[e];
            for c in &cell[ranges[e]..ranges[e + 1]] {
                twice += cov * super::cross(o, x, c.x);
                x = c.x;
                cov += c.w;
            }
            twice += cov * super::cross(o, x, h[if e == 5 { 0 } else { e + 1 }]);
        }
        if (cov - start).abs() > 0.5 {
            return None;
        }
        let area = 0.5 * twice;
        let tol = 1e-9 * full + 1e-6;
        if !(-tol..=full + tol).contains(&area) {
            return None;
        }
        if area > 0.0 {
            out.push((index, area));
        }
    }
    scratch.sums = sums;
    Some(())
}

/// Intersection areas (m²) of area `p` with its cells, as [`super::area_cells`] computes them, by the lattice
/// (see the module documentation), appended to `out` unsorted. Valid areas: boundary cells by Green's theorem
/// from the walk ([`green_areas`]), checked (every cell's area within its hexagon's, and the cells' sum equal
/// to the area's to 1e-9, else clipped after all); repaired areas: boundary cells clipped (Sutherland–Hodgman
/// against each loop). False when the walk fails (the caller takes the general path; `out` may then hold
/// some of this area's rows).
pub(super) fn area_cells(
    p: &Projected,
    lat: &Lattice,
    cache: &mut HexCache,
    scratch: &mut Scratch,
    out: &mut Vec<(u64, f64)>,
) -> bool {
    let start = out.len();
    let green = p.loops_are_rings && p.loops.len() == p.rings_ll.len();
    let Some(boundary) = walk(p, lat, cache, green, scratch) else {
        return false;
    };
    if green && green_areas(p, lat, cache, &boundary, scratch, out).is_some() {
        fill(p, lat, cache, &boundary, out);
        // Σ of the cells = the polygon's area, to rounding: else clip after all.
        let total: f64 = out[start..].iter().map(|r| r.1).sum();
        if (total - p.area_m2).abs() <= 1e-9 * p.area_m2 + 1e-3 {
            scratch.cells = boundary;
            return true;
        }
    }
    out.truncate(start);
    let (mut buf, mut clipped) = (Vec::new(), Vec::new());
    for &c in &boundary {
        let hex = *cached(lat, cache, c);
        let mut a = 0.0;
        for (l, factor) in &p.loops {
            clip_convex(l, &hex, &mut buf, &mut clipped);
            a += factor * signed_area(&clipped);
        }
        if a > 0.0 {
            out.push((cached_index(lat, cache, c), a));
        }
    }
    fill(p, lat, cache, &boundary, out);
    scratch.cells = boundary;
    true
}

/// Interior runs shorter than this take their hexagons from the table (whose neighbours hold most of their
/// vertices); longer ones project rows of lattice vertices (two per cell, each row serving two cell rows).
const SHORT_RUN: i32 = 8;

/// The interior cells by scanlines: runs of non-boundary cells between two boundary cells of a lattice row,
/// each wholly inside or wholly outside (one centre test per run), appended to `out` with their areas.
fn fill(
    p: &Projected,
    lat: &Lattice,
    cache: &mut HexCache,
    boundary: &[(i32, i32)],
    out: &mut Vec<(u64, f64)>,
) {
    let mut prev_row = i32::MIN;
    let mut prev: Vec<(i32, Vec<[Pt; 2]>)> = Vec::new(); // vertex rows computed for the previous cell row
    let mut cur: Vec<(i32, Vec<[Pt; 2]>)> = Vec::new();
    let row_of = |b: i32, lo: i32, hi: i32| -> Vec<[Pt; 2]> {
        (lo..=hi)
            .map(|a| [lat.vertex(a, b, 0), lat.vertex(a, b, 1)])
            .collect()
    };
    let mut filled = 0u64;
    let mut i = 0;
    while i < boundary.len() {
        let b = boundary[i].1;
        let mut j = i;
        while j + 1 < boundary.len() && boundary[j + 1].1 == b {
            j += 1;
        }
        if b != prev_row {
            if prev_row == b - 1 {
                prev = std::mem::take(&mut cur);
            } else {
                prev.clear();
                cur.clear();
            }
            prev_row = b;
        }
        for w in boundary[i..=j].windows(2) {
            let (r0, r1) = (w[0].0 + 1, w[1].0 - 1);
            if r0 > r1 {
                continue;
            }
            // Honour Ctrl-C about every 65,536 cells (one big area can hold millions).
            filled += (r1 - r0 + 1) as u64;
            if filled >= 65_536 {
                filled = 0;
                if crate::cancel::requested() {
                    return;
                }
            }
            let c0 = lat.centre(r0, b);
            let cover = coverage(&p.loops, c0).round();
            if cover <= 0.5 {
                continue;
            }
            if r1 - r0 < SHORT_RUN {
                // A short run: its vertices are mostly those of the boundary cells around it, in the table.
                for a in r0..=r1 {
                    let s = indexed(lat, cache, (a, b));
                    let h = lat.ccw_order(s.hex); // back to the rows' (raw) order: the same area, bit for bit
                    out.push((s.index, cover * signed_area(&h).abs()));
                }
                continue;
            }
            let lo = r0 - 1;
            let up = row_of(b, lo, r1);
            let found = prev
                .iter()
                .find(|(l, v)| *l <= lo && l + v.len() as i32 > r1)
                .map(|(l, v)| &v[(lo - l) as usize..=(r1 - l) as usize]);
            let computed;
            let down: &[[Pt; 2]] = match found {
                Some(s) => s,
                None => {
                    computed = row_of(b - 1, lo, r1);
                    &computed
                }
            };
            for a in r0..=r1 {
                let k = (a - lo) as usize;
                let h = [
                    up[k][0],
                    up[k][1],
                    up[k - 1][0],
                    down[k - 1][1],
                    down[k - 1][0],
                    down[k][1],
                ];
                out.push((lat.index(a, b), cover * signed_area(&h).abs()));
            }
            cur.push((lo, up));
        }
        i = j + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Boundary cells by Green's theorem and the interior cells, without the clipping fallback (None when a
    /// check fails).
    fn green_only(p: &Projected, lat: &Lattice) -> Option<BTreeMap<u64, f64>> {
        let (mut cache, mut scratch) = (HexCache::default(), Scratch::default());
        let cells = walk(p, lat, &mut cache, true, &mut scratch)?;
        let mut out = Vec::new();
        green_areas(p, lat, &mut cache, &cells, &mut scratch, &mut out)?;
        fill(p, lat, &mut cache, &cells, &mut out);
        Some(out.into_iter().collect())
    }

    /// The same, boundary cells clipped (Sutherland–Hodgman).
    fn clipped(p: &Projected, lat: &Lattice) -> BTreeMap<u64, f64> {
        let mut q = p.clone();
        q.rings_xy = p.rings_xy().map(<[Pt]>::to_vec).collect();
        q.loops_are_rings = false;
        let (mut cache, mut scratch, mut out) =
            (HexCache::default(), Scratch::default(), Vec::new());
        assert!(area_cells(&q, lat, &mut cache, &mut scratch, &mut out));
        out.into_iter().collect()
    }

    #[test]
    fn green_areas_equal_clipped_areas() {
        // Around Manchester (BNG): a small 7-gon, a 240-vertex wavy ring with a 60-vertex hole (the vertex
        // coverage map), and a two-part multipolygon, at res 7..=11.
        let wavy = |e: f64, n: f64, r: f64, k: usize, amp: f64| -> Vec<(f64, f64)> {
            (0..k)
                .map(|i| {
                    let t = i as f64 / k as f64 * std::f64::consts::TAU;
                    let rr = r * (1.0 + amp * (7.0 * t).sin());
                    (e + rr * t.cos(), n + rr * t.sin())
                })
                .collect()
        };
        let hole: Vec<(f64, f64)> = wavy(384_000.0, 398_000.0, 700.0, 60, 0.0)
            .into_iter()
            .rev()
            .collect();
        let shapes = [
            super::super::tests_support::multi(&[vec![wavy(383_000.0, 397_000.0, 300.0, 7, 0.2)]]),
            super::super::tests_support::multi(&[vec![
                wavy(384_000.0, 398_000.0, 2_000.0, 240, 0.3),
                hole,
            ]]),
            super::super::tests_support::multi(&[
                vec![wavy(380_000.0, 395_000.0, 900.0, 40, 0.25)],
                vec![wavy(383_500.0, 395_500.0, 600.0, 33, 0.15)],
            ]),
        ];
        for g in &shapes {
            let p = super::super::tests_support::projected_wkb(g, super::super::Crs::Bng);
            for res in 7u8..=11 {
                let lat = Lattice::for_area(&p, res).expect("inside face 3");
                let green = green_only(&p, &lat).expect("Green's theorem path");
                let clip = clipped(&p, &lat);
                let total: f64 = green.values().sum();
                assert!(
                    (total - p.area_m2).abs() <= 1e-9 * p.area_m2,
                    "res {res}: {total} vs {}",
                    p.area_m2
                );
                for (k, &a) in &green {
                    let b = clip.get(k).copied().unwrap_or(0.0);
                    assert!(
                        (a - b).abs() <= 1e-6 + 1e-11 * p.area_m2,
                        "res {res} cell {k:x}: {a} vs {b}"
                    );
                }
                for (k, &b) in &clip {
                    assert!(
                        green.contains_key(k) || b < 1e-6,
                        "res {res} cell {k:x} ({b} m²) missing"
                    );
                }
            }
        }
    }

    /// A 0.1° square in Greater Manchester, projected.
    fn around_manchester() -> Projected {
        let ring = vec![
            (53.40, -2.30),
            (53.40, -2.20),
            (53.50, -2.20),
            (53.50, -2.30),
        ];
        super::super::tests_support::projected(&ring)
    }

    #[test]
    fn table_hexagons_equal_projected_hexagons_bit_for_bit() {
        // Cells entered in a scrambled order (so vertices come from every kind of neighbour), and cells 64
        // apart (the same slot): every hexagon the table gives is the directly projected one, bit for bit,
        // and so is every index.
        let p = around_manchester();
        for res in [8u8, 10] {
            let lat = Lattice::for_area(&p, res).expect("inside face 3");
            let (a0, b0) = lat.cell_at(53.45, -2.25);
            let mut cache = HexCache::default();
            cache.begin(1);
            let mut cells: Vec<(i32, i32)> = (-9..=9)
                .flat_map(|da| (-9..=9).map(move |db| (a0 + da, b0 + db)))
                .chain([(a0 + 64, b0), (a0, b0 - 64), (a0 + 64, b0 + 64)])
                .collect();
            let n = cells.len();
            for i in 0..n {
                cells.swap(i, (i * 7919 + 13) % n);
            }
            for round in 0..2 {
                for &c in &cells {
                    let h = *cached(&lat, &mut cache, c);
                    let want = lat.hex(c.0, c.1);
                    for k in 0..6 {
                        assert_eq!(
                            h[k].0.to_bits(),
                            want[k].0.to_bits(),
                            "res {res} {c:?} round {round}"
                        );
                        assert_eq!(
                            h[k].1.to_bits(),
                            want[k].1.to_bits(),
                            "res {res} {c:?} round {round}"
                        );
                    }
                    assert_eq!(cached_index(&lat, &mut cache, c), lat.index(c.0, c.1));
                }
            }
        }
    }

    #[test]
    fn lattice_cells_and_hexagons_equal_h3o() {
        // Greater Manchester, res 7..=10: index from lattice coordinates and projected vertices against
        // h3o's cell and boundary projected by `Laea::fwd`.
        for res in 7u8..=10 {
            let p = around_manchester();
            let lat = Lattice::for_area(&p, res).expect("inside face 3");
            assert_eq!(lat.face(), 3);
            let (a0, b0) = lat.cell_at(53.45, -2.25);
            for da in -20..=20 {
                for db in -20..=20 {
                    let (a, b) = (a0 + da, b0 + db);
                    let idx = lat.index(a, b);
                    let cell = h3o::CellIndex::try_from(idx).expect("valid index");
                    assert_eq!(u8::from(cell.resolution()), res);
                    let centre = h3o::LatLng::from(cell);
                    let c = p.proj.fwd((centre.lat(), centre.lng()));
                    let m = lat.centre(a, b);
                    assert!(
                        (c.0 - m.0).abs() < 1e-6 && (c.1 - m.1).abs() < 1e-6,
                        "{c:?} {m:?}"
                    );
                    let hex = lat.hex(a, b);
                    let theirs: Vec<Pt> = cell
                        .boundary()
                        .iter()
                        .map(|v| p.proj.fwd((v.lat(), v.lng())))
                        .collect();
                    assert_eq!(theirs.len(), 6);
                    for q in &hex {
                        let d = theirs
                            .iter()
                            .map(|t| (t.0 - q.0).hypot(t.1 - q.1))
                            .fold(f64::INFINITY, f64::min);
                        assert!(d < 1e-6, "vertex {d} m from h3o's");
                    }
                    assert!(signed_area(&hex) > 0.0);
                    // The neighbour across each edge is the cell on the other side of it.
                    for k in 0..6 {
                        let (na, nb) = lat.across((a, b), k);
                        let mid = (
                            (hex[k].0 + hex[(k + 1) % 6].0) / 2.0,
                            (hex[k].1 + hex[(k + 1) % 6].1) / 2.0,
                        );
                        let out = (2.0 * mid.0 - m.0, 2.0 * mid.1 - m.1);
                        assert!(inside_convex(&lat.hex(na, nb), out, 1e-6));
                    }
                }
            }
        }
    }
}
