//! Spatial statistics on a neighbour graph (CSR, as built by [`crate::neighbours::grid_neighbours`]):
//! k-ring smoothing, local Getis–Ord Gi / Gi*, local and global Moran's I, and conditional-permutation
//! inference.
//!
//! Every statistic is computed per location from its own row of the graph in a fixed order, and global sums
//! are sequential, so results do not depend on the number of threads.
//!
//! ## Permutations
//! Conditional randomisation (Anselin 1995): location i keeps its own value and its k_i neighbour values are
//! replaced by k_i values drawn without replacement from the other n − 1 locations. Draw r of location i uses
//! its own counter-based generator: a wyrand stream (Wang Yi's generator used as a counter-based hash: each
//! output is a 64×64→128-bit multiply of its own Weyl-sequence state) whose state starts at K + (r + 1)·D,
//! where K is a SplitMix64 hash (Steele, Lea & Flood 2014) of (seed, cell id of i) and D a fixed odd constant,
//! so the draws of a location read distinct states. The k_i others are drawn as a tuple of
//! uniform integers (Lemire's (2019) multiply-shift with rejection, exact), the whole tuple being drawn again
//! if a component is rejected or it repeats a value (probability ≈ k²/2n): every ordered tuple of distinct
//! others is equally likely, so the drawn set is a uniform
//! k_i-subset, as a partial Fisher–Yates shuffle would give, without an n-sized buffer. (For k_i > 24 a bitset
//! of the drawn values replaces the pairwise check.) The indices of a block of draws are generated first and
//! the values gathered afterwards, so that the memory loads overlap; the gather reads the values rounded to
//! f32 (half the memory) and sums again in f64 only the draws whose sum lies within the rounding bound of a
//! comparison, so the counts are those of the exact computation. The other locations are addressed in the
//! order of their cell ids, so the draws depend on the set of (cell, value) pairs only: not on the row order,
//! the chunking or the thread count. Nothing of size n × permutations is stored: each location keeps two
//! counters.
//!
//! For Gi, Gi* and local Moran's I (binary or row-standardised weights: all weights of a row are equal) the
//! simulated statistic is a monotone function of the sum S of the drawn values, and the observed one the
//! same function of the sum L of the actual neighbour values, so the kernel compares sums: it counts
//! #(S ≥ L) and #(S ≤ L) and returns the smaller, the "folded" count of esda's `crand` (alternative
//! "directed", the default of esda 2.9). Sums that agree to within the rounding of a k_i-term sum are ties and
//! count on both sides (esda counts a tie as larger only, which makes a statistic that every draw ties —
//! e.g. Iᵢ = 0 — look maximally significant). For a monotone *decreasing* function (local Moran with zᵢ < 0)
//! the two counts swap, and the minimum is unchanged.
//!
//! References: J. K. Ord, A. Getis (1995), "Local spatial autocorrelation statistics: distributional issues
//! and an application", Geographical Analysis 27(4):286–306; A. Getis, J. K. Ord (1992), "The analysis of
//! spatial association by use of distance statistics", Geographical Analysis 24(3):189–206; L. Anselin (1995),
//! "Local indicators of spatial association — LISA", Geographical Analysis 27(2):93–115; A. D. Cliff,
//! J. K. Ord (1981), Spatial Processes (the moments of global Moran's I); S. J. Rey, L. Anselin (2007) and
//! esda 2.9 (`G_Local`, `Moran_Local`, `Moran`, `crand`).

use rayon::prelude::*;

use crate::error::{HlError, Result, RowList};

/// Locations per parallel work unit (the cancellation flag is checked once per unit).
const LOC_CHUNK: usize = 1024;

/// A borrowed CSR neighbour graph: the neighbours of row `i` are `index[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Copy)]
pub struct Graph<'a> {
    pub offsets: &'a [u64],
    pub index: &'a [u32],
}

impl<'a> Graph<'a> {
    /// Check the arrays describe a graph on `n` rows (offsets non-decreasing from 0 to `index.len()`, every
    /// neighbour index below `n`).
    pub fn new(offsets: &'a [u64], index: &'a [u32], n: usize) -> Result<Self> {
        if offsets.len() != n + 1 {
            return Err(HlError::LengthMismatch {
                arg: "offsets".into(),
                got: offsets.len(),
                other: "values + 1".into(),
                expected: n + 1,
            });
        }
        let ok = offsets.first() == Some(&0)
            && offsets.windows(2).all(|w| w[0] <= w[1])
            && offsets.last().copied() == Some(index.len() as u64)
            && index.iter().all(|&j| (j as usize) < n);
        if !ok {
            return Err(HlError::Unsupported {
                arg: "graph".into(),
                message:
                    "malformed CSR arrays (offsets must run from 0 to len(index), indices below n)"
                        .into(),
            });
        }
        Ok(Self { offsets, index })
    }

