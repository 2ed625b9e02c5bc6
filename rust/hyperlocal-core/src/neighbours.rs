//! The neighbour graph of a set of cells: for each cell, every other cell of the set within grid distance k.
//!
//! The graph is returned in compressed sparse row (CSR) form, rows in input order and each row's neighbours
//! sorted by their input index, so that smoothing, spatial lags and local statistics can work on it with
//! segment sums. Disks come from h3o's `grid_disk_distances` (the fast ring walk, with the always-correct
//! fallback near pentagons and their distortion), so a pentagon has 5 neighbours at k = 1, not 6.
//!
//! Rows are processed in fixed-size chunks by rayon and concatenated in row order: the output never depends on
//! the thread count.

use h3o::CellIndex;
use rayon::prelude::*;

use crate::cells::{validate_cells, CHUNK};
use crate::error::{HlError, Result, RowList};

/// Largest ring distance accepted (distances are stored as `u8`; a k-disk has 3k(k+1) + 1 cells, so this is
/// already ~200,000 neighbours per cell).
pub const MAX_K: u32 = 255;

/// A neighbour graph in CSR form: the neighbours of row `i` are `index[offsets[i]..offsets[i + 1]]`, at grid
/// distances `distance[offsets[i]..offsets[i + 1]]` (1..=k), sorted by index. A cell is not its own neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NeighbourGraph {
    pub offsets: Vec<u64>,
    pub index: Vec<u32>,
    pub distance: Vec<u8>,
}

/// The cells of the set sorted by value, each with its input row, for lookups by binary search.
fn sorted_lookup(cells: &[u64]) -> Vec<(u64, u32)> {
    let mut pairs: Vec<(u64, u32)> = cells
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i as u32))
        .collect();
    pairs.par_sort_unstable();
    pairs
}

/// Rows whose cell appeared at an earlier row (the later copies of a duplicated cell), in row order.
fn duplicate_rows(sorted: &[(u64, u32)]) -> RowList {
    let mut dup: Vec<usize> = sorted
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[1].1 as usize)
        .collect();
    dup.sort_unstable();
    let mut rows = RowList::default();
    for r in dup {
        rows.push(r);
    }
    rows
}

/// Check the set: valid cells, all at the resolution of the first, each once.
fn validate_set(cells: &[u64], sorted: &[(u64, u32)]) -> Result<()> {
    validate_cells("cells", cells)?;
    if let Some(&first) = cells.first() {
        let res = CellIndex::try_from(first)
            .map(|c| c.resolution())
            .map_err(|_| HlError::Internal("validated cell is invalid".into()))?;
        let other = crate::cells::rows_where(cells, |c| {
            CellIndex::try_from(c)
                .map(|c| c.resolution() != res)
                .unwrap_or(true)
        });
        if !other.is_empty() {
            return Err(HlError::InvalidValues {
                arg: "cells".into(),
                rows: other,
                expected: format!(
                    "cells of one resolution (the first row is at resolution {})",
                    u8::from(res)
                ),
            });
        }
    }
    let dup = duplicate_rows(sorted);
    if !dup.is_empty() {
        return Err(HlError::InvalidValues {
            arg: "cells".into(),
            rows: dup,
            expected: "each cell once (these rows repeat a cell of an earlier row)".into(),
        });
    }
    Ok(())
}

/// Neighbours of one cell within the set: (input index, ring distance), sorted by index, itself excluded.
fn row_neighbours(cell: CellIndex, k: u32, sorted: &[(u64, u32)], out: &mut Vec<(u32, u8)>) {
    out.clear();
    let disk: Vec<(CellIndex, u32)> = cell.grid_disk_distances(k);
    for (c, d) in disk {
        if d == 0 {
            continue;
        }
        let key = u64::from(c);
        if let Ok(pos) = sorted.binary_search_by(|p| p.0.cmp(&key)) {
            // d <= k <= MAX_K = 255, so the narrowing is exact.
            out.push((sorted[pos].1, d.min(MAX_K) as u8));
        }
    }
    out.sort_unstable();
}

