//! Points to H3 cells and cell utilities (parent, validation, string form), over contiguous slices.
//!
//! Work is split into fixed-size chunks ([`CHUNK`]) processed by rayon; each output element depends only on
//! its own input row, and chunk results are merged in row order, so output never depends on thread count.

use h3o::{CellIndex, LatLng, Resolution};
use rayon::prelude::*;

use crate::error::{check_len, HlError, Result, RowList};

/// Rows per parallel work unit.
pub const CHUNK: usize = 1 << 16;

/// Points per work unit of [`latlng_to_cell_into`]: small enough that a table of a few hundred thousand
/// points keeps both threads busy to the end (3 units of 64 Ki on 2 threads left one idle a third of the time).
const POINT_CHUNK: usize = 1 << 13;

/// What to do with rows that fail validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    /// Fail with [`HlError::InvalidValues`] naming the rows (the default everywhere).
    Raise,
    /// Keep going: the row gets no cell (0, which is never a valid H3 index) and is counted.
    Skip,
}

/// Parse an H3 resolution, 0..=15.
pub fn resolution(r: i64) -> Result<Resolution> {
    u8::try_from(r)
        .ok()
        .and_then(|r| Resolution::try_from(r).ok())
        .ok_or(HlError::InvalidResolution { got: r })
}

/// Is (lat, lng) a usable WGS84 coordinate in degrees: finite, |lat| <= 90, |lng| <= 180.
#[inline(always)]
pub fn valid_latlng(lat: f64, lng: f64) -> bool {
    lat.is_finite() && lng.is_finite() && lat.abs() <= 90.0 && lng.abs() <= 180.0
}

/// One point to its cell (h3o's cell, bit for bit: see [`crate::fastcell`]). The caller has validated the
/// point.
#[inline(always)]
pub fn point_cell(lat: f64, lng: f64, res: Resolution) -> u64 {
    crate::fastcell::latlng_to_cell(lat, lng, u8::from(res))
}

/// Lat/lng (degrees, WGS84) to H3 cells, written into `out`. Returns the rows that were invalid (empty unless
/// `on_invalid` is [`OnInvalid::Skip`]; with `Raise` any invalid row is an error naming them).
///
/// The cell of a valid point is the one h3o computes (see [`crate::fastcell`]), identical to the reference H3
/// library except for points within about 1e-10° of a cell edge, where the two round differently.
pub fn latlng_to_cell_into(
    lat: &[f64],
    lng: &[f64],
    res: Resolution,
    on_invalid: OnInvalid,
    out: &mut [u64],
) -> Result<RowList> {
    cells_into(lat, lng, res, None, on_invalid, out)
}

/// The nested convention in one pass: each point's res-15 cell, then its ancestor at `res` (digits below
/// `res` set to 7, the resolution field set to `res`), written into `out`. Invalid points as in
/// [`latlng_to_cell_into`].
pub fn latlng_to_cell_nested_into(
    lat: &[f64],
    lng: &[f64],
    res: Resolution,
    on_invalid: OnInvalid,
    out: &mut [u64],
) -> Result<RowList> {
    cells_into(lat, lng, Resolution::Fifteen, Some(res), on_invalid, out)
}

/// The ancestor at `res` of a valid cell at a finer resolution (bit operations only).
#[inline(always)]
fn truncate_cell(c: u64, res: u8) -> u64 {
    let below = 3 * (15 - u32::from(res));
    let low = if below == 0 { 0 } else { (1u64 << below) - 1 };
    (c & !(0xF << 52)) | (u64::from(res) << 52) | low
}