    pub fn n(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    pub fn row(&self, i: usize) -> &'a [u32] {
        // offsets are validated in `new`: in range and non-decreasing
        &self.index[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    #[inline]
    pub fn degree(&self, i: usize) -> usize {
        (self.offsets[i + 1] - self.offsets[i]) as usize
    }

    /// Sum of the neighbours' values of row `i`, in index order.
    #[inline]
    fn neighbour_sum(&self, i: usize, x: &[f64]) -> f64 {
        self.row(i).iter().map(|&j| x[j as usize]).sum()
    }
}

/// Weights of a row: binary (1 for each neighbour) or row-standardised (1/kᵢ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    Binary,
    Row,
}

/// Values must be finite; the error names the rows.
pub fn check_finite(arg: &str, x: &[f64]) -> Result<()> {
    let bad = crate::cells::rows_where(x, |v| !v.is_finite());
    if !bad.is_empty() {
        return Err(HlError::InvalidValues {
            arg: arg.into(),
            rows: bad,
            expected: "finite numbers (no NaN, no infinity)".into(),
        });
    }
    Ok(())
}

/// Sum with Neumaier's compensation, sequential (the same bits for any thread count).
fn sum(x: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for v in x {
        let t = s + v;
        if s.abs() >= v.abs() {
            c += (s - t) + v;
        } else {
            c += (v - t) + s;
        }
        s = t;
    }
    s + c
}

/// Mean and Σ(x − mean)² (two passes, compensated).
fn mean_ss(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = sum(x.iter().copied()) / n;
    let ss = sum(x.iter().map(|&v| (v - mean) * (v - mean)));
    (mean, ss)
}

fn check_n(arg: &str, n: usize, min: usize, what: &str) -> Result<()> {
    if n < min {
        return Err(HlError::Unsupported {
            arg: arg.into(),
            message: format!("{n} rows; {what} needs at least {min}"),
        });
    }
    Ok(())
}

fn check_not_constant(arg: &str, ss: f64, n: usize, first: f64) -> Result<()> {
    if ss.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(HlError::Unsupported {
            arg: arg.into(),
            message: format!(
                "all {n} values are equal ({first}): zero variance, the statistic is undefined"
            ),
        });
    }
    Ok(())
}

/// The k-ring mean of each row: over the row itself and its neighbours, weighted by `weight` when given
/// (Σ wⱼxⱼ / Σ wⱼ; NaN where Σ wⱼ = 0). Returns (mean, Σ w or the number of cells).
pub fn smooth(graph: Graph<'_>, x: &[f64], weight: Option<&[f64]>) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = graph.n();
    crate::error::check_len("values", x.len(), "cells", n)?;
    check_finite("values", x)?;
    if let Some(w) = weight {
        crate::error::check_len("weight", w.len(), "cells", n)?;
        let bad = crate::cells::rows_where(w, |v| !(v.is_finite() && v >= 0.0));
        if !bad.is_empty() {
            return Err(HlError::InvalidValues {
                arg: "weight".into(),
                rows: bad,
                expected: "finite numbers >= 0".into(),
            });
        }
    }
    let mut mean = vec![0.0; n];
    let mut total = vec![0.0; n];
    mean.par_chunks_mut(LOC_CHUNK)
        .zip(total.par_chunks_mut(LOC_CHUNK))
        .enumerate()
        .try_for_each(|(c, (m, t))| {
            crate::cancel::check()?;
            for (o, (mo, to)) in m.iter_mut().zip(t.iter_mut()).enumerate() {
                let i = c * LOC_CHUNK + o;
                let (mut sx, mut sw) = match weight {
                    Some(w) => (w[i] * x[i], w[i]),
                    None => (x[i], 1.0),
                };
                for &j in graph.row(i) {
                    let j = j as usize;
                    let wj = weight.map_or(1.0, |w| w[j]);
                    sx += wj * x[j];
                    sw += wj;
                }
                *mo = if sw > 0.0 { sx / sw } else { f64::NAN };
                *to = sw;
            }
            Ok(())
        })?;
    Ok((mean, total))
}

/// Local Getis–Ord statistics with binary weights (NaN for isolated rows).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalG {
    pub g: Vec<f64>,
    pub expected: Vec<f64>,
    pub variance: Vec<f64>,
    pub z: Vec<f64>,
}

/// Getis–Ord Gi (`star = false`) or Gi* (`star = true`, the location counts as its own neighbour, weight 1)
/// with binary weights, their expectations, variances and z-scores under randomisation.
///
/// Gi* = Σⱼ∈N(i)∪{i} xⱼ / Σⱼ xⱼ, E = (kᵢ + 1)/n, V = (kᵢ+1)(n − kᵢ − 1)/(n − 1) · s²/(n² x̄²) with x̄ and
/// s² the mean and (population) variance of all n values (Ord & Getis 1995, eq. 8–9; esda `G_Local`). Gi
/// (Getis & Ord 1992) excludes xᵢ: Gi = Σⱼ∈N(i) xⱼ / Σⱼ≠ᵢ xⱼ, with n − 1 and the mean and variance of the
/// other values in place of n, x̄ and s². esda computes s² as mean of squares − squared mean; here it is
/// Σ(x − x̄)²/n (the same number without the cancellation).
pub fn local_g(graph: Graph<'_>, x: &[f64], star: bool) -> Result<LocalG> {
    let n = graph.n();
    crate::error::check_len("values", x.len(), "cells", n)?;
    check_finite("values", x)?;
    check_n("values", n, 3, "Gi")?;
    let (mean, ss) = mean_ss(x);
    check_not_constant("values", ss, n, x[0])?;
    let total = sum(x.iter().copied());
    let nf = n as f64;
    let mut out = LocalG {
        g: vec![0.0; n],
        expected: vec![0.0; n],
        variance: vec![0.0; n],
        z: vec![0.0; n],
    };
    out.g
        .par_chunks_mut(LOC_CHUNK)
        .zip(out.expected.par_chunks_mut(LOC_CHUNK))
        .zip(out.variance.par_chunks_mut(LOC_CHUNK))
        .zip(out.z.par_chunks_mut(LOC_CHUNK))
        .enumerate()
        .try_for_each(|(c, (((g, e), v), z))| {
            crate::cancel::check()?;
            for o in 0..g.len() {
                let i = c * LOC_CHUNK + o;
                let k = graph.degree(i);
                if k == 0 {
                    (g[o], e[o], v[o], z[o]) = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
                    continue;
                }
                let nb = graph.neighbour_sum(i, x);
                // (N, cardinality, statistic, mean and variance of the N values it is drawn from)
                let (big_n, card, stat, m, var) = if star {
                    (nf, k as f64 + 1.0, (nb + x[i]) / total, mean, ss / nf)
                } else {
                    let d = x[i] - mean;
                    let others = nf - 1.0;
                    let m_i = (total - x[i]) / others;
                    let ss_i = (ss - d * d * nf / others).max(0.0);
                    (others, k as f64, nb / (total - x[i]), m_i, ss_i / others)
                };
                let ev = card / big_n;
                let vv = card * (big_n - card) / (big_n - 1.0) / (big_n * big_n) * (var / (m * m));
                g[o] = stat;
                e[o] = ev;
                v[o] = vv;
                z[o] = (stat - ev) / vv.sqrt();
            }
            Ok(())
        })?;
    Ok(out)
}

