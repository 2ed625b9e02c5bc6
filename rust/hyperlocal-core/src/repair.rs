//! Validity and repair of planar polygons, with the semantics of GEOS/JTS.
//!
//! * [`is_valid`] is the OGC simple-features test of GEOS `IsValidOp` (what `shapely.is_valid` answers): every
//!   ring has at least three distinct vertices and is simple (no self-crossing, self-touching or back-tracking
//!   spike); rings cross nowhere and share no segment, touching only at points, and never cross at such a
//!   point; holes lie inside their shell and not inside one another; the rings of one polygon touching each
//!   other form no cycle (else the interior is disconnected); the parts of a multipolygon do not overlap.
//! * [`repair`] computes the region of GEOS `make_valid(method="structure")` (the JTS/GEOS `GeometryFixer`,
//!   collapsed parts dropped) exactly, as closed loops with the region on their left. Checked against shapely
//!   2.2 / GEOS 3.14, the fixer's region has a closed form in the winding numbers `w_r(x)` of the input rings
//!   about a point `x`:
//!   - a ring `r` alone is fixed to its non-zero-winding region `F_r = {w_r ≠ 0}` (both lobes of a figure of
//!     eight, a curl that winds twice counted once, a loop wound the other way inside it left out);
//!   - polygon `p` with shell `s` and holes `h`: if `F_s` has zero area the polygon is dropped, holes and all;
//!     otherwise `R_p = (F_s − ∪{F_h : F_h meets F_s}) ∪ ∪{F_h : F_h does not meet F_s}` ("meets" = the
//!     closed regions share at least a point, as JTS `intersects`), so a hole wholly outside its shell becomes
//!     a second shell and a hole crossing the shell removes only what it covers;
//!   - a multipolygon is the union of its fixed parts.
//!
//!   So `R(x)` is a function of the vector `(w_r(x))_r` and one "meets" bit per hole. The algorithm: node every
//!   segment of every ring against every other (a proper crossing is computed once and inserted into both
//!   segments; touching endpoints and collinear overlaps split the other segment at exactly those points, so
//!   overlapping pieces become identical); group identical pieces (exact endpoint bits, either direction) with
//!   a net multiplicity per ring; cast one ray from each group's midpoint (the group excluded; a y-band index of
//!   the groups keeps this near-linear) to get the winding vector on its right, and add the group's
//!   multiplicities for its left; decide the "meets" bits from the arrangement's vertices (a hole meets its
//!   shell where a vertex touches faces of both); keep the groups where `R` differs across them, oriented with
//!   `R` on the left; chain the kept pieces into closed loops. `Σ_loops winding = R` (0 or 1) everywhere.
//!
//! Orientation tests are exact (floating-point filter, then an exact expansion), so touching, collinear and
//! crossing configurations of the input are classified as GEOS classifies them.

use std::collections::HashMap;

pub(crate) type Pt = (f64, f64);

// ---------------------------------------------------------------------------------------------------------
// Exact orientation

#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bv = s - a;
    let av = s - bv;
    (s, (a - av) + (b - bv))
}

/// Add `b` to the non-overlapping expansion `e[..n]` (Shewchuk's GROW-EXPANSION with zero elimination).
fn grow(e: &mut [f64; 12], n: &mut usize, b: f64) {
    let mut q = b;
    let mut k = 0;
    for i in 0..*n {
        let (s, err) = two_sum(q, e[i]);
        if err != 0.0 {
            e[k] = err;
            k += 1;
        }
        q = s;
    }
    if q != 0.0 && k < 12 {
        e[k] = q;
        k += 1;
    }
    *n = k;
}

/// Sign of the orientation of the triangle (a, b, c): +1 counter-clockwise, −1 clockwise, 0 collinear, exact.
pub(crate) fn orient(a: Pt, b: Pt, c: Pt) -> i8 {
    let l = (a.0 - c.0) * (b.1 - c.1);
    let r = (a.1 - c.1) * (b.0 - c.0);
    let det = l - r;
    // Shewchuk's ccwerrboundA.
    let bound = (3.0 + 16.0 * f64::EPSILON) * f64::EPSILON * (l.abs() + r.abs());
    if det > bound {
        return 1;
    }
    if -det > bound {
        return -1;
    }
    // Exact: ax·by − ax·cy + bx·cy − bx·ay + cx·ay − cx·by, each product split exactly with a fused multiply-add.
    let mut e = [0.0; 12];
    let mut n = 0;
    for (x, y) in [
        (a.0, b.1),
        (-a.0, c.1),
        (b.0, c.1),
        (-b.0, a.1),
        (c.0, a.1),
        (-c.0, b.1),
    ] {
        let p = x * y;
        let lo = x.mul_add(y, -p);
        grow(&mut e, &mut n, lo);
        grow(&mut e, &mut n, p);
    }
    match n {
        0 => 0,
        _ if e[n - 1] > 0.0 => 1,
        _ => -1,
    }
}

#[inline]
fn cross(o: Pt, a: Pt, b: Pt) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Position of `p` along the segment a→b (for points on its line).
#[inline]
fn along(a: Pt, b: Pt, p: Pt) -> f64 {
    (p.0 - a.0) * (b.0 - a.0) + (p.1 - a.1) * (b.1 - a.1)
}

/// How two segments meet.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Meet {
    None,
    /// Interiors cross at one point.
    Proper,
    /// They share exactly one point, an endpoint of at least one of them.
    Touch(Pt),
    /// Collinear, sharing a piece of positive length.
    Overlap,
}

fn meet(a: Pt, b: Pt, c: Pt, d: Pt) -> Meet {
    let (o1, o2) = (orient(a, b, c), orient(a, b, d));
    if o1 * o2 > 0 {
        return Meet::None;
    }
    let (o3, o4) = (orient(c, d, a), orient(c, d, b));
    if o3 * o4 > 0 {
        return Meet::None;
    }
    if o1 == 0 && o2 == 0 {
        // Collinear: compare positions along a→b.
        let (tb, tc, td) = (along(a, b, b), along(a, b, c), along(a, b, d));
        let (lo, hi) = (tc.min(td), tc.max(td));
        let (s, e) = (lo.max(0.0), hi.min(tb));
        if s < e {
            return Meet::Overlap;
        }
        if s == e {
            // One shared point: which endpoint?
            let p = if s == 0.0 {
                a
            } else if s == tb {
                b
            } else if tc == s {
                c
            } else {
                d
            };
            return Meet::Touch(p);
        }
        return Meet::None;
    }
    if o1 != 0 && o2 != 0 && o3 != 0 && o4 != 0 {
        return Meet::Proper;
    }
    Meet::Touch(if o1 == 0 {
        c
    } else if o2 == 0 {
        d
    } else if o3 == 0 {
        a
    } else {
        b
    })
}