/// For each cell of `cells` (valid, one resolution, each once), every other cell of the set within grid
/// distance `k` (1..=[`MAX_K`]), as a CSR graph in input order with neighbours sorted by index.
///
/// Cells of the disk that are not in the set are dropped, so cells at the edge of the set have fewer
/// neighbours. The graph is symmetric (grid distance is).
pub fn grid_neighbours(cells: &[u64], k: u32) -> Result<NeighbourGraph> {
    if k == 0 || k > MAX_K {
        return Err(HlError::Internal(format!(
            "k = {k}: expected 1..={MAX_K} (checked by the caller)"
        )));
    }
    if u32::try_from(cells.len()).is_err() {
        return Err(HlError::Internal(format!(
            "{} cells: at most {} are supported",
            cells.len(),
            u32::MAX
        )));
    }
    let sorted = sorted_lookup(cells);
    validate_set(cells, &sorted)?;
    let parts: Vec<(Vec<u64>, Vec<u32>, Vec<u8>)> = cells
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut counts = Vec::with_capacity(chunk.len());
            let mut index = Vec::new();
            let mut distance = Vec::new();
            if crate::cancel::requested() {
                return (counts, index, distance);
            }
            let mut row = Vec::new();
            for &c in chunk {
                if let Ok(cell) = CellIndex::try_from(c) {
                    row_neighbours(cell, k, &sorted, &mut row);
                } else {
                    row.clear();
                }
                counts.push(row.len() as u64);
                index.extend(row.iter().map(|&(i, _)| i));
                distance.extend(row.iter().map(|&(_, d)| d));
            }
            (counts, index, distance)
        })
        .collect();
    crate::cancel::check()?;
    let total: usize = parts.iter().map(|p| p.1.len()).sum();
    let mut graph = NeighbourGraph {
        offsets: Vec::with_capacity(cells.len() + 1),
        index: Vec::with_capacity(total),
        distance: Vec::with_capacity(total),
    };
    let mut end = 0u64;
    graph.offsets.push(0);
    for (counts, index, distance) in parts {
        for n in counts {
            end += n;
            graph.offsets.push(end);
        }
        graph.index.extend(index);
        graph.distance.extend(distance);
    }
    Ok(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use h3o::{LatLng, Resolution};

    fn disk(lat: f64, lng: f64, res: Resolution, k: u32) -> Vec<u64> {
        let c = LatLng::new(lat, lng).unwrap().to_cell(res);
        let mut v: Vec<u64> = c
            .grid_disk::<Vec<_>>(k)
            .into_iter()
            .map(u64::from)
            .collect();
        v.sort_unstable();
        v
    }

    fn row(g: &NeighbourGraph, i: usize) -> (&[u32], &[u8]) {
        let (a, b) = (g.offsets[i] as usize, g.offsets[i + 1] as usize);
        (&g.index[a..b], &g.distance[a..b])
    }

    #[test]
    fn hexagon_has_six_neighbours_at_k1_and_eighteen_at_k2() {
        let res = Resolution::Eight;
        let centre = u64::from(LatLng::new(51.5, -0.12).unwrap().to_cell(res));
        let cells = disk(51.5, -0.12, res, 3);
        let i = cells.iter().position(|&c| c == centre).unwrap();
        let g1 = grid_neighbours(&cells, 1).unwrap();
        let (idx, dist) = row(&g1, i);
        assert_eq!(idx.len(), 6);
        assert!(dist.iter().all(|&d| d == 1));
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        let g2 = grid_neighbours(&cells, 2).unwrap();
        let (idx, dist) = row(&g2, i);
        assert_eq!(idx.len(), 18);
        assert_eq!(dist.iter().filter(|&&d| d == 1).count(), 6);
        assert_eq!(dist.iter().filter(|&&d| d == 2).count(), 12);
        assert_eq!(*g2.offsets.last().unwrap() as usize, g2.index.len());
    }

    #[test]
    fn pentagon_has_five_neighbours() {
        for res in [Resolution::Two, Resolution::Seven] {
            let pent = CellIndex::base_cells().find(|b| b.is_pentagon()).unwrap();
            let pent = pent.center_child(res).unwrap();
            assert!(pent.is_pentagon());
            let mut cells: Vec<u64> = pent
                .grid_disk::<Vec<_>>(2)
                .into_iter()
                .map(u64::from)
                .collect();
            cells.sort_unstable();
            let i = cells.iter().position(|&c| c == u64::from(pent)).unwrap();
            let g = grid_neighbours(&cells, 1).unwrap();
            assert_eq!(row(&g, i).0.len(), 5);
            let g2 = grid_neighbours(&cells, 2).unwrap();
            // a pentagon's 2-disk holds 1 + 5 + 10 cells
            assert_eq!(row(&g2, i).0.len(), 15);
            assert_symmetric(&g2);
        }
    }

    fn assert_symmetric(g: &NeighbourGraph) {
        let n = g.offsets.len() - 1;
        for i in 0..n {
            let (idx, dist) = row(g, i);
            for (&j, &d) in idx.iter().zip(dist) {
                let (back, bd) = row(g, j as usize);
                let p = back.binary_search(&(i as u32)).unwrap();
                assert_eq!(bd[p], d);
            }
        }
    }

    #[test]
    fn graph_is_symmetric_and_drops_cells_outside_the_set() {
        let cells = disk(53.48, -2.24, Resolution::Nine, 4);
        // shuffle deterministically so that input order is not sorted order
        let mut cells: Vec<u64> = cells.iter().rev().copied().collect();
        cells.rotate_left(7);
        let g = grid_neighbours(&cells, 2).unwrap();
        assert_symmetric(&g);
        assert_eq!(g.offsets.len(), cells.len() + 1);
        // an edge cell of the 4-disk has fewer than 18 neighbours inside the set
        let min = (0..cells.len()).map(|i| row(&g, i).0.len()).min().unwrap();
        assert!(min < 18);
        assert!(g.index.iter().all(|&j| (j as usize) < cells.len()));
    }

    #[test]
    fn bad_sets_are_rejected_with_rows() {
        let mut cells = disk(51.5, -0.12, Resolution::Eight, 1);
        cells.push(cells[2]);
        match grid_neighbours(&cells, 1) {
            Err(HlError::InvalidValues { rows, .. }) => assert_eq!(rows.first, vec![7]),
            other => panic!("{other:?}"),
        }
        let mut cells = disk(51.5, -0.12, Resolution::Eight, 1);
        cells.push(u64::from(
            LatLng::new(51.5, -0.12).unwrap().to_cell(Resolution::Seven),
        ));
        match grid_neighbours(&cells, 1) {
            Err(HlError::InvalidValues { rows, .. }) => assert_eq!(rows.first, vec![7]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            grid_neighbours(&[1, 2], 1),
            Err(HlError::InvalidValues { .. })
        ));
        assert!(grid_neighbours(&cells[..3], 0).is_err());
        assert_eq!(
            grid_neighbours(&[], 1).unwrap(),
            NeighbourGraph {
                offsets: vec![0],
                ..Default::default()
            }
        );
    }

    #[test]
    fn same_graph_with_one_thread() {
        let cells = disk(52.0, 0.1, Resolution::Ten, 30);
        let a = grid_neighbours(&cells, 2).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = pool.install(|| grid_neighbours(&cells, 2).unwrap());
        assert_eq!(a, b);
    }
}