/// Local Moran statistics (NaN for isolated rows; `quadrant` 0 for them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalMoran {
    /// Iᵢ = (n − 1) zᵢ lagᵢ / Σ z² (esda's `Is`; = (n − 1)/n × Anselin's zᵢ lagᵢ / m₂).
    pub i: Vec<f64>,
    pub expected: Vec<f64>,
    pub variance: Vec<f64>,
    pub z: Vec<f64>,
    /// Spatial lag of the standardised values, Σⱼ wᵢⱼ zⱼ.
    pub lag: Vec<f64>,
    /// 1 HH (zᵢ > 0, lag > 0), 2 LH, 3 LL, 4 HL (esda's `q`), 0 isolated.
    pub quadrant: Vec<u8>,
    /// The standardised values zᵢ = (xᵢ − x̄)/s (population s), as esda.
    pub zvalues: Vec<f64>,
}

/// Local Moran's Iᵢ (Anselin 1995) with binary or row-standardised weights: the statistic as esda's
/// `Moran_Local` (`Is`), the expectation and variance under total randomisation as esda (`EI`, `VI`:
/// E = −wᵢ/(n − 1), V = wᵢ₍₂₎(n − b₂)/(n − 1) + (wᵢ² − wᵢ₍₂₎)(2b₂ − n)/((n − 1)(n − 2)) − E², with wᵢ = Σⱼ wᵢⱼ,
/// wᵢ₍₂₎ = Σⱼ wᵢⱼ², b₂ = m₄/m₂²). These are Anselin's moments of zᵢ lagᵢ / m₂, which is n/(n − 1) × esda's
/// `Is`; the z-score standardises that statistic, so that statistic and moments agree:
/// zᵢ = (n/(n − 1) Iᵢ − E)/√V. (esda reports no analytic z for `Moran_Local`.)
pub fn local_moran(graph: Graph<'_>, x: &[f64], transform: Transform) -> Result<LocalMoran> {
    let n = graph.n();
    crate::error::check_len("values", x.len(), "cells", n)?;
    check_finite("values", x)?;
    check_n("values", n, 3, "local Moran's I")?;
    let (mean, ss) = mean_ss(x);
    check_not_constant("values", ss, n, x[0])?;
    let nf = n as f64;
    let sd = (ss / nf).sqrt();
    let zv: Vec<f64> = x.par_iter().map(|&v| (v - mean) / sd).collect();
    let den = sum(zv.iter().map(|&v| v * v));
    let m2 = den / nf;
    let m4 = sum(zv.iter().map(|&v| v * v * v * v)) / nf;
    let b2 = m4 / (m2 * m2);
    let n1 = nf - 1.0;
    let mut out = LocalMoran {
        i: vec![0.0; n],
        expected: vec![0.0; n],
        variance: vec![0.0; n],
        z: vec![0.0; n],
        lag: vec![0.0; n],
        quadrant: vec![0; n],
        zvalues: Vec::new(),
    };
    out.i
        .par_chunks_mut(LOC_CHUNK)
        .zip(out.expected.par_chunks_mut(LOC_CHUNK))
        .zip(out.variance.par_chunks_mut(LOC_CHUNK))
        .zip(out.z.par_chunks_mut(LOC_CHUNK))
        .zip(out.lag.par_chunks_mut(LOC_CHUNK))
        .zip(out.quadrant.par_chunks_mut(LOC_CHUNK))
        .enumerate()
        .try_for_each(|(c, (((((ii, e), v), z), lag), q))| {
            crate::cancel::check()?;
            for o in 0..ii.len() {
                let i = c * LOC_CHUNK + o;
                let k = graph.degree(i);
                if k == 0 {
                    (ii[o], e[o], v[o], z[o], lag[o]) =
                        (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN);
                    q[o] = 0;
                    continue;
                }
                let kf = k as f64;
                let (w, w2, l) = match transform {
                    Transform::Binary => (kf, kf, graph.neighbour_sum(i, &zv)),
                    Transform::Row => (1.0, 1.0 / kf, graph.neighbour_sum(i, &zv) / kf),
                };
                let stat = n1 * zv[i] * l / den;
                let ev = -w / n1;
                let vv = w2 * (nf - b2) / n1 + (w * w - w2) * (2.0 * b2 - nf) / (n1 * (nf - 2.0))
                    - ev * ev;
                ii[o] = stat;
                e[o] = ev;
                v[o] = vv;
                z[o] = (stat * nf / n1 - ev) / vv.sqrt();
                lag[o] = l;
                q[o] = match (zv[i] > 0.0, l > 0.0) {
                    (true, true) => 1,
                    (false, true) => 2,
                    (false, false) => 3,
                    (true, false) => 4,
                };
            }
            Ok(())
        })?;
    out.zvalues = zv;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------
// Counter-based random numbers
// ---------------------------------------------------------------------------------------------------------

const DRAW_MUL: u64 = 0xD1B5_4A32_D192_ED03;
const SALT_LOCAL: u64 = 0x6A09_E667_F3BC_C908;
const SALT_GLOBAL: u64 = 0xBB67_AE85_84CA_A73B;

/// SplitMix64's finaliser (a bijection of u64 with full avalanche).
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of one location's generators: a hash of (seed, cell).
#[inline]
fn location_key(seed: u64, cell: u64) -> u64 {
    mix(mix(seed ^ SALT_LOCAL) ^ cell)
}

/// The random stream of draw `draw` of a location (or of a global permutation): its state starts at
/// key + (draw + 1)·D (the key is already a SplitMix64 hash; no second hash per draw, which would sit on the
/// critical path of every draw) and advances as wyrand (Wang Yi's 64-bit generator: a Weyl sequence through
/// one 64×64→128-bit multiply, which passes BigCrush and PractRand). Draws' states are distinct unless
/// (r − r′)·D ≡ j·γ (mod 2⁶⁴) for small r − r′ and j, which these constants avoid.
struct Stream {
    state: u64,
}

impl Stream {
    #[inline]
    fn new(key: u64, draw: u64) -> Self {
        Self {
            state: key.wrapping_add(draw.wrapping_add(1).wrapping_mul(DRAW_MUL)),
        }
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xA076_1D64_78BD_642F);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xE703_7ED1_A0B4_28DB);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform integer in 0..range (range ≥ 1), exactly (Lemire 2019, with rejection).
    #[inline]
    fn below(&mut self, range: u32) -> u32 {
        Bounded::new(range).draw(self)
    }
}

