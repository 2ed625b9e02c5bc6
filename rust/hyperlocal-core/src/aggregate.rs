//! Sparse weighted sums onto cells (apportion, rollup) and fused point counting.
//!
//! Determinism: rows are ordered by (cell, row) before summing, and each cell's sum is accumulated
//! sequentially in that order with Neumaier compensated summation, so results are bit-identical whatever the
//! number of threads.

use h3o::Resolution;
use rayon::prelude::*;

use crate::bng::{bng_point, valid_bng};
use crate::cells::{point_cell, valid_latlng, OnInvalid, CHUNK};
use crate::error::{check_len, HlError, Result, RowList};

/// Neumaier (improved Kahan–Babuška) compensated sum, accumulated in the order given.
#[derive(Default, Clone, Copy)]
struct Neumaier {
    sum: f64,
    c: f64,
}

impl Neumaier {
    #[inline(always)]
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        // Both corrections, then a select (no data-dependent branch: the larger operand varies row to row).
        let big = (self.sum - t) + x;
        let small = (x - t) + self.sum;
        self.c += if self.sum.abs() >= x.abs() {
            big
        } else {
            small
        };
        self.sum = t;
    }
    #[inline(always)]
    fn value(self) -> f64 {
        self.sum + self.c
    }
}

/// Result of a grouped weighted sum: one row per distinct cell, cells ascending.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CellSums {
    pub cells: Vec<u64>,
    /// One vector per extensive column: Σ w·x over the rows of each cell.
    pub extensive: Vec<Vec<f64>>,
    /// One vector per intensive column: Σ w·p·x / Σ w·p (NaN where Σ w·p = 0).
    pub intensive: Vec<Vec<f64>>,
    /// Σ w·p per cell (Σ w when there is no intensive weight).
    pub weight: Vec<f64>,
}

/// Weighted sums of area values onto cells.
///
/// * `row_cell[r]`, `row_area[r]`, `row_weight[r]`: the sparse rows (a crosswalk, or child → parent for rollup).
/// * `extensive[k][a]`: value of extensive column k for area a: cell value = `Σ_r w_r · x[area_r]`.
/// * `intensive[k][a]`: value of intensive column k for area a: cell value = Σ w·p·x / Σ w·p, where
///   p = `intensive_weight[a]` (e.g. population) or 1 when `None`.
pub fn weighted_cell_sums(
    row_cell: &[u64],
    row_area: &[u32],
    row_weight: &[f64],
    n_areas: usize,
    extensive: &[&[f64]],
    intensive: &[&[f64]],
    intensive_weight: Option<&[f64]>,
) -> Result<CellSums> {
    check_len("area index", row_area.len(), "cells", row_cell.len())?;
    check_len("weight", row_weight.len(), "cells", row_cell.len())?;
    for (k, col) in extensive.iter().chain(intensive.iter()).enumerate() {
        check_len(&format!("value column {k}"), col.len(), "areas", n_areas)?;
    }
    if let Some(p) = intensive_weight {
        check_len("intensive weight", p.len(), "areas", n_areas)?;
    }
    let bad = crate::cells::rows_where(row_area, |a| a as usize >= n_areas);
    if !bad.is_empty() {
        return Err(HlError::InvalidValues {
            arg: "area index".into(),
            rows: bad,
            expected: format!("indices below the number of areas ({n_areas})"),
        });
    }

    // Rows grouped by cell, cells ascending, rows ascending within a cell: the summation order is fixed.
    let Grouped {
        cells,
        starts,
        rows,
    } = grouped_rows(row_cell);
    let n_cells = cells.len();
    // Each row's term is computed in row order (sequential reads: a crosswalk's rows come by area), then
    // gathered in group order: one random read per row and column.
    let n = row_cell.len();
    let terms = |f: &(dyn Fn(usize) -> f64 + Sync)| -> Vec<f64> {
        let t: Vec<f64> = (0..n)
            .into_par_iter()
            .with_min_len(1 << 14)
            .map(f)
            .collect();
        sum_groups(&starts, n_cells, |i| t[rows[i] as usize])
    };
    let area = |r: usize| row_area[r] as usize;
    let ext: Vec<Vec<f64>> = extensive
        .iter()
        .map(|col| terms(&|r| row_weight[r] * col[area(r)]))
        .collect();
    let weight = match intensive_weight {
        Some(p) => terms(&|r| row_weight[r] * p[area(r)]),
        None => sum_groups(&starts, n_cells, |i| row_weight[rows[i] as usize]),
    };
    let int: Vec<Vec<f64>> = intensive
        .iter()
        .map(|col| {
            let num = match intensive_weight {
                Some(p) => terms(&|r| {
                    let a = area(r);
                    let wp = row_weight[r] * p[a];
                    if wp == 0.0 {
                        0.0
                    } else {
                        wp * col[a]
                    }
                }),
                None => terms(&|r| row_weight[r] * col[area(r)]),
            };
            num.iter()
                .zip(&weight)
                .map(|(&n, &d)| if d > 0.0 { n / d } else { f64::NAN })
                .collect()
        })
        .collect();
    Ok(CellSums {
        cells,
        extensive: ext,
        intensive: int,
        weight,
    })
}