fn cells_into(
    lat: &[f64],
    lng: &[f64],
    res: Resolution,
    truncate_to: Option<Resolution>,
    on_invalid: OnInvalid,
    out: &mut [u64],
) -> Result<RowList> {
    check_len("lng", lng.len(), "lat", lat.len())?;
    check_len("out", out.len(), "lat", lat.len())?;
    let bad: Vec<RowList> = out
        .par_chunks_mut(POINT_CHUNK)
        .enumerate()
        .map(|(ci, o)| {
            let start = ci * POINT_CHUNK;
            let la = &lat[start..start + o.len()];
            let ln = &lng[start..start + o.len()];
            let mut bad = RowList::default();
            if crate::cancel::requested() {
                return bad;
            }
            if la.iter().zip(ln).all(|(&y, &x)| valid_latlng(y, x)) {
                crate::fastcell::latlng_to_cell_slice(la, ln, u8::from(res), o);
            } else {
                for (i, ((slot, &y), &x)) in o.iter_mut().zip(la).zip(ln).enumerate() {
                    if valid_latlng(y, x) {
                        *slot = point_cell(y, x, res);
                    } else {
                        *slot = 0;
                        bad.push(start + i);
                    }
                }
            }
            if let Some(t) = truncate_to {
                let t = u8::from(t);
                for c in o.iter_mut().filter(|c| **c != 0) {
                    *c = truncate_cell(*c, t);
                }
            }
            bad
        })
        .collect();
    crate::cancel::check()?;
    let mut all = RowList::default();
    for b in bad {
        all.extend(b);
    }
    if !all.is_empty() && on_invalid == OnInvalid::Raise {
        return Err(HlError::InvalidValues {
            arg: "lat/lng".into(),
            rows: all,
            expected: "finite WGS84 degrees (not null or NaN) with -90 <= lat <= 90 and -180 <= lng <= 180".into(),
        });
    }
    Ok(all)
}

/// Allocating form of [`latlng_to_cell_into`].
pub fn latlng_to_cell(
    lat: &[f64],
    lng: &[f64],
    res: Resolution,
    on_invalid: OnInvalid,
) -> Result<(Vec<u64>, RowList)> {
    let mut out = vec![0u64; lat.len()];
    let bad = latlng_to_cell_into(lat, lng, res, on_invalid, &mut out)?;
    Ok((out, bad))
}

/// Check that every value is a valid H3 cell index; the error names the rows that are not.
pub fn validate_cells(arg: &str, cells: &[u64]) -> Result<()> {
    let bad = rows_where(cells, |c| CellIndex::try_from(c).is_err());
    if bad.is_empty() {
        Ok(())
    } else {
        Err(HlError::InvalidValues {
            arg: arg.to_owned(),
            rows: bad,
            expected: "valid H3 cell indices (UInt64)".into(),
        })
    }
}

/// Rows of `values` for which `pred` holds, counted in parallel, merged in row order.
pub fn rows_where<T: Sync + Copy>(values: &[T], pred: impl Fn(T) -> bool + Sync) -> RowList {
    let parts: Vec<RowList> = values
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(ci, c)| {
            let mut bad = RowList::default();
            for (i, &v) in c.iter().enumerate() {
                if pred(v) {
                    bad.push(ci * CHUNK + i);
                }
            }
            bad
        })
        .collect();
    let mut all = RowList::default();
    for p in parts {
        all.extend(p);
    }
    all
}

/// Resolution of each cell (validated).
pub fn cell_resolutions(cells: &[u64]) -> Result<Vec<u8>> {
    validate_cells("cells", cells)?;
    Ok(cells
        .par_iter()
        .map(|&c| {
            CellIndex::try_from(c)
                .map(|c| u8::from(c.resolution()))
                .unwrap_or(255)
        })
        .collect())
}

/// Parent of each cell at `res`. Every cell must be valid and at resolution >= `res`.
pub fn cell_to_parent(cells: &[u64], res: Resolution) -> Result<Vec<u64>> {
    // One pass: the parent, or a marker (never a cell index: mode bits 0) for an invalid or too coarse cell;
    // the error lists are built only when a marker is seen.
    const INVALID: u64 = 1;
    const TOO_COARSE: u64 = 2;
    let out: Vec<u64> = cells
        .par_iter()
        .map(|&c| match CellIndex::try_from(c) {
            Ok(cell) => cell.parent(res).map_or(TOO_COARSE, u64::from),
            Err(_) => INVALID,
        })
        .collect();
    if out.par_iter().any(|&p| p == INVALID || p == TOO_COARSE) {
        validate_cells("cells", cells)?;
        return Err(HlError::InvalidValues {
            arg: "cells".into(),
            rows: rows_where(&out, |p| p == TOO_COARSE),
            expected: format!(
                "cells at resolution >= {} (the parent resolution)",
                u8::from(res)
            ),
        });
    }
    Ok(out)
}