/// Crossing point of two properly crossing segments (computed once, so both get identical coordinates). The
/// computation is canonical (endpoints and segments in a fixed order), so the same two lines crossing in
/// several rings (duplicated rings, overlapping pieces) give bit-identical points.
fn crossing_point(a: Pt, b: Pt, c: Pt, d: Pt) -> Pt {
    let lt = |p: Pt, q: Pt| key(p) < key(q);
    let (a, b) = if lt(b, a) { (b, a) } else { (a, b) };
    let (c, d) = if lt(d, c) { (d, c) } else { (c, d) };
    let ((a, b), (c, d)) = if (key(c), key(d)) < (key(a), key(b)) {
        ((c, d), (a, b))
    } else {
        ((a, b), (c, d))
    };
    let d1 = cross(c, d, a);
    let d2 = cross(c, d, b);
    let t = d1 / (d1 - d2);
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let p = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
    // Keep it inside both bounding boxes whatever the rounding.
    let cl = |v: f64, p: f64, q: f64, r: f64, s: f64| {
        let (lo, hi) = (p.min(q).max(r.min(s)), p.max(q).min(r.max(s)));
        if lo <= hi {
            v.max(lo).min(hi)
        } else {
            v
        }
    };
    (cl(p.0, a.0, b.0, c.0, d.0), cl(p.1, a.1, b.1, c.1, d.1))
}

#[inline]
fn key(p: Pt) -> [u64; 2] {
    // +0.0 turns −0.0 into 0.0, so equal points have equal keys.
    [(p.0 + 0.0).to_bits(), (p.1 + 0.0).to_bits()]
}

/// A cheap, deterministic hasher for point keys.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type KeyMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// Segments of all rings, with the ring each belongs to.
struct Seg {
    a: Pt,
    b: Pt,
    ring: u32,
    idx: u32,
}

/// All pairs of segments whose bounding boxes meet, in a deterministic order: a sweep along the longer side
/// of the bounding box of all of them (so a long thin polygon does not compare every pair).
fn candidate_pairs(segs: &[Seg], f: impl FnMut(usize, usize) -> bool) {
    candidate_pairs_padded(segs, |_| 0.0, &mut Vec::new(), f);
}

/// [`candidate_pairs`] with each segment's box grown by `pad(segment)` on every side: a sweep along the longer
/// side of the bounding box of all of them (so a long thin polygon does not compare every pair); a handful of
/// segments are simply compared pair by pair.
fn candidate_pairs_padded(
    segs: &[Seg],
    pad: impl Fn(&Seg) -> f64,
    order: &mut Vec<Boxed>,
    mut f: impl FnMut(usize, usize) -> bool,
) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for s in segs {
        x0 = x0.min(s.a.0.min(s.b.0));
        x1 = x1.max(s.a.0.max(s.b.0));
        y0 = y0.min(s.a.1.min(s.b.1));
        y1 = y1.max(s.a.1.max(s.b.1));
    }
    let along_y = y1 - y0 > x1 - x0;
    order.clear();
    order.extend(segs.iter().enumerate().map(|(i, s)| {
        let d = pad(s);
        let (xl, xh) = (s.a.0.min(s.b.0) - d, s.a.0.max(s.b.0) + d);
        let (yl, yh) = (s.a.1.min(s.b.1) - d, s.a.1.max(s.b.1) + d);
        if along_y {
            (yl, yh, xl, xh, i)
        } else {
            (xl, xh, yl, yh, i)
        }
    }));
    // Up to 64 segments (a generalised LSOA has ~45) all pairs are cheaper than sorting for a sweep. Up to 16,
    // a plain double loop; above, the boxes overlapping box k as a bit mask built by a branch-free
    // (vectorisable) loop over the later boxes' coordinates, copied into arrays.
    if order.len() <= 16 {
        for (k, &(lo, hi, olo, ohi, i)) in order.iter().enumerate() {
            for &(lo2, hi2, olo2, ohi2, j) in &order[k + 1..] {
                if ((lo2 <= hi) & (lo <= hi2) & (olo2 <= ohi) & (olo <= ohi2)) && !f(i, j) {
                    return;
                }
            }
        }
        return;
    }
    if order.len() <= 64 {
        let n = order.len();
        let (mut lo, mut hi, mut olo, mut ohi) =
            ([0.0f64; 64], [0.0f64; 64], [0.0f64; 64], [0.0f64; 64]);
        for (k, o) in order.iter().enumerate() {
            (lo[k], hi[k], olo[k], ohi[k]) = (o.0, o.1, o.2, o.3);
        }
        let masks = masks_of([&lo, &hi, &olo, &ohi], n);
        for (k, &m) in masks.iter().enumerate().take(n) {
            let mut mask = m;
            while mask != 0 {
                let j = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                if !f(order[k].4, order[j].4) {
                    return;
                }
            }
        }
        return;
    }
    order.sort_unstable_by(|p, q| p.0.total_cmp(&q.0).then(p.4.cmp(&q.4)));
    for (k, &(_, hi, olo, ohi, i)) in order.iter().enumerate() {
        for &(lo2, _, olo2, ohi2, j) in &order[k + 1..] {
            if lo2 > hi {
                break;
            }
            if olo2 > ohi || ohi2 < olo {
                continue;
            }
            if !f(i.min(j), i.max(j)) {
                return;
            }
        }
    }
}

/// The padded boxes of up to 64 segments, a column per side (one axis's lo and hi, the other's).
struct Cols<'a> {
    lo: &'a [f64; 64],
    hi: &'a [f64; 64],
    olo: &'a [f64; 64],
    ohi: &'a [f64; 64],
}

/// For each box k < n <= 64, the later boxes j in k+1..n meeting it, as bit j of `out[k]`: the plain loop, or
/// four boxes at a time where the CPU has AVX2 (`wide`, from [`wide_masks`]).
#[inline]
fn overlap_masks(c: &Cols<'_>, n: usize, wide: bool, out: &mut [u64; 64]) {
    debug_assert!(n <= 64);
    if wide {
        // SAFETY: `wide_masks` found AVX2 on this CPU.
        return unsafe { overlap_masks_avx2(c, n, out) };
    }
    for (k, m) in out.iter_mut().enumerate().take(n) {
        let (l, h, ol, oh) = (c.lo[k], c.hi[k], c.olo[k], c.ohi[k]);
        let mut mask = 0u64;
        for j in k + 1..n {
            let hit = (c.lo[j] <= h) & (l <= c.hi[j]) & (c.olo[j] <= oh) & (ol <= c.ohi[j]);
            mask |= u64::from(hit) << j;
        }
        *m = mask;
    }
}

/// [`overlap_masks`] of the first `n` (<= 64) boxes given as four full columns (lo, hi, other lo, other hi),
/// the widest way this CPU has.
fn masks_of([lo, hi, olo, ohi]: [&[f64; 64]; 4], n: usize) -> [u64; 64] {
    let mut masks = [0u64; 64];
    let cols = Cols { lo, hi, olo, ohi };
    overlap_masks(&cols, n, wide_masks(), &mut masks);
    masks
}

