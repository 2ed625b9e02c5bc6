//! Arrow binary/string *view* arrays (the layout Polars keeps its String and Binary columns in), read in place:
//! each value is a 16-byte view, its length (u32, little-endian) then either the bytes themselves (up to 12,
//! inline) or a 4-byte prefix, the number of the data buffer holding them and their offset there (u32 each).

use crate::error::{HlError, Result};

/// The values of a view array, validated once (every view points inside its buffer).
pub struct Views<'a> {
    views: &'a [u8],
    buffers: Vec<&'a [u8]>,
}

#[inline]
fn u32_at(v: &[u8], k: usize) -> usize {
    u32::from_le_bytes([v[k], v[k + 1], v[k + 2], v[k + 3]]) as usize
}

impl<'a> Views<'a> {
    /// `views` (16 bytes per value) over `buffers`; `what` names the column in the error for a malformed array.
    pub fn new(views: &'a [u8], buffers: Vec<&'a [u8]>, what: &str) -> Result<Self> {
        let bad = || HlError::Unsupported {
            arg: what.into(),
            message: "malformed Arrow binary views".into(),
        };
        if !views.len().is_multiple_of(16) {
            return Err(bad());
        }
        for v in views.chunks_exact(16) {
            let len = u32_at(v, 0);
            if len > 12 {
                let (b, off) = (u32_at(v, 8), u32_at(v, 12));
                let end = off.checked_add(len).ok_or_else(bad)?;
                if buffers.get(b).is_none_or(|b| end > b.len()) {
                    return Err(bad());
                }
            }
        }
        Ok(Views { views, buffers })
    }

    pub fn len(&self) -> usize {
        self.views.len() / 16
    }

    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    /// Value `i` (validated in [`Views::new`]).
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let v = &self.views[16 * i..16 * i + 16];
        let len = u32_at(v, 0);
        if len <= 12 {
            &v[4..4 + len]
        } else {
            let (b, off) = (u32_at(v, 8), u32_at(v, 12));
            &self.buffers[b][off..off + len]
        }
    }

    /// Is value `i` equal to value `j` of `other` (of another array: equal views may point into different
    /// buffers). Two inline values (the common case, codes of up to 12 bytes) are equal when their views are,
    /// the format padding inline bytes with zeros (a producer that did not would only make this say "not
    /// equal", and the caller take its slower path); otherwise the lengths and prefixes, then the bytes.
    #[inline]
    fn same(&self, i: usize, other: &Views<'_>, j: usize) -> bool {
        let (a, b) = (self.raw(i), other.raw(j));
        let inline = |v: u128| (v as u32) <= 12;
        if inline(a) && inline(b) {
            return a == b;
        }
        (a as u64) == (b as u64) && self.get(i) == other.get(j)
    }

    /// View `i` as one number: within one array, equal views are equal values (the same inline bytes, or the
    /// same bytes in the same buffer).
    #[inline]
    fn raw(&self, i: usize) -> u128 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.views[16 * i..16 * i + 16]);
        u128::from_le_bytes(b)
    }
}

/// When `rows` lists exactly the values of `codes` in order, each as one run of equal values (a table's rows
/// grouped by its unique codes, e.g. a crosswalk of that very table), the index in `codes` of each row's value
/// (its run's number); else None.
pub fn run_index(rows: &Views<'_>, codes: &Views<'_>) -> Option<Vec<u32>> {
    let (n, m) = (rows.len(), codes.len());
    if n < m {
        return None;
    }
    if m == 0 {
        return (n == 0).then(Vec::new);
    }
    if !rows.same(0, codes, 0) {
        return None;
    }
    let mut index = Vec::with_capacity(n);
    index.push(0u32);
    let mut k = 0usize;
    // Most neighbours are the same view (rows of one area): one 16-byte comparison each.
    let mut prev = rows.raw(0);
    for (i, v) in rows.views.chunks_exact(16).enumerate().skip(1) {
        let mut b = [0u8; 16];
        b.copy_from_slice(v);
        let cur = u128::from_le_bytes(b);
        if !(cur == prev || rows.same(i, rows, i - 1)) {
            k += 1;
            if k >= m || !rows.same(i, codes, k) {
                return None;
            }
        }
        prev = cur;
        index.push(k as u32);
    }
    (k + 1 == m).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Views and one data buffer for `values` (inline up to 12 bytes).
    fn build(values: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let (mut views, mut data) = (Vec::new(), Vec::new());
        for v in values {
            let b = v.as_bytes();
            views.extend_from_slice(&(b.len() as u32).to_le_bytes());
            if b.len() <= 12 {
                let mut inline = [0u8; 12];
                inline[..b.len()].copy_from_slice(b);
                views.extend_from_slice(&inline);
            } else {
                views.extend_from_slice(&b[..4]);
                views.extend_from_slice(&0u32.to_le_bytes());
                views.extend_from_slice(&(data.len() as u32).to_le_bytes());
                data.extend_from_slice(b);
            }
        }
        (views, data)
    }

    #[test]
    fn runs_match_codes_in_order_or_not_at_all() {
        let long = "E01000001-a-long-code";
        let codes = ["E00000001", long, "E00000003"];
        let (cv, cd) = build(&codes);
        let c = Views::new(&cv, vec![&cd], "codes").unwrap_or_else(|e| unreachable!("{e}"));
        let check = |rows: &[&str], want: Option<Vec<u32>>| {
            let (rv, rd) = build(rows);
            let r = Views::new(&rv, vec![&rd], "rows").unwrap_or_else(|e| unreachable!("{e}"));
            // Run lengths of the index.
            let got = run_index(&r, &c).map(|ix| {
                let mut runs = vec![0u32; c.len()];
                ix.iter().for_each(|&k| runs[k as usize] += 1);
                runs
            });
            assert_eq!(got, want, "{rows:?}");
        };
        check(
            &["E00000001", long, long, "E00000003", "E00000003"],
            Some(vec![1, 2, 2]),
        );
        check(&["E00000001", long, "E00000003"], Some(vec![1, 1, 1]));
        // An area missing, out of order, split in two runs, an extra code, or a long code differing after its
        // prefix: not runs of the codes.
        check(&["E00000001", "E00000003"], None);
        check(&[long, "E00000001", "E00000003"], None);
        check(&["E00000001", long, "E00000001", "E00000003"], None);
        check(&["E00000001", long, "E00000003", "E00000004"], None);
        check(&["E00000001", "E01000001-a-long-codX", "E00000003"], None);
        assert_eq!(c.get(1), long.as_bytes());
    }

    #[test]
    fn malformed_views_are_an_error() {
        let (mut v, d) = build(&["E01000001-a-long-code"]);
        v[12] = 200; // offset past the buffer
        assert!(Views::new(&v, vec![&d], "codes").is_err());
        assert!(Views::new(&v[..15], vec![&d], "codes").is_err());
        v[8] = 1; // no buffer 1
        assert!(Views::new(&v, vec![&d], "codes").is_err());
    }
}