/// Centre (lat, lng) in degrees of each valid cell.
pub fn cell_to_latlng(cells: &[u64]) -> Result<(Vec<f64>, Vec<f64>)> {
    validate_cells("cells", cells)?;
    Ok(cells
        .par_iter()
        .map(|&c| {
            CellIndex::try_from(c)
                .map(|c| {
                    let ll = LatLng::from(c);
                    (ll.lat(), ll.lng())
                })
                .unwrap_or((f64::NAN, f64::NAN))
        })
        .unzip())
}

/// Lower-case hexadecimal strings of valid cells, as an Arrow-style (data, offsets) pair.
pub fn cell_to_string(cells: &[u64]) -> Result<(Vec<u8>, Vec<i64>)> {
    validate_cells("cells", cells)?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let parts: Vec<(Vec<u8>, Vec<u32>)> = cells
        .par_chunks(CHUNK)
        .map(|c| {
            let mut data = Vec::with_capacity(c.len() * 15);
            let mut lens = Vec::with_capacity(c.len());
            for &v in c {
                let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
                for k in (0..digits).rev() {
                    data.push(HEX[((v >> (4 * k)) & 0xf) as usize]);
                }
                lens.push(digits);
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
    fn nested_cells_are_the_res15_cells_ancestors() {
        let lat: Vec<f64> = (0..3000).map(|i| -80.0 + f64::from(i) * 0.0531).collect();
        let lng: Vec<f64> = (0..3000).map(|i| -179.0 + f64::from(i) * 0.1193).collect();
        let (fine, _) = latlng_to_cell(&lat, &lng, Resolution::Fifteen, OnInvalid::Raise).unwrap();
        for r in [0u8, 3, 9, 14, 15] {
            let res = Resolution::try_from(r).unwrap();
            let mut out = vec![0u64; lat.len()];
            latlng_to_cell_nested_into(&lat, &lng, res, OnInvalid::Raise, &mut out).unwrap();
            let want: Vec<u64> = fine
                .iter()
                .map(|&c| u64::from(CellIndex::try_from(c).unwrap().parent(res).unwrap()))
                .collect();
            assert_eq!(out, want, "res {r}");
        }
    }

    #[test]
    fn known_cell_matches_h3_reference() {
        let r = resolution(9).unwrap_or(Resolution::Zero);
        let (c, bad) =
            latlng_to_cell(&[37.3615593], &[-122.0553238], r, OnInvalid::Raise).unwrap_or_default();
        assert!(bad.is_empty());
        // h3-py 4.5.0: h3.latlng_to_cell(37.3615593, -122.0553238, 9) == '89283470d93ffff'.
        assert_eq!(c, vec![0x89283470d93ffff]);
    }

    #[test]
    fn invalid_points_are_named() {
        let r = Resolution::Five;
        let lat = [0.0, f64::NAN, 91.0, 10.0];
        let lng = [0.0, 0.0, 0.0, 181.0];
        let e = latlng_to_cell(&lat, &lng, r, OnInvalid::Raise).err();
        match e {
            Some(HlError::InvalidValues { rows, .. }) => {
                assert_eq!(rows.count, 3);
                assert_eq!(rows.first, vec![1, 2, 3]);
            }
            other => panic!("unexpected {other:?}"),
        }
        let (c, bad) = latlng_to_cell(&lat, &lng, r, OnInvalid::Skip).unwrap_or_default();
        assert_eq!(bad.count, 3);
        assert_ne!(c[0], 0);
        assert_eq!(&c[1..], &[0, 0, 0]);
    }

    #[test]
    fn resolution_bounds() {
        assert!(resolution(-1).is_err());
        assert!(resolution(16).is_err());
        assert!(resolution(15).is_ok());
    }

    #[test]
    fn strings_and_parents() {
        let (d, o) = cell_to_string(&[0x8928308280fffff]).unwrap_or_default();
        assert_eq!(std::str::from_utf8(&d).unwrap_or(""), "8928308280fffff");
        assert_eq!(o, vec![0, 15]);
        let p = cell_to_parent(&[0x8928308280fffff], Resolution::Five).unwrap_or_default();
        assert_eq!(p, vec![0x85283083fffffff]);
        assert!(cell_to_parent(&[0x85283083fffffff], Resolution::Nine).is_err());
        assert!(validate_cells("c", &[0, 1]).is_err());
    }
}
