//! Hexagon (and pentagon) boundaries as OGC WKB polygons, for GeoParquet and plotting.

use h3o::CellIndex;
use rayon::prelude::*;

use crate::cells::{validate_cells, CHUNK};
use crate::error::Result;

fn push_polygon(buf: &mut Vec<u8>, cell: CellIndex) {
    let boundary = cell.boundary();
    let n = boundary.len();
    buf.push(1); // little endian
    buf.extend_from_slice(&3u32.to_le_bytes()); // Polygon
    buf.extend_from_slice(&1u32.to_le_bytes()); // one ring
    buf.extend_from_slice(&((n + 1) as u32).to_le_bytes());
    let mut first = None;
    for ll in boundary.iter() {
        let (x, y) = (ll.lng(), ll.lat());
        first.get_or_insert((x, y));
        buf.extend_from_slice(&x.to_le_bytes());
        buf.extend_from_slice(&y.to_le_bytes());
    }
    if let Some((x, y)) = first {
        buf.extend_from_slice(&x.to_le_bytes());
        buf.extend_from_slice(&y.to_le_bytes());
    }
}

/// WKB polygons (lng/lat degrees, counter-clockwise exterior ring, closed) of valid cells, as Arrow-style
/// (data, offsets) binary buffers. Cells that straddle the antimeridian are not split.
pub fn cell_to_boundary_wkb(cells: &[u64]) -> Result<(Vec<u8>, Vec<i64>)> {
    validate_cells("cells", cells)?;
    let parts: Vec<(Vec<u8>, Vec<u32>)> = cells
        .par_chunks(CHUNK / 8)
        .map(|c| {
            let mut data = Vec::with_capacity(c.len() * 125);
            let mut lens = Vec::with_capacity(c.len());
            for &v in c {
                let before = data.len();
                if let Ok(cell) = CellIndex::try_from(v) {
                    push_polygon(&mut data, cell);
                }
                lens.push((data.len() - before) as u32);
            }
            (data, lens)
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.0.len()).sum();
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(cells.len() + 1);
    offsets.push(0i64);
    let mut pos = 0i64;
    for (d, lens) in parts {
        data.extend_from_slice(&d);
        for l in lens {
            pos += i64::from(l);
            offsets.push(pos);
        }
    }
    Ok((data, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexagon_wkb_is_closed_seven_points() {
        let (d, o) = cell_to_boundary_wkb(&[0x8928308280fffff]).unwrap();
        assert_eq!(o, vec![0, 125]);
        assert_eq!(d[0], 1);
        assert_eq!(u32::from_le_bytes([d[9], d[10], d[11], d[12]]), 7);
        assert_eq!(&d[13..29], &d[13 + 6 * 16..29 + 6 * 16]);
    }
}