/// Rows grouped by cell: `cells` ascending, group g's rows `rows[starts[g]..starts[g + 1]]` ascending.
struct Grouped {
    cells: Vec<u64>,
    starts: Vec<usize>,
    rows: Vec<u32>,
}

/// The rows as (cell, row), sorted (what [`grouped_rows`] groups).
#[cfg(test)]
fn order_by_cell(row_cell: &[u64]) -> Vec<(u64, u32)> {
    let g = grouped_rows(row_cell);
    let mut out = Vec::with_capacity(g.rows.len());
    for (k, &c) in g.cells.iter().enumerate() {
        out.extend(g.rows[g.starts[k]..g.starts[k + 1]].iter().map(|&r| (c, r)));
    }
    out
}

/// The rows sorted by (cell, row), grouped. When every cell is a valid index of one resolution (the common
/// case: a crosswalk), the cell's varying bits (base cell and digits) and the row number fit one u64 key,
/// radix-sorted (several times faster than sorting the pairs; the order is the same), and the groups are read
/// straight off the sorted keys.
fn grouped_rows(row_cell: &[u64]) -> Grouped {
    let group_pairs = |order: &[(u64, u32)]| {
        let mut g = Grouped {
            cells: Vec::new(),
            starts: Vec::new(),
            rows: Vec::with_capacity(order.len()),
        };
        for (i, &(c, r)) in order.iter().enumerate() {
            if i == 0 || c != order[i - 1].0 {
                g.starts.push(i);
                g.cells.push(c);
            }
            g.rows.push(r);
        }
        g.starts.push(order.len());
        g
    };
    let pairs = || -> Grouped {
        let mut order: Vec<(u64, u32)> = row_cell
            .par_iter()
            .enumerate()
            .map(|(r, &c)| (c, r as u32))
            .collect();
        order.par_sort_unstable();
        group_pairs(&order)
    };
    let Some(&first) = row_cell.first() else {
        return group_pairs(&[]);
    };
    const PAYLOAD: u64 = (1u64 << 52) - 1;
    let res = ((first >> 52) & 0xF) as u32;
    let shift = 45 - 3 * res;
    let low_ones: u64 = if shift == 0 { 0 } else { (1u64 << shift) - 1 };
    let header = first & !PAYLOAD;
    let cell_bits = 7 + 3 * res;
    let row_bits = bits_for(u32::try_from(row_cell.len()).unwrap_or(u32::MAX));
    if (header >> 59) != 1 || cell_bits + row_bits > 64 {
        return pairs();
    }
    // One pass: every cell of that one resolution (else the pairs are sorted), and the span of the cells
    // relative to the smallest (fewer key bits, fewer radix passes).
    let (uniform, lo, hi) = row_cell
        .par_iter()
        .fold(
            || (true, u64::MAX, 0),
            |(ok, l, h), &c| {
                let v = (c & PAYLOAD) >> shift;
                (
                    ok & (c & !PAYLOAD == header) & (c & low_ones == low_ones),
                    l.min(v),
                    h.max(v),
                )
            },
        )
        .reduce(
            || (true, u64::MAX, 0),
            |a, b| (a.0 & b.0, a.1.min(b.1), a.2.max(b.2)),
        );
    if !uniform {
        return pairs();
    }
    let span_bits = 64 - (hi - lo).leading_zeros();
    let mut keys: Vec<u64> = row_cell
        .par_iter()
        .enumerate()
        .map(|(r, &c)| ((((c & PAYLOAD) >> shift) - lo) << row_bits) | r as u64)
        .collect();
    // The keys come in row order: only the cell bits need sorting (stably).
    radix_sort(&mut keys, row_bits, span_bits.min(cell_bits) + row_bits);
    let row_mask = (1u64 << row_bits) - 1;
    // The groups counted first (a cheap pass), so their vectors are allocated once at their size (grown by
    // pushes, they were reallocated and copied ~17 times).
    let groups = 1 + keys
        .windows(2)
        .filter(|w| (w[0] ^ w[1]) >> row_bits != 0)
        .count();
    let mut g = Grouped {
        cells: Vec::with_capacity(groups),
        starts: Vec::with_capacity(groups + 1),
        rows: Vec::with_capacity(keys.len()),
    };
    let mut prev = u64::MAX;
    for (i, &k) in keys.iter().enumerate() {
        let c = k >> row_bits;
        if c != prev {
            g.starts.push(i);
            g.cells.push(header | ((c + lo) << shift) | low_ones);
            prev = c;
        }
        g.rows.push((k & row_mask) as u32);
    }
    g.starts.push(keys.len());
    g
}