/// Whether [`overlap_masks_avx2`] can run here (checked once; the answer is the same bits either way: the
/// comparisons are exact, NaN comparing false in both).
fn wide_masks() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`overlap_masks`] four boxes at a time (AVX2): ordered, non-signalling `<=` like Rust's, so NaN never meets.
/// Lanes up to k or past n read other boxes and are masked off.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn overlap_masks_avx2(c: &Cols<'_>, n: usize, out: &mut [u64; 64]) {
    use std::arch::x86_64::*;
    assert!(n <= 64);
    let below = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    for (k, m) in out.iter_mut().enumerate().take(n) {
        let (l, h) = (_mm256_set1_pd(c.lo[k]), _mm256_set1_pd(c.hi[k]));
        let (ol, oh) = (_mm256_set1_pd(c.olo[k]), _mm256_set1_pd(c.ohi[k]));
        let mut mask = 0u64;
        let mut j = (k + 1) & !3;
        while j < n {
            // SAFETY: j is a multiple of 4 below n <= 64, so j + 4 <= 64.
            let at = |col: &[f64; 64]| unsafe { _mm256_loadu_pd(col.as_ptr().add(j)) };
            let a = _mm256_cmp_pd::<_CMP_LE_OQ>(at(c.lo), h);
            let b = _mm256_cmp_pd::<_CMP_LE_OQ>(l, at(c.hi));
            let d = _mm256_cmp_pd::<_CMP_LE_OQ>(at(c.olo), oh);
            let e = _mm256_cmp_pd::<_CMP_LE_OQ>(ol, at(c.ohi));
            let hit = _mm256_and_pd(_mm256_and_pd(a, b), _mm256_and_pd(d, e));
            mask |= (_mm256_movemask_pd(hit) as u64) << j;
            j += 4;
        }
        *m = mask & below & ((u64::MAX << k) << 1);
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn overlap_masks_avx2(c: &Cols<'_>, n: usize, out: &mut [u64; 64]) {
    overlap_masks(c, n, false, out)
}

/// [`validity_with`]'s answer for one ring of 3..=[`SIMPLE_MAX`] segments, the common case, found the same way
/// without its general machinery: the padded boxes in columns, the vertex checks between consecutive
/// segments in one pass, and only the other pairs whose boxes meet (bit masks) tested for crossing and, for
/// `clear`, for distance. The same pairs get the same tests, so the answer is the same (tested).
fn simple_ring_validity(r: &[Pt], kappa: Option<f64>) -> (bool, bool) {
    let n = r.len();
    debug_assert!((3..=SIMPLE_MAX).contains(&n));
    let mut clear = kappa.is_some();
    let bow = |a: Pt, b: Pt| {
        kappa.map_or(0.0, |k| {
            k * ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)) / 8.0
        })
    };
    let [mut lo, mut hi, mut olo, mut ohi, mut pad] = [[0.0f64; 64]; 5];
    for i in 0..n {
        let (a, b) = (r[i], r[if i + 1 == n { 0 } else { i + 1 }]);
        let d = bow(a, b);
        (lo[i], hi[i]) = (a.0.min(b.0) - d, a.0.max(b.0) + d);
        (olo[i], ohi[i]) = (a.1.min(b.1) - d, a.1.max(b.1) + d);
        pad[i] = d;
    }
    let mut masks = masks_of([&lo, &hi, &olo, &ohi], n);
    // Consecutive segments (i − 1, i) share vertex i: only a back-tracking spike makes them overlap. Their
    // bits are then cleared, leaving the other pairs whose boxes meet.
    for i in 0..n {
        let (p, k, j) = if i == 0 {
            (n - 1, 0, n - 1)
        } else {
            (i - 1, i - 1, i)
        };
        if masks[k] >> j & 1 == 0 {
            continue;
        }
        masks[k] &= !(1u64 << j);
        let next = r[if i + 1 == n { 0 } else { i + 1 }];
        if !consecutive_ok(r[p], r[i], next, || pad[k] + pad[j], &mut clear) {
            return (false, false);
        }
    }
    for (k, &m) in masks.iter().enumerate().take(n) {
        let mut mask = m;
        while mask != 0 {
            let j = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let (s, t) = (
                (r[k], r[k + 1]),
                (r[j], r[if j + 1 == n { 0 } else { j + 1 }]),
            );
            match meet(s.0, s.1, t.0, t.1) {
                Meet::None => {
                    if clear && segment_gap(s, t) < pad[k] + pad[j] {
                        clear = false;
                    }
                }
                _ => return (false, false),
            }
        }
    }
    (true, clear)
}

/// The longest ring [`simple_ring_validity`] takes (a mask of 64 bits per segment).
const SIMPLE_MAX: usize = 64;

/// A segment's padded box for the sweep: (sweep lo, sweep hi, other lo, other hi, segment index).
type Boxed = (f64, f64, f64, f64, usize);

/// Crossing-number point in ring test (the point is assumed off the ring).
fn in_ring(ring: &[Pt], p: Pt) -> bool {
    let n = ring.len();
    let mut inside = false;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) {
            let o = orient(a, b, p);
            if (b.1 > a.1 && o > 0) || (b.1 < a.1 && o < 0) {
                inside = !inside;
            }
        }
    }
    inside
}

fn bbox(ring: &[Pt]) -> (f64, f64, f64, f64) {
    ring.iter().fold(
        (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
        |(x0, x1, y0, y1), &(x, y)| (x0.min(x), x1.max(x), y0.min(y), y1.max(y)),
    )
}

fn boxes_meet(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1 && a.2 <= b.3 && b.2 <= a.3
}

/// Is `q` strictly inside the counter-clockwise sector from direction u to direction v around `p`.
fn in_sector(p: Pt, u: Pt, v: Pt, q: Pt) -> bool {
    match orient(p, u, v) {
        1 => orient(p, u, q) > 0 && orient(p, q, v) > 0,
        -1 => !(orient(p, v, q) >= 0 && orient(p, q, u) >= 0),
        _ => {
            if along(p, u, v) < 0.0 {
                orient(p, u, q) > 0 // straight through p: a half-plane
            } else {
                false // u and v in the same direction: a spike (invalid anyway)
            }
        }
    }
}

/// Distance from `p` to the segment a–b.
fn point_segment(p: Pt, a: Pt, b: Pt) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let l2 = dx * dx + dy * dy;
    let t = if l2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((a.0 + t * dx - p.0).powi(2) + (a.1 + t * dy - p.1).powi(2)).sqrt()
}

/// OGC validity of a polygon or multipolygon (`polys[k][0]` the shell, then the holes; closing vertex dropped,
/// consecutive duplicates removed), as GEOS `IsValidOp` decides it.
pub(crate) fn is_valid(polys: &[Vec<Vec<Pt>>]) -> bool {
    validity(polys, None).0
}

/// [`is_valid`] of rings in projected metres, and whether the answer holds with a margin: `clear` when no
/// two segments come within `kappa · L² / 8` of each other for each of their lengths L (and no two consecutive
/// ones fold back that close), `kappa` bounding the curvature here of lines that are straight in the input
/// coordinates. Then the rings in those coordinates, whose edges bow away from these chords by less than
/// that, have the same validity: a clear valid answer spares the test in the input coordinates.
pub(crate) fn is_valid_clear(polys: &[Vec<Vec<Pt>>], kappa: f64) -> (bool, bool) {
    validity(polys, Some(kappa))
}

fn validity(polys: &[Vec<Vec<Pt>>], kappa: Option<f64>) -> (bool, bool) {
    // The segment and box buffers are reused from call to call by each thread (taken, so a nested call
    // would simply start with empty ones).
    type Buffers = (Vec<Seg>, Vec<Boxed>);
    thread_local! {
        static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::default();
    }
    if let [poly] = polys {
        if let [ring] = poly.as_slice() {
            if (3..=SIMPLE_MAX).contains(&ring.len()) {
                return simple_ring_validity(ring, kappa.filter(|k| k.is_finite()));
            }
        }
    }
    let (mut segs, mut order) = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let out = validity_with(polys, kappa, &mut segs, &mut order);
    BUFFERS.with(|b| *b.borrow_mut() = (segs, order));
    out
}