/// Uniform draws from 0..range (1 ≤ range < 2³²) by Lemire's multiply-shift on 32 random bits (each 64-bit
/// output of the stream gives two) with the rejection threshold precomputed (2³² mod range), so every value is
/// exactly equally likely.
#[derive(Clone, Copy)]
struct Bounded {
    range: u64,
    threshold: u32,
}

impl Bounded {
    #[inline]
    fn new(range: u32) -> Self {
        let range = range.max(1);
        Self {
            range: u64::from(range),
            threshold: range.wrapping_neg() % range,
        }
    }

    /// One value from 32 random bits, or None (rejected: draw again).
    #[inline]
    fn map(&self, bits: u32) -> Option<u32> {
        let m = u64::from(bits) * self.range;
        ((m as u32) >= self.threshold).then_some((m >> 32) as u32)
    }

    #[inline]
    fn draw(&self, s: &mut Stream) -> u32 {
        loop {
            let r = s.next_u64();
            if let Some(v) = self.map(r as u32) {
                return v;
            }
            if let Some(v) = self.map((r >> 32) as u32) {
                return v;
            }
        }
    }

    /// Fill `out` with values v mapped to v + (v ≥ skip) (the values other than `skip` in 0..=range), two
    /// from each 64-bit output.
    #[inline(always)]
    fn fill_skipping(&self, s: &mut Stream, out: &mut [u32], skip: u32) {
        let mut i = 0;
        let n = out.len();
        while i < n {
            let r = s.next_u64();
            if let Some(v) = self.map(r as u32) {
                out[i] = v + u32::from(v >= skip);
                i += 1;
            }
            if i < n {
                if let Some(v) = self.map((r >> 32) as u32) {
                    out[i] = v + u32::from(v >= skip);
                    i += 1;
                }
            }
        }
    }
}

/// A uniformly random k-subset of 0..range (k ≤ range) into `out` (length k), drawn one element at a time,
/// repeats drawn again. `seen` is a bitset of `range` bits, all clear, used (and cleared again) for large k.
#[inline(always)]
fn sample_distinct(stream: &mut Stream, b: Bounded, out: &mut [u32], seen: &mut [u64], skip: u32) {
    if out.len() <= 24 {
        // Draw the whole tuple, then check it for repeats; a tuple with a repeat (probability about k²/2n) is
        // drawn again whole, which keeps every tuple of distinct values equally likely.
        loop {
            b.fill_skipping(stream, out, skip);
            if !has_repeat(out) {
                break;
            }
        }
    } else {
        for slot in out.iter_mut() {
            *slot = loop {
                let t = b.draw(stream);
                let t = t + u32::from(t >= skip);
                let (w, bit) = ((t >> 6) as usize, 1u64 << (t & 63));
                if seen[w] & bit == 0 {
                    seen[w] |= bit;
                    break t;
                }
            };
        }
        for &t in out.iter() {
            seen[(t >> 6) as usize] = 0;
        }
    }
}

/// Whether `v` holds a value twice (pairwise comparisons with an early exit: repeats are rare, so every branch
/// is predicted).
#[inline(always)]
fn has_repeat(v: &[u32]) -> bool {
    for j in 1..v.len() {
        let t = v[j];
        for &u in &v[..j] {
            if u == t {
                return true;
            }
        }
    }
    false
}

/// The values of the other locations in cell order: exact, and rounded to f32 for the gathers.
struct Values<'a> {
    exact: &'a [f64],
    rounded: &'a [f32],
}

/// One location's permutation test: its generator key, its own position in cell order (skipped by the
/// draws), the comparison bounds and the rounding bound of a rounded sum.
struct Location {
    key: u64,
    own: u32,
    lo: f64,
    hi: f64,
    err: f64,
}

impl Location {
    /// Count one drawn tuple: its f32 sum decides unless it lies within the rounding bound of a comparison
    /// bound, when the exact sum does.
    #[inline(always)]
    fn tally(&self, v: &Values<'_>, draw: &[u32], ge: &mut u32, le: &mut u32) {
        let s: f64 = draw.iter().map(|&t| f64::from(v.rounded[t as usize])).sum();
        if (s - self.lo).abs() <= self.err || (s - self.hi).abs() <= self.err {
            let e: f64 = draw.iter().map(|&t| v.exact[t as usize]).sum();
            *ge += u32::from(e >= self.lo);
            *le += u32::from(e <= self.hi);
        } else {
            *ge += u32::from(s >= self.lo);
            *le += u32::from(s <= self.hi);
        }
    }