/// Sorts distinct keys whose bits below `from` are already ascending in the slice (the row numbers of keys built
/// in row order) and whose bits from `from` up are below 2^`to`: a least-significant-digit radix sort on bits
/// `from..to` only (a stable scatter per digit of up to 12 bits, 4,096 counters that stay in cache, all the
/// digits' histograms counted in one read), for 2^12 keys and more; smaller sets by comparison. The order is
/// that of a full sort (stability keeps the low bits ascending within equal high bits).
pub(crate) fn radix_sort(keys: &mut Vec<u64>, from: u32, to: u32) {
    if keys.len() < 1 << 12 || to <= from {
        keys.sort_unstable();
        return;
    }
    let passes = (to - from).div_ceil(12);
    let digit = (to - from).div_ceil(passes);
    let buckets = 1usize << digit;
    let mask = (buckets - 1) as u64;
    let mut counts = vec![0usize; buckets * passes as usize];
    for &k in keys.iter() {
        for p in 0..passes as usize {
            counts[p * buckets + ((k >> (from + p as u32 * digit)) & mask) as usize] += 1;
        }
    }
    let mut buf = vec![0u64; keys.len()];
    for (p, count) in counts.chunks_mut(buckets).enumerate() {
        if count.contains(&keys.len()) {
            continue; // every key has the same digit here: nothing moves
        }
        let shift = from + p as u32 * digit;
        let mut pos = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = pos;
            pos += n;
        }
        for &k in keys.iter() {
            let d = ((k >> shift) & mask) as usize;
            buf[count[d]] = k;
            count[d] += 1;
        }
        std::mem::swap(keys, &mut buf);
    }
}

/// Σ f(i) over the positions i of each group (`starts[g]..starts[g + 1]`), compensated (Neumaier), in
/// position order: the same sums whatever the thread count.
fn sum_groups<F: Fn(usize) -> f64 + Sync>(starts: &[usize], n_cells: usize, f: F) -> Vec<f64> {
    (0..n_cells)
        .into_par_iter()
        .with_min_len(4096)
        .map(|g| {
            let (a, b) = (starts[g], starts[g + 1]);
            if b == a + 1 {
                return f(a); // one row: what the compensated sum of one term gives, without its work
            }
            let mut acc = Neumaier::default();
            for i in a..b {
                acc.add(f(i));
            }
            acc.value()
        })
        .collect()
}

/// Point counts per (cell, group), cells ascending then groups ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PointCounts {
    pub cells: Vec<u64>,
    pub groups: Vec<u32>,
    pub counts: Vec<u32>,
    /// Rows that were invalid and skipped (only with [`OnInvalid::Skip`]).
    pub skipped: RowList,
}

/// Dense group codes of one chunk of points, in the narrowest type the caller has (no widening copy).
#[derive(Debug, Clone, Copy)]
pub enum Groups<'a> {
    None,
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
}

impl Groups<'_> {
    fn len(&self) -> Option<usize> {
        match self {
            Groups::None => None,
            Groups::U8(g) => Some(g.len()),
            Groups::U16(g) => Some(g.len()),
            Groups::U32(g) => Some(g.len()),
        }
    }
    #[inline(always)]
    fn get(&self, i: usize) -> u64 {
        match self {
            Groups::None => 0,
            Groups::U8(g) => u64::from(g[i]),
            Groups::U16(g) => u64::from(g[i]),
            Groups::U32(g) => u64::from(g[i]),
        }
    }
}

/// Coordinates of the points: WGS84 degrees or British National Grid metres (converted per point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coords {
    LatLng,
    Bng,
}

/// One chunk of points (e.g. one Arrow chunk of a Polars column): `a`/`b` are lat/lng or easting/northing.
#[derive(Debug, Clone, Copy)]
pub struct PointChunk<'a> {
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub groups: Groups<'a>,
}