fn validity_with(
    polys: &[Vec<Vec<Pt>>],
    kappa: Option<f64>,
    segs: &mut Vec<Seg>,
    order: &mut Vec<Boxed>,
) -> (bool, bool) {
    let mut rings: Vec<(&[Pt], usize, bool)> = Vec::new(); // (points, polygon, is hole)
    for (p, poly) in polys.iter().enumerate() {
        for (k, r) in poly.iter().enumerate() {
            if r.len() < 3 {
                return (false, false);
            }
            rings.push((r.as_slice(), p, k > 0));
        }
    }
    segs.clear();
    for (ri, (r, _, _)) in rings.iter().enumerate() {
        for (i, (&a, &b)) in r.iter().zip(r.iter().skip(1).chain(r.first())).enumerate() {
            segs.push(Seg {
                a,
                b,
                ring: ri as u32,
                idx: i as u32,
            });
        }
    }
    // Touches between different rings: (point, ring, segment of that ring, other ring).
    let mut touches: Vec<(Pt, u32, u32, u32)> = Vec::new();
    let mut ok = true;
    let kappa = kappa.filter(|k| k.is_finite());
    let mut clear = kappa.is_some();
    let bow = |s: &Seg| {
        kappa.map_or(0.0, |k| {
            k * ((s.b.0 - s.a.0).powi(2) + (s.b.1 - s.a.1).powi(2)) / 8.0
        })
    };
    candidate_pairs_padded(segs, bow, order, |i, j| {
        let (s, t) = (&segs[i], &segs[j]);
        let gap = || bow(s) + bow(t);
        if s.ring == t.ring {
            let last = rings[s.ring as usize].0.len() as u32 - 1;
            let next = |i: u32| if i == last { 0 } else { i + 1 };
            let (shared, ends) = if next(s.idx) == t.idx {
                (Some(s.b), (s.a, t.b))
            } else if next(t.idx) == s.idx {
                (Some(t.b), (t.a, s.b))
            } else {
                (None, (s.a, s.b))
            };
            match shared {
                // Consecutive segments: only a back-tracking spike makes them overlap.
                Some(v) => ok = consecutive_ok(ends.0, v, ends.1, gap, &mut clear),
                None => match meet(s.a, s.b, t.a, t.b) {
                    Meet::None => {
                        if clear && segment_gap((s.a, s.b), (t.a, t.b)) < gap() {
                            clear = false;
                        }
                    }
                    _ => ok = false,
                },
            }
        } else {
            match meet(s.a, s.b, t.a, t.b) {
                Meet::None => {
                    if clear && segment_gap((s.a, s.b), (t.a, t.b)) < gap() {
                        clear = false;
                    }
                }
                Meet::Touch(p) => {
                    clear = false;
                    touches.push((p, s.ring, s.idx, t.ring));
                    touches.push((p, t.ring, t.idx, s.ring));
                }
                Meet::Proper | Meet::Overlap => ok = false,
            }
        }
        ok
    });
    if !ok {
        return (false, false);
    }
    // The local shape of a ring at a point of it: its neighbours before and after.
    let local = |ring: u32, seg: u32, p: Pt| -> (Pt, Pt) {
        let r = rings[ring as usize].0;
        let n = r.len();
        let i = seg as usize;
        let (a, b) = (r[i], r[(i + 1) % n]);
        if p == a {
            (r[(i + n - 1) % n], b)
        } else if p == b {
            (a, r[(i + 2) % n])
        } else {
            (a, b)
        }
    };
    let mut touch_pts: KeyMap<[u64; 2], u32> = KeyMap::default();
    if !touches.is_empty() {
        touches.sort_by(|x, y| {
            key(x.0)
                .cmp(&key(y.0))
                .then(x.1.cmp(&y.1))
                .then(x.3.cmp(&y.3))
        });
        touches.dedup_by(|x, y| key(x.0) == key(y.0) && x.1 == y.1 && x.3 == y.3);
        // No crossing at a touching point: the other ring stays on one side of this one.
        for &(p, ra, sa, rb) in &touches {
            if ra > rb {
                continue;
            }
            let kp = key(p);
            let Ok(at) = touches
                .binary_search_by(|t| key(t.0).cmp(&kp).then(t.1.cmp(&rb)).then(t.3.cmp(&ra)))
            else {
                continue;
            };
            let sb = touches[at].2;
            let (ap, an) = local(ra, sa, p);
            let (bp, bn) = local(rb, sb, p);
            if in_sector(p, an, ap, bp) != in_sector(p, an, ap, bn) {
                return (false, false);
            }
        }
        // Interior connected: the graph of the rings of one polygon and the points where they touch is a forest.
        let mut parent: Vec<usize> = (0..rings.len()).collect();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let mut incid: Vec<([u64; 2], u32)> = Vec::new();
        for &(p, ra, _, rb) in &touches {
            let k = key(p);
            let next = touch_pts.len() as u32;
            touch_pts.entry(k).or_insert(next);
            if rings[ra as usize].1 == rings[rb as usize].1 {
                incid.push((k, ra));
            }
        }
        incid.sort_unstable();
        incid.dedup();
        parent.extend(rings.len()..rings.len() + touch_pts.len());
        for (k, r) in incid {
            let node = rings.len() + touch_pts.get(&k).copied().unwrap_or(0) as usize;
            let (x, y) = (find(&mut parent, r as usize), find(&mut parent, node));
            if x == y {
                return (false, false);
            }
            parent[x] = y;
        }
    }
    // One point of each ring not on any other ring.
    let sample = |r: &[Pt]| -> Pt {
        let n = r.len();
        if let Some(&p) = r.iter().find(|p| !touch_pts.contains_key(&key(**p))) {
            return p;
        }
        for i in 0..n {
            let (a, b) = (r[i], r[(i + 1) % n]);
            let m = (0.5 * (a.0 + b.0), 0.5 * (a.1 + b.1));
            if !touch_pts.contains_key(&key(m)) {
                return m;
            }
        }
        r[0]
    };
    if rings.len() == 1 {
        return (true, clear); // one simple ring
    }
    let boxes: Vec<_> = rings.iter().map(|r| bbox(r.0)).collect();
    // Holes inside their shell and not inside each other.
    let mut first = 0;
    for poly in polys {
        let shell = first;
        for h in 1..poly.len() {
            let hr = shell + h;
            if !in_ring(rings[shell].0, sample(rings[hr].0)) {
                return (false, false);
            }
            for g in h + 1..poly.len() {
                let gr = shell + g;
                if boxes_meet(boxes[hr], boxes[gr])
                    && (in_ring(rings[gr].0, sample(rings[hr].0))
                        || in_ring(rings[hr].0, sample(rings[gr].0)))
                {
                    return (false, false);
                }
            }
        }
        first += poly.len();
    }
    // Parts do not overlap: no shell inside another part's area.
    if polys.len() > 1 {
        let mut starts = Vec::with_capacity(polys.len());
        let mut s = 0;
        for p in polys {
            starts.push(s);
            s += p.len();
        }
        let mut order: Vec<usize> = (0..polys.len()).collect();
        order.sort_by(|&a, &b| boxes[starts[a]].0.total_cmp(&boxes[starts[b]].0));
        for (k, &a) in order.iter().enumerate() {
            for &b in &order[k + 1..] {
                let (ba, bb) = (boxes[starts[a]], boxes[starts[b]]);
                if bb.0 > ba.1 {
                    break;
                }
                if !boxes_meet(ba, bb) {
                    continue;
                }
                for (x, y) in [(a, b), (b, a)] {
                    let q = sample(rings[starts[x]].0);
                    if in_ring(rings[starts[y]].0, q)
                        && !(1..polys[y].len()).any(|h| in_ring(rings[starts[y] + h].0, q))
                    {
                        return (false, false);
                    }
                }
            }
        }
    }
    (true, clear)
}