    /// (#(S ≥ L), #(S ≤ L)) for a location with exactly K neighbours: the tuple is drawn whole without
    /// branches (see [`draw_tuple`]) and the sums unrolled.
    #[inline(always)]
    fn count_fixed<const K: usize>(
        &self,
        v: &Values<'_>,
        b: Bounded,
        permutations: u32,
    ) -> (u32, u32) {
        let mut buf = [[0u32; K]; DRAW_BLOCK];
        let (mut ge, mut le) = (0u32, 0u32);
        let mut r0 = 0u32;
        while r0 < permutations {
            let block = (permutations - r0).min(DRAW_BLOCK as u32) as usize;
            for (d, draw) in buf[..block].iter_mut().enumerate() {
                let mut stream = Stream::new(self.key, u64::from(r0) + d as u64);
                draw_tuple(&mut stream, b, self.own, draw);
            }
            for draw in &buf[..block] {
                self.tally(v, draw, &mut ge, &mut le);
            }
            r0 += block as u32;
        }
        (ge, le)
    }

    /// The same for any number of neighbours (`buf` holds DRAW_BLOCK·k indices; `seen` is the bitset of
    /// [`sample_distinct`] for k > 24).
    fn count_any(
        &self,
        v: &Values<'_>,
        b: Bounded,
        permutations: u32,
        k: usize,
        buf: &mut [u32],
        seen: &mut [u64],
    ) -> (u32, u32) {
        let (mut ge, mut le) = (0u32, 0u32);
        let mut r0 = 0u32;
        while r0 < permutations {
            let block = (permutations - r0).min(DRAW_BLOCK as u32) as usize;
            for (d, draw) in buf[..block * k].chunks_exact_mut(k).enumerate() {
                let mut stream = Stream::new(self.key, u64::from(r0) + d as u64);
                sample_distinct(&mut stream, b, draw, seen, self.own);
            }
            for draw in buf[..block * k].chunks_exact(k) {
                self.tally(v, draw, &mut ge, &mut le);
            }
            r0 += block as u32;
        }
        (ge, le)
    }
}

/// A uniformly random K-tuple of distinct values of 0..=range other than `skip`, for small K: all K values
/// are mapped from the stream (two per 64-bit output, Lemire's multiply-shift) and checked for rejection and
/// repeats without branches; a tuple with a rejected component or a repeat is drawn again whole (rejection
/// sampling of the tuple: every tuple of distinct values is equally likely).
#[inline(always)]
fn draw_tuple<const K: usize>(s: &mut Stream, b: Bounded, skip: u32, out: &mut [u32; K]) {
    loop {
        let mut bad = false;
        let mut j = 0;
        while j < K {
            let r = s.next_u64();
            let m = u64::from(r as u32) * b.range;
            bad |= (m as u32) < b.threshold;
            let t = (m >> 32) as u32;
            out[j] = t + u32::from(t >= skip);
            if j + 1 < K {
                let m = (r >> 32) * b.range;
                bad |= (m as u32) < b.threshold;
                let t = (m >> 32) as u32;
                out[j + 1] = t + u32::from(t >= skip);
            }
            j += 2;
        }
        for a in 1..K {
            for c in 0..a {
                bad |= out[a] == out[c];
            }
        }
        if !bad {
            return;
        }
    }
}

/// Draws per block: their indices are generated before their values are gathered.
const DRAW_BLOCK: usize = 32;

/// Positions of the rows in the order of their cell ids, and the values in that order.
fn cell_order(cells: &[u64], x: &[f64]) -> (Vec<u32>, Vec<f64>) {
    let mut order: Vec<(u64, u32)> = cells
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i as u32))
        .collect();
    order.par_sort_unstable();
    let mut pos = vec![0u32; cells.len()];
    let mut sorted = Vec::with_capacity(cells.len());
    for (p, &(_, row)) in order.iter().enumerate() {
        pos[row as usize] = p as u32;
        sorted.push(x[row as usize]);
    }
    (pos, sorted)
}

/// Marker for rows without a permutation count (isolated).
pub const NO_COUNT: u32 = u32::MAX;