fn bits_for(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

/// Count points per (cell, group) at `res`, fused: each point's cell is computed and packed with its group
/// code into one u64 sort key (the cell's base-cell and digit bits, then the group bits); the keys are sorted
/// in parallel and run-length counted in place. Memory: one u64 per point, plus the output.
///
/// Input comes as chunks (zero-copy views of Arrow chunks). Group codes must be below `n_groups`.
///
/// `nested`: the cell convention shared with the centroid crosswalk. `true` puts each point in the ancestor at
/// `res` of its resolution-15 cell (so counts nest exactly across resolutions and an event lands in the same
/// cell as an area centroid at the same place); `false` in the cell that geometrically contains it. The key
/// holds the base cell and the first `res` digits, which are the same bits for a res-15 cell and its ancestor.
pub fn count_points(
    chunks: &[PointChunk<'_>],
    coords: Coords,
    n_groups: u32,
    res: Resolution,
    nested: bool,
    on_invalid: OnInvalid,
) -> Result<PointCounts> {
    let index_res = if nested { Resolution::Fifteen } else { res };
    let mut offsets = Vec::with_capacity(chunks.len());
    let mut n = 0usize;
    for (i, c) in chunks.iter().enumerate() {
        check_len(
            &format!("chunk {i} of the second coordinate"),
            c.b.len(),
            "the first",
            c.a.len(),
        )?;
        if let Some(gl) = c.groups.len() {
            check_len(
                &format!("chunk {i} of the groups"),
                gl,
                "the coordinates",
                c.a.len(),
            )?;
        }
        offsets.push(n);
        n += c.a.len();
    }
    if n > u32::MAX as usize {
        return Err(HlError::Unsupported {
            arg: "events".into(),
            message: format!(
                "{n} points in one call; expected at most {} (split the input)",
                u32::MAX
            ),
        });
    }
    let r = u8::from(res) as u32;
    let shift = 45 - 3 * r;
    let cell_bits = 7 + 3 * r;
    let gbits = bits_for(n_groups);
    if cell_bits + gbits > 64 {
        return Err(HlError::Unsupported {
            arg: "by".into(),
            message: format!(
                "{n_groups} distinct groups; expected at most {} at resolution {r} (the cell and group \
                 share one 64-bit key: use a coarser resolution or fewer groups)",
                1u64 << (64 - cell_bits)
            ),
        });
    }
    // u64::MAX never encodes a real (cell, group): base cells stop at 121.
    const SENTINEL: u64 = u64::MAX;
    let payload_mask: u64 = (1u64 << 52) - 1;
    let mut keys = vec![0u64; n];
    let mut bad_groups = RowList::default();
    let mut skipped = RowList::default();
    // Work units of at most CHUNK points across all chunks (a frame of many small chunks, as read_parquet
    // returns, keeps every thread busy), each writing its own slice of `keys`.
    let mut units: Vec<(usize, usize, &mut [u64])> = Vec::new();
    let mut rest: &mut [u64] = &mut keys;
    for (ci, c) in chunks.iter().enumerate() {
        let mut start = 0;
        while start < c.a.len() {
            let len = CHUNK.min(c.a.len() - start);
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            units.push((ci, start, head));
            rest = tail;
            start += len;
        }
    }
    let parts: Vec<(RowList, RowList)> = units
        .into_par_iter()
        .map(|(ci, start, k)| {
            let (c, off) = (&chunks[ci], offsets[ci]);
            let mut bad = RowList::default();
            let mut badg = RowList::default();
            if crate::cancel::requested() {
                return (bad, badg);
            }
            for (i, slot) in k.iter_mut().enumerate() {
                let row = start + i;
                let (u, v) = (c.a[row], c.b[row]);
                let ll = match coords {
                    Coords::LatLng => valid_latlng(u, v).then_some((u, v)),
                    Coords::Bng => valid_bng(u, v).then(|| bng_point(u, v)),
                };
                let g = c.groups.get(row);
                if g >= u64::from(n_groups.max(1)) {
                    badg.push(off + row);
                }
                *slot = match ll {
                    Some((y, x)) => {
                        let compact = (point_cell(y, x, index_res) & payload_mask) >> shift;
                        if gbits == 0 {
                            compact
                        } else {
                            (compact << gbits) | g
                        }
                    }
                    None => {
                        bad.push(off + row);
                        SENTINEL
                    }
                };
            }
            (bad, badg)
        })
        .collect();
    crate::cancel::check()?;
    // Units are in row order, so the row lists stay ascending.
    for (b, g) in parts {
        skipped.extend(b);
        bad_groups.extend(g);
    }
    if !bad_groups.is_empty() {
        return Err(HlError::InvalidValues {
            arg: "groups".into(),
            rows: bad_groups,
            expected: format!("group codes below {n_groups}"),
        });
    }
    if !skipped.is_empty() && on_invalid == OnInvalid::Raise {
        let (arg, expected) = match coords {
            Coords::LatLng => ("lat/lng", "finite WGS84 degrees (not null or NaN) with -90 <= lat <= 90 and -180 <= lng <= 180"),
            Coords::Bng => (
                "easting/northing",
                "finite British National Grid metres (not null or NaN) with 0 <= easting <= 700000 and 0 <= northing <= 1300000",
            ),
        };
        return Err(HlError::InvalidValues {
            arg: arg.into(),
            rows: skipped,
            expected: expected.into(),
        });
    }
    keys.par_sort_unstable();
    crate::cancel::check()?;
    keys.truncate(n - skipped.count);

    // Run-length count in place: distinct keys move to the front of `keys`, counts go to their own vector.
    let mut counts: Vec<u32> = Vec::new();
    let mut w = 0usize;
    let mut i = 0usize;
    while i < keys.len() {
        let k = keys[i];
        let mut j = i + 1;
        while j < keys.len() && keys[j] == k {
            j += 1;
        }
        keys[w] = k;
        counts.push((j - i) as u32);
        w += 1;
        i = j;
    }
    keys.truncate(w);
    keys.shrink_to_fit();

    // Decode in place: the key buffer becomes the cell column.
    let header: u64 = (1u64 << 59) | ((r as u64) << 52);
    let low_ones: u64 = if shift == 0 { 0 } else { (1u64 << shift) - 1 };
    let gmask: u64 = if gbits == 0 { 0 } else { (1u64 << gbits) - 1 };
    let groups: Vec<u32> = keys.par_iter().map(|&k| (k & gmask) as u32).collect();
    keys.par_iter_mut()
        .for_each(|k| *k = header | ((*k >> gbits) << shift) | low_ones);
    Ok(PointCounts {
        cells: keys,
        groups,
        counts,
        skipped,
    })
}

/// Convenience form for one contiguous chunk of lat/lng points with optional u32 groups.
pub fn count_latlng(
    lat: &[f64],
    lng: &[f64],
    groups: Option<&[u32]>,
    n_groups: u32,
    res: Resolution,
    on_invalid: OnInvalid,
) -> Result<PointCounts> {
    let g = groups.map_or(Groups::None, Groups::U32);
    let nested = false;
    count_points(
        &[PointChunk {
            a: lat,
            b: lng,
            groups: g,
        }],
        Coords::LatLng,
        n_groups,
        res,
        nested,
        on_invalid,
    )
}

/// Sorted (cell, group) counts: the partial aggregate of a batch of points, and the running total of a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergedCounts {
    pub cells: Vec<u64>,
    pub groups: Vec<u32>,
    pub counts: Vec<u64>,
}

/// A borrowed run of counts (the columns of a [`MergedCounts`], or arrays from the caller).
#[derive(Debug, Clone, Copy)]
pub struct CountsRun<'a> {
    pub cells: &'a [u64],
    pub groups: &'a [u32],
    pub counts: &'a [u64],
}