/// Distance between two segments that do not meet.
fn segment_gap((a, b): (Pt, Pt), (c, d): (Pt, Pt)) -> f64 {
    point_segment(a, c, d)
        .min(point_segment(b, c, d))
        .min(point_segment(c, a, b))
        .min(point_segment(d, a, b))
}

/// Consecutive segments e0 → v → e1 overlap only by turning straight back (a spike): false then. A turn
/// sharper than a right angle whose ends come within `gap` of the other segment makes the answer not `clear`.
fn consecutive_ok(e0: Pt, v: Pt, e1: Pt, gap: impl FnOnce() -> f64, clear: &mut bool) -> bool {
    if along(v, e0, e1) > 0.0 {
        if orient(e0, v, e1) == 0 {
            return false;
        }
        if *clear && point_segment(e1, v, e0).min(point_segment(e0, v, e1)) < gap() {
            *clear = false;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------------------
// Repair

/// A y-band index of non-horizontal edges, for horizontal ray casts.
struct Bands {
    y0: f64,
    h: f64,
    n: usize,
    start: Vec<usize>,
    items: Vec<u32>,
}

impl Bands {
    fn new(edges: &[(Pt, Pt)], ids: &[u32]) -> Self {
        let (mut y0, mut y1) = (f64::MAX, f64::MIN);
        for &i in ids {
            let (a, b) = edges[i as usize];
            y0 = y0.min(a.1.min(b.1));
            y1 = y1.max(a.1.max(b.1));
        }
        let span = (y1 - y0).max(f64::MIN_POSITIVE);
        let mut n = (ids.len() / 2).clamp(1, 1 << 20);
        // Fewer bands if long edges would be listed in too many of them.
        loop {
            let h = span / n as f64;
            let total: f64 = ids
                .iter()
                .map(|&i| {
                    let (a, b) = edges[i as usize];
                    ((b.1 - a.1).abs() / h).floor() + 2.0
                })
                .sum();
            if total <= 8.0 * ids.len() as f64 + 64.0 || n == 1 {
                break;
            }
            n = (n / 2).max(1);
        }
        let h = span / n as f64;
        let band = |y: f64| (((y - y0) / h).floor().max(0.0) as usize).min(n - 1);
        let mut count = vec![0usize; n + 1];
        for &i in ids {
            let (a, b) = edges[i as usize];
            for k in band(a.1.min(b.1))..=band(a.1.max(b.1)) {
                count[k + 1] += 1;
            }
        }
        for k in 0..n {
            count[k + 1] += count[k];
        }
        let mut fill = count.clone();
        let mut items = vec![0u32; count[n]];
        for &i in ids {
            let (a, b) = edges[i as usize];
            for k in band(a.1.min(b.1))..=band(a.1.max(b.1)) {
                items[fill[k]] = i;
                fill[k] += 1;
            }
        }
        Bands {
            y0,
            h,
            n,
            start: count,
            items,
        }
    }
    fn at(&self, y: f64) -> &[u32] {
        if y.is_nan() || y < self.y0 {
            return &[];
        }
        let k = ((y - self.y0) / self.h).floor() as usize;
        if k >= self.n {
            return &[];
        }
        &self.items[self.start[k]..self.start[k + 1]]
    }
}

/// Is the piece a→b (midpoint p) on the left of the upward edge c→d, i.e. does a ray from it to +x cross c→d.
/// Decided by the piece's endpoints when they lie on one side (exact), so that two long pieces a rounding
/// error apart (not noded into one) are still ordered consistently; by the midpoint otherwise.
fn left_of(c: Pt, d: Pt, a: Pt, b: Pt, p: Pt) -> bool {
    let (oa, ob) = (orient(c, d, a), orient(c, d, b));
    let side = if oa == ob || ob == 0 {
        oa
    } else if oa == 0 {
        ob
    } else {
        orient(c, d, p)
    };
    side > 0
}

/// The region of GEOS `make_valid(method="structure")` of a polygon or multipolygon (`polys[k][0]` the shell,
/// then the holes), as closed loops with the region on their left: the sum of their winding numbers is 1 in
/// the region and 0 outside. Empty when the region has no area.
pub(crate) fn repair(polys: &[Vec<Vec<Pt>>]) -> Vec<Vec<Pt>> {
    // Rings: polygon and role.
    let mut ring_poly: Vec<usize> = Vec::new();
    let mut ring_hole: Vec<bool> = Vec::new();
    let mut shell_of: Vec<usize> = Vec::new();
    let mut segs: Vec<Seg> = Vec::new();
    for (p, poly) in polys.iter().enumerate() {
        shell_of.push(ring_poly.len());
        for (k, r) in poly.iter().enumerate() {
            let ri = ring_poly.len() as u32;
            ring_poly.push(p);
            ring_hole.push(k > 0);
            let n = r.len();
            for i in 0..n {
                let (a, b) = (r[i], r[(i + 1) % n]);
                if key(a) != key(b) {
                    segs.push(Seg {
                        a,
                        b,
                        ring: ri,
                        idx: i as u32,
                    });
                }
            }
        }
    }
    let nrings = ring_poly.len();
    // 1. Node: split points of every segment.
    let mut splits: Vec<Vec<Pt>> = (0..segs.len()).map(|_| Vec::new()).collect();
    candidate_pairs(&segs, |i, j| {
        let (s, t) = (&segs[i], &segs[j]);
        match meet(s.a, s.b, t.a, t.b) {
            Meet::None => {}
            Meet::Proper => {
                let p = crossing_point(s.a, s.b, t.a, t.b);
                splits[i].push(p);
                splits[j].push(p);
            }
            Meet::Touch(p) => {
                if key(p) != key(s.a) && key(p) != key(s.b) {
                    splits[i].push(p);
                }
                if key(p) != key(t.a) && key(p) != key(t.b) {
                    splits[j].push(p);
                }
            }
            Meet::Overlap => {
                let (ls, lt) = (along(s.a, s.b, s.b), along(t.a, t.b, t.b));
                for p in [t.a, t.b] {
                    let u = along(s.a, s.b, p);
                    if u > 0.0 && u < ls {
                        splits[i].push(p);
                    }
                }
                for p in [s.a, s.b] {
                    let u = along(t.a, t.b, p);
                    if u > 0.0 && u < lt {
                        splits[j].push(p);
                    }
                }
            }
        }
        true
    });
    // 2. Pieces, in canonical direction (upward, or leftward when horizontal), keyed by their endpoints.
    let mut pieces: Vec<([u64; 4], u32, i32, Pt, Pt)> = Vec::with_capacity(segs.len());
    let mut push = |u: Pt, v: Pt, ring: u32| {
        if key(u) == key(v) {
            return;
        }
        let up = u.1 < v.1 || (u.1 == v.1 && u.0 > v.0);
        let (a, b, dir) = if up { (u, v, 1) } else { (v, u, -1) };
        let (ka, kb) = (key(a), key(b));
        pieces.push(([ka[0], ka[1], kb[0], kb[1]], ring, dir, a, b));
    };
    for (s, sp) in segs.iter().zip(splits.iter_mut()) {
        sp.sort_by(|p, q| along(s.a, s.b, *p).total_cmp(&along(s.a, s.b, *q)));
        let mut prev = s.a;
        for &p in sp.iter() {
            push(prev, p, s.ring);
            prev = p;
        }
        push(prev, s.b, s.ring);
    }
    pieces.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    // 3. Groups of identical pieces with a non-zero net multiplicity for some ring.
    let mut edges: Vec<(Pt, Pt)> = Vec::new();
    let mut mult_start: Vec<usize> = vec![0];
    let mut mult: Vec<(u32, i32)> = Vec::new();
    let mut k = 0;
    while k < pieces.len() {
        let mut e = k;
        while e < pieces.len() && pieces[e].0 == pieces[k].0 {
            e += 1;
        }
        let before = mult.len();
        let mut i = k;
        while i < e {
            let ring = pieces[i].1;
            let mut m = 0;
            while i < e && pieces[i].1 == ring {
                m += pieces[i].2;
                i += 1;
            }
            if m != 0 {
                mult.push((ring, m));
            }
        }
        if mult.len() > before {
            edges.push((pieces[k].3, pieces[k].4));
            mult_start.push(mult.len());
        }
        k = e;
    }
    drop(pieces);
    let ng = edges.len();
    if ng == 0 {
        return Vec::new();
    }
    // 4. Winding vectors on the right of each group (ray cast to +x, half-open in y, the group excluded) and
    //    on its left (right + the group's multiplicities).
    let ids: Vec<u32> = (0..ng as u32)
        .filter(|&g| edges[g as usize].0 .1 != edges[g as usize].1 .1)
        .collect();
    let bands = Bands::new(&edges, &ids);
    let mut dense = vec![0i32; nrings];
    let mut touched: Vec<u32> = Vec::new();
    let mut side_start: Vec<usize> = Vec::with_capacity(2 * ng + 1);
    side_start.push(0);
    let mut side: Vec<(u32, i32)> = Vec::new();
    for g in 0..ng {
        let (a, b) = edges[g];
        let p = (0.5 * (a.0 + b.0), 0.5 * (a.1 + b.1));
        for &h in bands.at(p.1) {
            let h = h as usize;
            if h == g {
                continue;
            }
            let (c, d) = edges[h];
            if c.1 <= p.1 && p.1 < d.1 && left_of(c, d, a, b, p) {
                for &(r, m) in &mult[mult_start[h]..mult_start[h + 1]] {
                    if dense[r as usize] == 0 {
                        touched.push(r);
                    }
                    dense[r as usize] += m;
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for &r in &touched {
            if dense[r as usize] != 0 {
                side.push((r, dense[r as usize]));
            }
        }
        side_start.push(side.len());
        for &(r, m) in &mult[mult_start[g]..mult_start[g + 1]] {
            if dense[r as usize] == 0 && !touched.contains(&r) {
                touched.push(r);
            }
            dense[r as usize] += m;
        }
        touched.sort_unstable();
        for &r in &touched {
            if dense[r as usize] != 0 {
                side.push((r, dense[r as usize]));
            }
            dense[r as usize] = 0;
        }
        side_start.push(side.len());
        touched.clear();
    }
    let sides = |g: usize, left: bool| -> &[(u32, i32)] {
        let s = 2 * g + usize::from(left);
        &side[side_start[s]..side_start[s + 1]]
    };
    // 5. Shells with area, and holes that meet their shell (a vertex of the arrangement touches faces of both).
    let mut shell_ok = vec![false; polys.len()];
    for &(r, _) in &side {
        if !ring_hole[r as usize] {
            shell_ok[ring_poly[r as usize]] = true;
        }
    }
    let mut meets = vec![false; nrings];
    if ring_hole.iter().any(|&h| h) {
        let has_holes: Vec<bool> = polys.iter().map(|p| p.len() > 1).collect();
        let mut at: Vec<([u64; 2], u32)> = Vec::new();
        for (g, &(a, b)) in edges.iter().enumerate() {
            for left in [false, true] {
                for &(r, _) in sides(g, left) {
                    if has_holes[ring_poly[r as usize]] {
                        at.push((key(a), r));
                        at.push((key(b), r));
                    }
                }
            }
        }
        at.sort_unstable();
        at.dedup();
        let mut i = 0;
        while i < at.len() {
            let mut e = i;
            while e < at.len() && at[e].0 == at[i].0 {
                e += 1;
            }
            for &(_, r) in &at[i..e] {
                let r = r as usize;
                if ring_hole[r] && !meets[r] {
                    let shell = shell_of[ring_poly[r]] as u32;
                    meets[r] = at[i..e].iter().any(|x| x.1 == shell);
                }
            }
            i = e;
        }
    }
    // 6. The indicator of the repaired region for a winding vector.
    let mut cand: Vec<usize> = Vec::new();
    let mut excl: Vec<usize> = Vec::new();
    let mut inside = |w: &[(u32, i32)]| -> bool {
        cand.clear();
        excl.clear();
        for &(r, _) in w {
            let r = r as usize;
            let p = ring_poly[r];
            if !shell_ok[p] {
                continue;
            }
            if !ring_hole[r] {
                cand.push(p);
            } else if meets[r] {
                excl.push(p);
            } else {
                return true; // a hole apart from its shell is a shell of its own
            }
        }
        cand.iter().any(|p| !excl.contains(p))
    };
    // 7. Kept pieces, directed with the region on their left, chained into loops.
    let mut kept: Vec<(Pt, Pt)> = Vec::new();
    for (g, &(a, b)) in edges.iter().enumerate() {
        let (r, l) = (inside(sides(g, false)), inside(sides(g, true)));
        if l && !r {
            kept.push((a, b));
        } else if r && !l {
            kept.push((b, a));
        }
    }
    let mut out_of: KeyMap<[u64; 2], Vec<usize>> = KeyMap::default();
    for (i, &(u, _)) in kept.iter().enumerate().rev() {
        out_of.entry(key(u)).or_default().push(i);
    }
    let mut used = vec![false; kept.len()];
    let mut loops = Vec::new();
    // Where a chain cannot be closed (an imbalance left by rounding at nearly coincident nodes), it is closed
    // through this fixed point: the open ends' detours through it cancel up to slivers as thin as the gaps.
    let hub = kept.first().map(|e| e.0).unwrap_or((0.0, 0.0));
    for s in 0..kept.len() {
        if used[s] {
            continue;
        }
        let start = key(kept[s].0);
        let mut lp = vec![kept[s].0];
        let mut cur = s;
        loop {
            used[cur] = true;
            let end = kept[cur].1;
            if key(end) == start {
                break;
            }
            lp.push(end);
            let next = out_of.get_mut(&key(end)).and_then(|v| {
                while let Some(&i) = v.last() {
                    if used[i] {
                        v.pop();
                    } else {
                        return Some(i);
                    }
                }
                None
            });
            match next {
                Some(i) => cur = i,
                None => {
                    if key(end) != key(hub) && key(lp[0]) != key(hub) {
                        lp.push(hub);
                    }
                    break;
                }
            }
        }
        if lp.len() >= 3 {
            loops.push(lp);
        }
    }
    loops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(x: f64, y: f64, s: f64) -> Vec<Pt> {
        vec![(x, y), (x + s, y), (x + s, y + s), (x, y + s)]
    }

    fn area(loops: &[Vec<Pt>]) -> f64 {
        loops
            .iter()
            .map(|l| {
                let n = l.len();
                (0..n)
                    .map(|i| l[i].0 * l[(i + 1) % n].1 - l[(i + 1) % n].0 * l[i].1)
                    .sum::<f64>()
                    * 0.5
            })
            .sum()
    }

    fn winding(loops: &[Vec<Pt>], p: Pt) -> i32 {
        let mut w = 0;
        for l in loops {
            let n = l.len();
            for i in 0..n {
                let (a, b) = (l[i], l[(i + 1) % n]);
                if a.1 <= p.1 && b.1 > p.1 && cross(a, b, p) > 0.0 {
                    w += 1;
                } else if a.1 > p.1 && b.1 <= p.1 && cross(a, b, p) < 0.0 {
                    w -= 1;
                }
            }
        }
        w
    }

    #[test]
    fn wide_overlap_masks_equal_the_plain_ones() {
        // Boxes on a coarse grid (so many touch exactly), some empty, some NaN, for every n up to 64.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m) as f64
        };
        if !wide_masks() {
            return; // nothing to compare on this CPU
        }
        let mut hits = 0;
        for case in 0..640 {
            let n = 1 + case % 64;
            let mut cols = [[0.0f64; 64]; 4];
            #[allow(clippy::needless_range_loop)] // four columns filled together
            for j in 0..64 {
                let (a, b) = (rnd(20), rnd(20));
                let (c, d) = (rnd(20), rnd(20));
                (cols[0][j], cols[1][j], cols[2][j], cols[3][j]) =
                    (a.min(b), a.max(b), c.min(d), c.max(d));
                if rnd(40) == 0.0 {
                    cols[(rnd(4)) as usize][j] = f64::NAN;
                }
                if rnd(40) == 0.0 {
                    (cols[0][j], cols[1][j]) = (cols[1][j] + 1.0, cols[0][j]); // empty
                }
            }
            let c = Cols {
                lo: &cols[0],
                hi: &cols[1],
                olo: &cols[2],
                ohi: &cols[3],
            };
            let (mut plain, mut wide) = ([0u64; 64], [1u64; 64]);
            overlap_masks(&c, n, false, &mut plain);
            overlap_masks(&c, n, true, &mut wide);
            assert_eq!(plain[..n], wide[..n], "case {case} n {n}");
            hits += plain.iter().map(|m| m.count_ones()).sum::<u32>();
        }
        assert!(hits > 50_000, "{hits}");
    }

    #[test]
    fn simple_ring_validity_equals_the_general_one() {
        // Random rings of 3..=256 segments: smooth, jagged, with axis-parallel runs, collinear back-tracks,
        // snapped to a coarse grid (touching, crossing, overlapping): the fast path must give the general
        // answer (validity and clearness) for every kappa.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut seen = [0usize; 3]; // invalid, valid and clear, valid not clear
        for case in 0..4000 {
            let n = 3 + (rnd() * 62.0) as usize;
            let (mut x, mut y) = (rnd() * 50.0, rnd() * 50.0);
            let mut ring: Vec<Pt> = Vec::with_capacity(n);
            let style = case % 4;
            let mut angle = 0.0f64;
            for i in 0..n {
                let p = match style {
                    // A star-ish simple polygon, mostly valid.
                    0 => {
                        angle = std::f64::consts::TAU * i as f64 / n as f64;
                        let rad = 10.0 + rnd() * 3.0;
                        (rad * angle.cos(), rad * angle.sin())
                    }
                    1 => {
                        x += (rnd() - 0.5) * 4.0;
                        y += (rnd() - 0.5) * 4.0;
                        ((x * 2.0).round() / 2.0, (y * 2.0).round() / 2.0)
                    }
                    2 => {
                        angle += (rnd() - 0.3) * 0.8;
                        x += angle.cos();
                        y += angle.sin();
                        (x, y)
                    }
                    _ => ((rnd() * 6.0).round(), (rnd() * 6.0).round()),
                };
                if ring.last() != Some(&p) {
                    ring.push(p);
                }
            }
            while ring.len() > 1 && ring.first() == ring.last() {
                ring.pop();
            }
            if ring.len() < 3 {
                continue;
            }
            for kappa in [None, Some(1e-6), Some(0.05), Some(2.0)] {
                let general = validity_with(
                    &[vec![ring.clone()]],
                    kappa,
                    &mut Vec::new(),
                    &mut Vec::new(),
                );
                let fast = simple_ring_validity(&ring, kappa);
                assert_eq!(
                    fast,
                    general,
                    "case {case} kappa {kappa:?} n {}",
                    ring.len()
                );
                seen[match general {
                    (false, _) => 0,
                    (true, true) => 1,
                    (true, false) => 2,
                }] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c > 500), "{seen:?}");
    }

    #[test]
    fn exact_orientation() {
        assert_eq!(orient((0.0, 0.0), (1.0, 0.0), (0.5, 1e-300)), 1);
        assert_eq!(orient((0.1, 0.2), (0.7, 1.4), (0.3, 0.6)), 0);
        // Near-degenerate: the naive determinant of (0.5, 0.5 + 2^-53·2), (12, 12), (24, 24) rounds to 0; the
        // exact one is 1.33e-15 > 0.
        let a = (0.5, 0.500_000_000_000_000_1);
        assert_eq!(orient(a, (12.0, 12.0), (24.0, 24.0)), 1);
        assert_eq!(orient((12.0, 12.0), a, (24.0, 24.0)), -1);
        assert_eq!(orient((0.5, 0.5), (12.0, 12.0), (24.0, 24.0)), 0);
    }

    #[test]
    fn validity_matches_geos_on_the_classic_cases() {
        let sq10 = sq(0.0, 0.0, 10.0);
        let valid = |p: &[Vec<Vec<Pt>>]| is_valid(p);
        assert!(valid(&[vec![sq10.clone()]]));
        assert!(valid(&[vec![sq10.clone(), sq(2.0, 2.0, 2.0)]]));
        // Bow-tie, spike, too few points, self-touch.
        assert!(!valid(&[vec![vec![
            (0.0, 0.0),
            (2.0, 2.0),
            (2.0, 0.0),
            (0.0, 2.0)
        ]]]));
        assert!(!valid(&[vec![vec![(0.0, 0.0), (10.0, 0.0), (5.0, 0.0)]]]));
        assert!(!valid(&[vec![vec![(0.0, 0.0), (10.0, 0.0)]]]));
        assert!(!valid(&[vec![vec![
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (5.0, 5.0),
            (0.0, 10.0),
            (5.0, 5.0)
        ]]]));
        // Hole touching the shell at one point: valid; at two: interior disconnected.
        assert!(valid(&[vec![
            sq10.clone(),
            vec![(0.0, 0.0), (2.0, 1.0), (1.0, 2.0)]
        ]]));
        assert!(valid(&[vec![
            sq10.clone(),
            vec![(5.0, 0.0), (6.0, 1.0), (4.0, 1.0)]
        ]]));
        assert!(!valid(&[vec![
            sq10.clone(),
            vec![(0.0, 0.0), (5.0, 1.0), (10.0, 0.0), (5.0, 2.0)]
        ]]));
        // Hole outside, hole crossing, nested holes, hole sharing an edge.
        assert!(!valid(&[vec![sq10.clone(), sq(20.0, 20.0, 1.0)]]));
        assert!(!valid(&[vec![sq10.clone(), sq(8.0, 8.0, 4.0)]]));
        assert!(!valid(&[vec![
            sq10.clone(),
            sq(1.0, 1.0, 8.0),
            sq(2.0, 2.0, 1.0)
        ]]));
        assert!(!valid(&[vec![
            sq10.clone(),
            vec![(0.0, 0.0), (5.0, 0.0), (5.0, 5.0)]
        ]]));
        // Multipolygon: touching at a point is fine, sharing an edge or overlapping is not; an island in a lake
        // is fine.
        assert!(valid(&[vec![sq(0.0, 0.0, 1.0)], vec![sq(1.0, 1.0, 1.0)]]));
        assert!(!valid(&[vec![sq(0.0, 0.0, 1.0)], vec![sq(1.0, 0.0, 1.0)]]));
        assert!(!valid(&[vec![sq(0.0, 0.0, 2.0)], vec![sq(1.0, 1.0, 2.0)]]));
        assert!(!valid(&[vec![sq(0.0, 0.0, 4.0)], vec![sq(1.0, 1.0, 1.0)]]));
        assert!(valid(&[
            vec![sq10.clone(), sq(1.0, 1.0, 8.0)],
            vec![sq(2.0, 2.0, 1.0)]
        ]));
        // Repeated consecutive vertices are removed before this, a vertex on a straight line is fine.
        assert!(valid(&[vec![vec![
            (0.0, 0.0),
            (5.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0)
        ]]]));
    }

    #[test]
    fn hole_crossing_its_shell_is_subtracted() {
        // GEOS: POLYGON((0 0,2 0,2 2,0 2,0 0),(1 1,3 1,3 3,1 3,1 1)) → area 3.
        let p = vec![vec![sq(0.0, 0.0, 2.0), sq(1.0, 1.0, 2.0)]];
        assert!(!is_valid(&p));
        let l = repair(&p);
        assert!((area(&l) - 3.0).abs() < 1e-12, "{}", area(&l));
        assert_eq!(winding(&l, (0.5, 0.5)), 1);
        assert_eq!(winding(&l, (1.5, 1.5)), 0);
        assert_eq!(winding(&l, (2.5, 2.5)), 0);
    }

    #[test]
    fn overlapping_parts_are_united_and_far_holes_become_shells() {
        let p = vec![vec![sq(0.0, 0.0, 2.0)], vec![sq(1.0, 1.0, 2.0)]];
        let l = repair(&p);
        assert!((area(&l) - 7.0).abs() < 1e-12);
        assert_eq!(winding(&l, (1.5, 1.5)), 1);
        // A hole wholly outside its shell: area 101.
        let p = vec![vec![sq(0.0, 0.0, 10.0), sq(20.0, 20.0, 1.0)]];
        assert!((area(&repair(&p)) - 101.0).abs() < 1e-12);
        // A hole outside but touching the shell at a vertex "meets" it: subtracted, i.e. nothing added (GEOS).
        let p = vec![vec![sq(0.0, 0.0, 10.0), sq(10.0, 10.0, 1.0)]];
        assert!((area(&repair(&p)) - 100.0).abs() < 1e-12);
    }

    #[test]
    fn bowtie_and_curls() {
        let l = repair(&[vec![vec![(0.0, 0.0), (2.0, 2.0), (2.0, 0.0), (0.0, 2.0)]]]);
        assert!((area(&l) - 2.0).abs() < 1e-12);
        // A curl winding twice round the middle square counts it once; a loop wound the other way inside
        // the shell is left out.
        let twice = vec![
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (0.0, 0.0),
            (2.0, 2.0),
            (8.0, 2.0),
            (8.0, 8.0),
            (2.0, 8.0),
            (2.0, 2.0),
        ];
        let l = repair(&[vec![twice]]);
        assert!((area(&l) - 100.0).abs() < 1e-9, "{}", area(&l));
        assert_eq!(winding(&l, (5.0, 5.0)), 1);
        let inverted = vec![
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (0.0, 0.0),
            (2.0, 2.0),
            (2.0, 8.0),
            (8.0, 8.0),
            (8.0, 2.0),
            (2.0, 2.0),
        ];
        let l = repair(&[vec![inverted]]);
        assert!((area(&l) - 64.0).abs() < 1e-9, "{}", area(&l));
        assert_eq!(winding(&l, (5.0, 5.0)), 0);
        // A pentagram: the centre winds twice, kept once (GEOS area 112.257 for radius 10).
        let star: Vec<Pt> = (0..5)
            .map(|k| {
                let t = (90.0 + 144.0 * k as f64).to_radians();
                (10.0 * t.cos(), 10.0 * t.sin())
            })
            .collect();
        let l = repair(&[vec![star]]);
        assert!(
            (area(&l) - 112.256_994_144_896_5).abs() < 1e-6,
            "{}",
            area(&l)
        );
    }

    #[test]
    fn duplicate_rings_spikes_and_collapsed_shells() {
        // The same ring twice as two parts: their union, once.
        let p = vec![vec![sq(0.0, 0.0, 3.0)], vec![sq(0.0, 0.0, 3.0)]];
        assert!(!is_valid(&p));
        let l = repair(&p);
        assert!((area(&l) - 9.0).abs() < 1e-12);
        assert_eq!(winding(&l, (1.0, 1.0)), 1);
        // A hole equal to its shell: nothing left.
        let p = vec![vec![sq(0.0, 0.0, 3.0), sq(0.0, 0.0, 3.0)]];
        assert!(area(&repair(&p)).abs() < 1e-12);
        // A spike out of a square: the square.
        let p = vec![vec![vec![
            (0.0, 0.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (1.0, 5.0),
            (1.0, 1.0),
            (0.0, 1.0),
        ]]];
        assert!(!is_valid(&p));
        assert!((area(&repair(&p)) - 1.0).abs() < 1e-12);
        // A collapsed shell drops its polygon, holes included, even a hole far away.
        let p = vec![
            vec![
                vec![(0.0, 0.0), (5.0, 0.0), (2.0, 0.0)],
                sq(20.0, 20.0, 1.0),
            ],
            vec![sq(40.0, 40.0, 2.0)],
        ];
        assert!((area(&repair(&p)) - 4.0).abs() < 1e-12);
    }
}