/// Conditional-permutation counts: for each row i with kᵢ ≥ 1 neighbours, over `permutations` draws of kᵢ
/// values from the other n − 1 rows (without replacement), min(#(S ≥ L), #(S ≤ L)) where S is the sum of the
/// drawn values and L the sum of the actual neighbours' values (ties within rounding count on both sides).
/// The pseudo p-value is (count + 1)/(permutations + 1). Isolated rows get [`NO_COUNT`].
///
/// `cells` must be distinct (they key the generators); draws are keyed by (seed, cell, draw).
pub fn permutation_counts(
    graph: Graph<'_>,
    x: &[f64],
    cells: &[u64],
    seed: u64,
    permutations: u32,
) -> Result<Vec<u32>> {
    let n = graph.n();
    crate::error::check_len("values", x.len(), "cells", n)?;
    crate::error::check_len("cells", cells.len(), "values", n)?;
    check_finite("values", x)?;
    if u32::try_from(n).is_err() || permutations == NO_COUNT {
        return Err(HlError::Unsupported {
            arg: "permutations".into(),
            message: "too many rows or permutations".into(),
        });
    }
    let (pos, xs) = cell_order(cells, x);
    let max_abs = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // The values rounded to f32 (half the memory, so the random gathers hit the caches more often). A sum of
    // k of them is within k·max|x|·2⁻²⁴ (plus f64 rounding) of the exact sum; only draws whose rounded sum
    // falls that close to the comparison bounds are summed again exactly, so the counts are those of the exact
    // computation, bit for bit.
    let xs32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    let values = Values {
        exact: &xs,
        rounded: &xs32,
    };
    let others = Bounded::new((n as u32).saturating_sub(1));
    let max_k = (0..n).map(|i| graph.degree(i)).max().unwrap_or(0);
    let mut counts = vec![NO_COUNT; n];
    counts
        .par_chunks_mut(LOC_CHUNK)
        .enumerate()
        .try_for_each(|(c, out)| {
            crate::cancel::check()?;
            let mut buf = vec![0u32; DRAW_BLOCK * max_k];
            let mut seen = if max_k > 24 {
                vec![0u64; n.div_ceil(64)]
            } else {
                Vec::new()
            };
            for (o, slot) in out.iter_mut().enumerate() {
                let i = c * LOC_CHUNK + o;
                let k = graph.degree(i);
                if k == 0 {
                    continue;
                }
                let observed = graph.neighbour_sum(i, x);
                let tol = 4.0 * f64::EPSILON * (k as f64 + 1.0) * max_abs;
                let loc = Location {
                    key: location_key(seed, cells[i]),
                    own: pos[i],
                    lo: observed - tol,
                    hi: observed + tol,
                    err: (k as f64) * max_abs * 6.0e-8 + tol,
                };
                let (ge, le) = match k {
                    1 => loc.count_fixed::<1>(&values, others, permutations),
                    2 => loc.count_fixed::<2>(&values, others, permutations),
                    3 => loc.count_fixed::<3>(&values, others, permutations),
                    4 => loc.count_fixed::<4>(&values, others, permutations),
                    5 => loc.count_fixed::<5>(&values, others, permutations),
                    6 => loc.count_fixed::<6>(&values, others, permutations),
                    18 => loc.count_fixed::<18>(&values, others, permutations),
                    _ => loc.count_any(&values, others, permutations, k, &mut buf, &mut seen),
                };
                *slot = ge.min(le);
            }
            Ok(())
        })?;
    Ok(counts)
}

/// Global Moran's I and its inference.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GlobalMoran {
    pub i: f64,
    pub expected: f64,
    pub variance_norm: f64,
    pub variance_rand: f64,
    pub z_norm: f64,
    pub z_rand: f64,
    /// min(#(I_sim ≥ I), #(I_sim ≤ I)) over the permutations (0 without permutations).
    pub count: u32,
    pub mean_sim: f64,
    pub sd_sim: f64,
    pub s0: f64,
}

/// Global Moran's I = n/S₀ · Σᵢ zᵢ Σⱼ wᵢⱼ zⱼ / Σ zᵢ² (z = x − x̄), its expectation −1/(n − 1) and its variances
/// under normality and randomisation (Cliff & Ord 1981; esda `Moran`), and `permutations` full random
/// permutations of the values (each from a generator keyed by (seed, permutation)).
pub fn global_moran(
    graph: Graph<'_>,
    x: &[f64],
    transform: Transform,
    permutations: u32,
    seed: u64,
) -> Result<GlobalMoran> {
    let n = graph.n();
    crate::error::check_len("values", x.len(), "cells", n)?;
    check_finite("values", x)?;
    check_n("values", n, 4, "global Moran's I")?;
    let (mean, ss) = mean_ss(x);
    check_not_constant("values", ss, n, x[0])?;
    if graph.index.is_empty() {
        return Err(HlError::Unsupported {
            arg: "cells".into(),
            message: "no cell has a neighbour within k: global Moran's I is undefined".into(),
        });
    }
    let z: Vec<f64> = x.iter().map(|&v| v - mean).collect();
    let nf = n as f64;
    let w = |i: usize| -> f64 {
        match transform {
            Transform::Binary => 1.0,
            Transform::Row => match graph.degree(i) {
                0 => 0.0,
                d => 1.0 / d as f64,
            },
        }
    };
    // S0, S1, S2 (the graph is symmetric: wⱼᵢ is row j's weight)
    let s0 = sum((0..n).map(|i| w(i) * graph.degree(i) as f64));
    let s1 = 0.5
        * sum((0..n).flat_map(|i| {
            graph.row(i).iter().map(move |&j| {
                let t = w(i) + w(j as usize);
                t * t
            })
        }));
    let s2 = sum((0..n).map(|i| {
        let out = w(i) * graph.degree(i) as f64;
        let inn: f64 = graph.row(i).iter().map(|&j| w(j as usize)).sum();
        (out + inn) * (out + inn)
    }));
    let stat = |v: &[f64]| -> f64 {
        let num = sum((0..n).map(|i| {
            if graph.degree(i) == 0 {
                0.0
            } else {
                v[i] * w(i) * graph.neighbour_sum(i, v)
            }
        }));
        nf / s0 * num / ss
    };
    let i_obs = stat(&z);
    let ei = -1.0 / (nf - 1.0);
    let s02 = s0 * s0;
    let n2 = nf * nf;
    let variance_norm = (n2 * s1 - nf * s2 + 3.0 * s02) / ((nf - 1.0) * (nf + 1.0) * s02) - ei * ei;
    let m2 = ss / nf;
    let m4 = sum(z.iter().map(|&v| v * v * v * v)) / nf;
    let kurt = m4 / (m2 * m2);
    let a = nf * ((n2 - 3.0 * nf + 3.0) * s1 - nf * s2 + 3.0 * s02);
    let b = kurt * ((n2 - nf) * s1 - 2.0 * nf * s2 + 6.0 * s02);
    let variance_rand = (a - b) / ((nf - 1.0) * (nf - 2.0) * (nf - 3.0) * s02) - ei * ei;
    let mut out = GlobalMoran {
        i: i_obs,
        expected: ei,
        variance_norm,
        variance_rand,
        z_norm: (i_obs - ei) / variance_norm.sqrt(),
        z_rand: (i_obs - ei) / variance_rand.sqrt(),
        count: 0,
        mean_sim: f64::NAN,
        sd_sim: f64::NAN,
        s0,
    };
    if permutations > 0 {
        let key = mix(mix(seed ^ SALT_GLOBAL));
        let sims: Vec<f64> = (0..permutations)
            .into_par_iter()
            .map_init(
                || vec![0.0f64; n],
                |buf, r| {
                    if crate::cancel::requested() {
                        return f64::NAN;
                    }
                    buf.copy_from_slice(&z);
                    let mut stream = Stream::new(key, u64::from(r));
                    for j in (1..n).rev() {
                        let t = stream.below(j as u32 + 1) as usize;
                        buf.swap(j, t);
                    }
                    stat(buf)
                },
            )
            .collect();
        crate::cancel::check()?;
        let tol = 1e-12 * i_obs.abs().max(1.0 / nf);
        let ge = sims.iter().filter(|&&s| s >= i_obs - tol).count() as u32;
        let le = sims.iter().filter(|&&s| s <= i_obs + tol).count() as u32;
        out.count = ge.min(le);
        let (m, ssim) = mean_ss(&sims);
        out.mean_sim = m;
        out.sd_sim = (ssim / sims.len() as f64).sqrt();
    }
    Ok(out)
}