impl MergedCounts {
    pub fn run(&self) -> CountsRun<'_> {
        CountsRun {
            cells: &self.cells,
            groups: &self.groups,
            counts: &self.counts,
        }
    }
}

/// Merge two runs of counts, each sorted by (cell, group) with unique keys, into one such run: counts of the
/// same key are added. Linear in the total length; exact (integers), so the merge is associative and
/// commutative and a stream of batches gives the counts of the whole.
pub fn merge_counts(a: CountsRun<'_>, b: CountsRun<'_>) -> Result<MergedCounts> {
    for r in [a, b] {
        check_len("groups", r.groups.len(), "cells", r.cells.len())?;
        check_len("counts", r.counts.len(), "cells", r.cells.len())?;
    }
    let (na, nb) = (a.cells.len(), b.cells.len());
    let mut out = MergedCounts {
        cells: Vec::with_capacity(na.max(nb)),
        groups: Vec::with_capacity(na.max(nb)),
        counts: Vec::with_capacity(na.max(nb)),
    };
    let (mut i, mut j) = (0, 0);
    while i < na || j < nb {
        let ka = (i < na).then(|| (a.cells[i], a.groups[i]));
        let kb = (j < nb).then(|| (b.cells[j], b.groups[j]));
        let (key, count) = match (ka, kb) {
            (Some(x), Some(y)) if x == y => {
                let c = a.counts[i] + b.counts[j];
                i += 1;
                j += 1;
                (x, c)
            }
            (Some(x), Some(y)) if x < y => {
                i += 1;
                (x, a.counts[i - 1])
            }
            (Some(x), None) => {
                i += 1;
                (x, a.counts[i - 1])
            }
            (_, Some(y)) => {
                j += 1;
                (y, b.counts[j - 1])
            }
            (None, None) => unreachable!("the loop runs while one run has keys left"),
        };
        out.cells.push(key.0);
        out.groups.push(key.1);
        out.counts.push(count);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::latlng_to_cell;
    use proptest::prelude::*;

    fn run(keys: &[(u64, u32, u64)]) -> MergedCounts {
        MergedCounts {
            cells: keys.iter().map(|k| k.0).collect(),
            groups: keys.iter().map(|k| k.1).collect(),
            counts: keys.iter().map(|k| k.2).collect(),
        }
    }

    #[test]
    fn compact_key_order_equals_the_pair_order() {
        // cells of one resolution (the compact u64 keys, 40,000 rows: the radix sort), repeated so that ties
        // test the row order; and a mix of resolutions plus a non-cell value (the pair sort)
        let lat: Vec<f64> = (0..40_000)
            .map(|i| 50.0 + (i % 997) as f64 * 0.003)
            .collect();
        let lng: Vec<f64> = (0..40_000)
            .map(|i| -3.0 + (i % 991) as f64 * 0.004)
            .collect();
        for res in [0u8, 5, 9, 15] {
            let r = Resolution::try_from(res).unwrap();
            let (mut cells, _) = latlng_to_cell(&lat, &lng, r, OnInvalid::Raise).unwrap();
            let reference = |cells: &[u64]| {
                let mut o: Vec<(u64, u32)> = cells
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (c, i as u32))
                    .collect();
                o.sort_unstable();
                o
            };
            assert_eq!(order_by_cell(&cells), reference(&cells), "res {res}");
            cells[17] = u64::from(
                h3o::CellIndex::try_from(cells[17])
                    .unwrap()
                    .parent(Resolution::Zero)
                    .unwrap(),
            );
            assert_eq!(order_by_cell(&cells), reference(&cells), "mixed, res {res}");
            cells[3] = 12345;
            assert_eq!(
                order_by_cell(&cells),
                reference(&cells),
                "non-cell, res {res}"
            );
        }
        assert!(order_by_cell(&[]).is_empty());
    }

    #[test]
    fn merged_batches_equal_the_counts_of_the_whole() {
        // 20,000 points counted whole, and in 7 uneven batches merged in two different orders
        let lat: Vec<f64> = (0..20_000)
            .map(|i| 50.0 + (i * 7919 % 5003) as f64 * 1e-3)
            .collect();
        let lng: Vec<f64> = (0..20_000)
            .map(|i| -3.0 + (i * 104_729 % 4001) as f64 * 1e-3)
            .collect();
        let grp: Vec<u32> = (0..20_000).map(|i| (i * 31 % 3) as u32).collect();
        let res = Resolution::try_from(7).unwrap();
        let whole = count_latlng(&lat, &lng, Some(&grp), 3, res, OnInvalid::Raise).unwrap();
        let cuts = [0, 1, 1000, 1001, 5000, 12_345, 19_999, 20_000];
        let parts: Vec<MergedCounts> = cuts
            .windows(2)
            .map(|w| {
                let (s, e) = (w[0], w[1]);
                let p = count_latlng(
                    &lat[s..e],
                    &lng[s..e],
                    Some(&grp[s..e]),
                    3,
                    res,
                    OnInvalid::Raise,
                )
                .unwrap();
                MergedCounts {
                    cells: p.cells,
                    groups: p.groups,
                    counts: p.counts.iter().map(|&c| u64::from(c)).collect(),
                }
            })
            .collect();
        let merge = |a: &MergedCounts, b: &MergedCounts| merge_counts(a.run(), b.run()).unwrap();
        let forward = parts
            .iter()
            .fold(MergedCounts::default(), |acc, p| merge(&acc, p));
        let backward = parts
            .iter()
            .rev()
            .fold(MergedCounts::default(), |acc, p| merge(p, &acc));
        assert_eq!(forward, backward);
        assert_eq!(forward.cells, whole.cells);
        assert_eq!(forward.groups, whole.groups);
        assert_eq!(
            forward.counts,
            whole
                .counts
                .iter()
                .map(|&c| u64::from(c))
                .collect::<Vec<_>>()
        );
        assert_eq!(forward.counts.iter().sum::<u64>(), 20_000);
    }

    #[test]
    fn merge_adds_equal_keys_and_keeps_order() {
        let a = run(&[(1, 0, 2), (1, 2, 1), (5, 0, 4)]);
        let b = run(&[(0, 9, 1), (1, 2, 3), (5, 1, 1), (9, 0, 7)]);
        let m = merge_counts(a.run(), b.run()).unwrap();
        assert_eq!(
            m,
            run(&[
                (0, 9, 1),
                (1, 0, 2),
                (1, 2, 4),
                (5, 0, 4),
                (5, 1, 1),
                (9, 0, 7)
            ])
        );
        assert_eq!(merge_counts(b.run(), a.run()).unwrap(), m);
        assert_eq!(
            merge_counts(MergedCounts::default().run(), a.run()).unwrap(),
            a
        );
    }

    #[test]
    fn counts_match_cells_computed_separately() {
        let lat: Vec<f64> = (0..5000).map(|i| 51.0 + (i % 97) as f64 * 1e-3).collect();
        let lng: Vec<f64> = (0..5000).map(|i| -0.5 + (i % 89) as f64 * 1e-3).collect();
        let g: Vec<u32> = (0..5000).map(|i| (i % 3) as u32).collect();
        let res = Resolution::Nine;
        let pc = count_latlng(&lat, &lng, Some(&g), 3, res, OnInvalid::Raise).unwrap();
        let (cells, _) = latlng_to_cell(&lat, &lng, res, OnInvalid::Raise).unwrap();
        let mut expect = std::collections::BTreeMap::new();
        for (c, gg) in cells.iter().zip(&g) {
            *expect.entry((*c, *gg)).or_insert(0u64) += 1;
        }
        let got: std::collections::BTreeMap<(u64, u32), u64> = pc
            .cells
            .iter()
            .zip(&pc.groups)
            .zip(&pc.counts)
            .map(|((c, g), n)| ((*c, *g), u64::from(*n)))
            .collect();
        assert_eq!(got, expect);
        assert_eq!(pc.counts.iter().map(|&c| u64::from(c)).sum::<u64>(), 5000);
    }

    #[test]
    fn nested_counts_use_the_res15_ancestor() {
        let lat: Vec<f64> = (0..20_000)
            .map(|i| 51.0 + (i % 997) as f64 * 1.3e-4)
            .collect();
        let lng: Vec<f64> = (0..20_000)
            .map(|i| -0.5 + (i % 991) as f64 * 1.7e-4)
            .collect();
        for r in [5u8, 7, 9] {
            let res = Resolution::try_from(r).unwrap();
            let chunk = PointChunk {
                a: &lat,
                b: &lng,
                groups: Groups::None,
            };
            let pc =
                count_points(&[chunk], Coords::LatLng, 1, res, true, OnInvalid::Raise).unwrap();
            let (fine, _) =
                latlng_to_cell(&lat, &lng, Resolution::Fifteen, OnInvalid::Raise).unwrap();
            let parents = crate::cells::cell_to_parent(&fine, res).unwrap();
            let mut expect = std::collections::BTreeMap::new();
            for c in parents {
                *expect.entry(c).or_insert(0u32) += 1;
            }
            let got: std::collections::BTreeMap<u64, u32> = pc
                .cells
                .iter()
                .copied()
                .zip(pc.counts.iter().copied())
                .collect();
            assert_eq!(got, expect, "res {r}");
            // And it differs from geometric containment somewhere (otherwise the test proves nothing).
            let plain = count_latlng(&lat, &lng, None, 1, res, OnInvalid::Raise).unwrap();
            assert_ne!(
                (plain.cells, plain.counts),
                (pc.cells, pc.counts),
                "res {r}"
            );
        }
    }

    #[test]
    fn counts_at_every_resolution_decode_to_real_cells() {
        let lat = [51.5, -33.9, 0.0, 89.9];
        let lng = [-0.12, 151.2, 0.0, 179.9];
        for r in 0..=15u8 {
            let res = Resolution::try_from(r).unwrap();
            let pc = count_latlng(&lat, &lng, None, 1, res, OnInvalid::Raise).unwrap();
            let (mut cells, _) = latlng_to_cell(&lat, &lng, res, OnInvalid::Raise).unwrap();
            cells.sort_unstable();
            assert_eq!(pc.cells, cells, "res {r}");
        }
    }

    #[test]
    fn skipped_points_are_counted_not_lost() {
        let pc = count_latlng(
            &[51.0, f64::NAN, 52.0],
            &[0.0, 0.0, 200.0],
            None,
            1,
            Resolution::Five,
            OnInvalid::Skip,
        )
        .unwrap();
        assert_eq!(pc.skipped.count, 2);
        assert_eq!(pc.counts, vec![1]);
        assert!(count_latlng(
            &[f64::NAN],
            &[0.0],
            None,
            1,
            Resolution::Five,
            OnInvalid::Raise
        )
        .is_err());
    }

    #[test]
    fn chunked_bng_input_equals_one_converted_chunk() {
        let e: Vec<f64> = (0..3000)
            .map(|i| 300_000.0 + (i * 37 % 1000) as f64 * 20.0)
            .collect();
        let n: Vec<f64> = (0..3000)
            .map(|i| 200_000.0 + (i * 91 % 1000) as f64 * 20.0)
            .collect();
        let g: Vec<u8> = (0..3000).map(|i| (i % 4) as u8).collect();
        let chunks = [
            PointChunk {
                a: &e[..1000],
                b: &n[..1000],
                groups: Groups::U8(&g[..1000]),
            },
            PointChunk {
                a: &e[1000..],
                b: &n[1000..],
                groups: Groups::U8(&g[1000..]),
            },
        ];
        let pc = count_points(
            &chunks,
            Coords::Bng,
            4,
            Resolution::Nine,
            false,
            OnInvalid::Raise,
        )
        .unwrap();
        let (lat, lng): (Vec<f64>, Vec<f64>) =
            e.iter().zip(&n).map(|(&a, &b)| bng_point(a, b)).unzip();
        let g32: Vec<u32> = g.iter().map(|&x| u32::from(x)).collect();
        let one = count_latlng(
            &lat,
            &lng,
            Some(&g32),
            4,
            Resolution::Nine,
            OnInvalid::Raise,
        )
        .unwrap();
        assert_eq!(pc, one);
        let bad = [PointChunk {
            a: &e[..10],
            b: &n[..10],
            groups: Groups::U8(&g[..10]),
        }];
        assert!(count_points(
            &bad,
            Coords::Bng,
            3,
            Resolution::Nine,
            false,
            OnInvalid::Raise
        )
        .is_err());
    }

    proptest! {
        /// Rolling cells up to their parents (the same kernel, child → parent rows) conserves totals and keeps
        /// intensive means within range.
        #[test]
        fn rollup_conserves_totals(
            pts in proptest::collection::vec((50.0f64..56.0, -5.0f64..1.5, 0f64..1e4), 1..300),
            fine in 5u8..12,
            up in 1u8..5,
        ) {
            let lat: Vec<f64> = pts.iter().map(|p| p.0).collect();
            let lng: Vec<f64> = pts.iter().map(|p| p.1).collect();
            let x: Vec<f64> = pts.iter().map(|p| p.2).collect();
            let fine = Resolution::try_from(fine).unwrap();
            let coarse = Resolution::try_from(u8::from(fine).saturating_sub(up)).unwrap();
            let (cells, _) = latlng_to_cell(&lat, &lng, fine, OnInvalid::Raise).unwrap();
            let idx: Vec<u32> = (0..x.len() as u32).collect();
            let ones = vec![1.0; x.len()];
            let grid = weighted_cell_sums(&cells, &idx, &ones, x.len(), &[&x], &[], None).unwrap();
            let parents = crate::cells::cell_to_parent(&grid.cells, coarse).unwrap();
            let gidx: Vec<u32> = (0..grid.cells.len() as u32).collect();
            let gones = vec![1.0; grid.cells.len()];
            let up = weighted_cell_sums(&parents, &gidx, &gones, grid.cells.len(), &[&grid.extensive[0]], &[], None).unwrap();
            let total: f64 = x.iter().sum();
            let got: f64 = up.extensive[0].iter().sum();
            prop_assert!((got - total).abs() <= 1e-9 * total.max(1.0));
            prop_assert!(up.cells.windows(2).all(|w| w[0] < w[1]));
        }

        #[test]
        fn apportion_conserves_totals(
            n_areas in 1usize..40,
            rows in proptest::collection::vec((0u64..6, 0usize..40, 0.01f64..1.0), 1..200),
            vals in proptest::collection::vec(0f64..1e6, 40),
        ) {
            // Normalise weights per area so each area's weights sum to one (a crosswalk).
            let rows: Vec<(u64, u32, f64)> = rows.into_iter().map(|(c, a, w)| (c, (a % n_areas) as u32, w)).collect();
            let mut tot = vec![0f64; n_areas];
            for &(_, a, w) in &rows { tot[a as usize] += w; }
            let cells: Vec<u64> = rows.iter().map(|r| r.0).collect();
            let areas: Vec<u32> = rows.iter().map(|r| r.1).collect();
            let w: Vec<f64> = rows.iter().map(|r| r.2 / tot[r.1 as usize]).collect();
            let x = &vals[..n_areas];
            let out = weighted_cell_sums(&cells, &areas, &w, n_areas, &[x], &[x], Some(x)).unwrap();
            let covered: f64 = (0..n_areas).filter(|&a| tot[a] > 0.0).map(|a| x[a]).sum();
            let got: f64 = out.extensive[0].iter().sum();
            prop_assert!((got - covered).abs() <= 1e-9 * covered.max(1.0));
            // Intensive means lie within the range of the inputs.
            let (lo, hi) = x.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            for v in &out.intensive[0] { if v.is_finite() { prop_assert!(*v >= lo - 1e-6 && *v <= hi + 1e-6); } }
        }
    }
}