/// Rows whose neighbour count is zero.
pub fn isolated_rows(graph: Graph<'_>) -> RowList {
    let mut rows = RowList::default();
    for i in 0..graph.n() {
        if graph.degree(i) == 0 {
            rows.push(i);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbours::grid_neighbours;
    use h3o::{LatLng, Resolution};

    fn disk(k: u32) -> Vec<u64> {
        let c = LatLng::new(53.48, -2.24).unwrap().to_cell(Resolution::Nine);
        let mut v: Vec<u64> = c
            .grid_disk::<Vec<_>>(k)
            .into_iter()
            .map(u64::from)
            .collect();
        v.sort_unstable();
        v
    }

    fn values(n: usize) -> Vec<f64> {
        (0..n).map(|i| ((i * 7919) % 101) as f64 / 10.0).collect()
    }

    #[test]
    fn draws_are_distinct_uniform_subsets() {
        for k in [3usize, 30] {
            let range = 40u32;
            let b = Bounded::new(range);
            let mut seen = vec![0u64; 1];
            let mut picked = vec![0u32; k];
            let mut hits = vec![0u32; range as usize];
            let reps = 20_000u64;
            for r in 0..reps {
                let mut s = Stream::new(location_key(1, 2), r);
                sample_distinct(&mut s, b, &mut picked, &mut seen, u32::MAX);
                let mut p = picked.clone();
                p.sort_unstable();
                p.dedup();
                assert_eq!(p.len(), k);
                assert!(seen.iter().all(|&w| w == 0));
                for &t in &picked {
                    hits[t as usize] += 1;
                }
            }
            // each element is in the subset with probability k/range
            let expect = reps as f64 * k as f64 / range as f64;
            let sd = (expect * (1.0 - k as f64 / range as f64)).sqrt();
            assert!(
                hits.iter().all(|&h| (h as f64 - expect).abs() < 5.0 * sd),
                "{hits:?}"
            );
        }
    }

    #[test]
    fn bounded_draws_are_in_range_and_cover_it() {
        let mut s = Stream::new(7, 0);
        let b = Bounded::new(7);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = b.draw(&mut s);
            assert!(v < 7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&b| b));
    }

    #[test]
    fn gi_star_of_a_hot_centre_is_positive_and_matches_the_formula() {
        let cells = disk(3);
        let g = grid_neighbours(&cells, 1).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, cells.len()).unwrap();
        let mut x = values(cells.len());
        let centre = u64::from(LatLng::new(53.48, -2.24).unwrap().to_cell(Resolution::Nine));
        let ci = cells.iter().position(|&c| c == centre).unwrap();
        x[ci] = 100.0;
        let out = local_g(graph, &x, true).unwrap();
        assert!(out.z[ci] > 2.0);
        // direct formula for the centre: 7 cells in its closed neighbourhood
        let n = x.len() as f64;
        let total: f64 = x.iter().sum();
        let mean = total / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let nb: f64 = graph.row(ci).iter().map(|&j| x[j as usize]).sum::<f64>() + x[ci];
        let e = 7.0 / n;
        let v = 7.0 * (n - 7.0) / (n - 1.0) / (n * n) * var / (mean * mean);
        assert!((out.g[ci] - nb / total).abs() < 1e-15);
        assert!((out.z[ci] - (nb / total - e) / v.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn local_moran_sums_to_global_numerator_and_quadrants() {
        let cells = disk(4);
        let g = grid_neighbours(&cells, 1).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, cells.len()).unwrap();
        let x = values(cells.len());
        let lm = local_moran(graph, &x, Transform::Row).unwrap();
        let gm = global_moran(graph, &x, Transform::Row, 0, 0).unwrap();
        // Σ Iᵢ = (n − 1) Σ zᵢ lagᵢ / Σz² and I = n/S0 Σ zᵢ lagᵢ / Σz² (S0 = n without isolates)
        let n = x.len() as f64;
        let total: f64 = lm.i.iter().sum();
        assert!((total / (n - 1.0) - gm.i).abs() < 1e-12);
        for (k, q) in lm.quadrant.iter().enumerate() {
            let hh = lm.zvalues[k] > 0.0 && lm.lag[k] > 0.0;
            assert_eq!(*q == 1, hh);
        }
    }

    #[test]
    fn permutation_counts_are_independent_of_threads_and_row_order() {
        let cells = disk(6);
        let x = values(cells.len());
        let g = grid_neighbours(&cells, 1).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, cells.len()).unwrap();
        let a = permutation_counts(graph, &x, &cells, 42, 199).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = pool.install(|| permutation_counts(graph, &x, &cells, 42, 199).unwrap());
        assert_eq!(a, b);
        // reversed rows: the same count per cell
        let rc: Vec<u64> = cells.iter().rev().copied().collect();
        let rx: Vec<f64> = x.iter().rev().copied().collect();
        let rg = grid_neighbours(&rc, 1).unwrap();
        let rgraph = Graph::new(&rg.offsets, &rg.index, rc.len()).unwrap();
        let r = permutation_counts(rgraph, &rx, &rc, 42, 199).unwrap();
        let back: Vec<u32> = r.iter().rev().copied().collect();
        assert_eq!(a, back);
        let other = permutation_counts(graph, &x, &cells, 43, 199).unwrap();
        assert_ne!(a, other);
        // ties (discrete values) count on both sides, so a folded count may pass R/2, never R
        assert!(a.iter().all(|&c| c <= 199));
    }

    #[test]
    fn pseudo_p_values_are_roughly_uniform_under_the_null() {
        // values in a random order: the folded count takes the nearer tail, so about 2 × 5% of the folded
        // pseudo p-values are at or below 0.05 (esda's "directed" p is one-sided in the observed direction)
        let cells = disk(20);
        let n = cells.len();
        let x: Vec<f64> = (0..n as u64)
            .map(|i| (mix(i) >> 11) as f64 / (1u64 << 53) as f64)
            .collect();
        let g = grid_neighbours(&cells, 1).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, n).unwrap();
        let counts = permutation_counts(graph, &x, &cells, 0, 99).unwrap();
        let small = counts
            .iter()
            .filter(|&&c| (c as f64 + 1.0) / 100.0 <= 0.05)
            .count() as f64
            / n as f64;
        assert!((0.07..0.13).contains(&small), "{small}");
    }

    #[test]
    fn bad_values_are_rejected() {
        let cells = disk(1);
        let g = grid_neighbours(&cells, 1).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, cells.len()).unwrap();
        let mut x = vec![1.0; cells.len()];
        assert!(matches!(
            local_g(graph, &x, true),
            Err(HlError::Unsupported { .. })
        ));
        x[3] = f64::NAN;
        match local_moran(graph, &x, Transform::Row) {
            Err(HlError::InvalidValues { rows, .. }) => assert_eq!(rows.first, vec![3]),
            other => panic!("{other:?}"),
        }
        assert!(Graph::new(&g.offsets, &g.index, cells.len() + 1).is_err());
    }

    #[test]
    fn global_moran_with_an_isolated_cell_is_finite() {
        let mut cells = disk(3);
        let far = u64::from(LatLng::new(51.0, 0.0).unwrap().to_cell(Resolution::Nine));
        cells.push(far);
        let g = grid_neighbours(&cells, 1).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, cells.len()).unwrap();
        let x = values(cells.len());
        for t in [Transform::Row, Transform::Binary] {
            let m = global_moran(graph, &x, t, 9, 1).unwrap();
            assert!(m.i.is_finite() && m.variance_rand.is_finite() && m.variance_norm.is_finite());
        }
        let m = global_moran(graph, &x, Transform::Row, 0, 1).unwrap();
        assert_eq!(m.s0, (cells.len() - 1) as f64);
    }

    #[test]
    fn smoothing_includes_the_cell_itself() {
        let cells = disk(2);
        let g = grid_neighbours(&cells, 1).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, cells.len()).unwrap();
        let x = values(cells.len());
        let (m, cnt) = smooth(graph, &x, None).unwrap();
        for i in 0..x.len() {
            let s: f64 = graph.row(i).iter().map(|&j| x[j as usize]).sum::<f64>() + x[i];
            assert_eq!(cnt[i], graph.degree(i) as f64 + 1.0);
            assert!((m[i] - s / cnt[i]).abs() < 1e-12);
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::neighbours::grid_neighbours;
    use h3o::{LatLng, Resolution};

    /// `cargo test --release -p hyperlocal-core timing -- --ignored --nocapture`: ns per drawn index.
    #[test]
    #[ignore]
    fn permutation_kernel_speed() {
        // HL_TIMING_RADIUS=731 gives a disk of 1.6 million cells (the national res-9 grid's size)
        let radius: u32 = std::env::var("HL_TIMING_RADIUS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(277);
        let c = LatLng::new(52.5, -1.5).unwrap().to_cell(Resolution::Eight);
        let cells: Vec<u64> = c
            .grid_disk::<Vec<_>>(radius)
            .into_iter()
            .map(u64::from)
            .collect();
        let n = cells.len();
        let x: Vec<f64> = (0..n as u64)
            .map(|i| (mix(i) >> 11) as f64 / (1u64 << 53) as f64)
            .collect();
        let k: u32 = std::env::var("HL_TIMING_K")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let g = grid_neighbours(&cells, k).unwrap();
        let graph = Graph::new(&g.offsets, &g.index, n).unwrap();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let t = std::time::Instant::now();
            let counts = pool.install(|| permutation_counts(graph, &x, &cells, 0, 199).unwrap());
            let el = t.elapsed().as_secs_f64();
            let idx = g.index.len() as f64 * 199.0;
            println!(
                "n {n} threads {threads}: {el:.3} s, {:.2} ns/index/thread (sum {})",
                el * 1e9 * threads as f64 / idx,
                counts.iter().map(|&c| u64::from(c)).sum::<u64>()
            );
        }
    }
}
