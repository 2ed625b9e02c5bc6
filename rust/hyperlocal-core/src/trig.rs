//! Sine and cosine for the polygon path's projections (arguments within a few radians), by the fdlibm
//! algorithm (Sun Microsystems, 1993; as in musl's `__sin`/`__cos`): reduction by π/2 in two parts (Cody–Waite),
//! then the degree-13 sine and degree-14 cosine minimax polynomials on [−π/4, π/4]. Errors stay within one
//! unit in the last place (tested against the platform's `sin`/`cos`), at a fraction of the cost of libm's
//! correctly rounded versions. A pure function: results are the same on every machine with IEEE doubles.
//! (The constants are fdlibm's, digit for digit.)
#![allow(clippy::excessive_precision)]

const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
/// π/2 as a sum: the first 33 bits (so k·PIO2_1 is exact for |k| < 2^20), then the rest.
const PIO2_1: f64 = 1.570_796_326_734_125_614_17;
const PIO2_1T: f64 = 6.077_100_506_506_192_249_32e-11;

const S1: f64 = -1.666_666_666_666_663_243_48e-1;
const S2: f64 = 8.333_333_333_322_489_461_24e-3;
const S3: f64 = -1.984_126_982_985_794_931_34e-4;
const S4: f64 = 2.755_731_370_707_006_767_89e-6;
const S5: f64 = -2.505_076_025_340_686_341_95e-8;
const S6: f64 = 1.589_690_995_211_550_102_21e-10;

const C1: f64 = 4.166_666_666_666_660_190_37e-2;
const C2: f64 = -1.388_888_888_887_410_957_49e-3;
const C3: f64 = 2.480_158_728_947_672_941_78e-5;
const C4: f64 = -2.755_731_435_139_066_330_35e-7;
const C5: f64 = 2.087_572_321_298_174_827_90e-9;
const C6: f64 = -1.135_964_755_778_819_482_65e-11;

/// sin on [−π/4, π/4].
#[inline]
fn k_sin(x: f64) -> f64 {
    let z = x * x;
    let v = z * x;
    let r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    x + v * (S1 + z * r)
}

/// cos on [−π/4, π/4].
#[inline]
fn k_cos(x: f64) -> f64 {
    let z = x * x;
    let r = z * (C1 + z * (C2 + z * C3)) + z * z * z * z * (C4 + z * (C5 + z * C6));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + z * r)
}

/// x − k·π/2 with k the nearest integer to x/(π/2), and k mod 4. |x| < 2^19·π/2 (the callers' arguments are
/// angles of at most a few radians; beyond, the reduction would lose accuracy).
#[inline]
fn reduce(x: f64) -> (f64, u32) {
    let k = (x * INV_PIO2).round();
    ((x - k * PIO2_1) - k * PIO2_1T, (k as i64 & 3) as u32)
}

/// (sin x, cos x).
#[inline]
pub(crate) fn sin_cos(x: f64) -> (f64, f64) {
    if x.abs() <= std::f64::consts::FRAC_PI_4 {
        return (k_sin(x), k_cos(x));
    }
    if x.is_nan() || x.abs() >= 8.0e5 {
        return x.sin_cos(); // far outside the callers' range (or not finite): the library's own reduction
    }
    let (r, q) = reduce(x);
    let (s, c) = (k_sin(r), k_cos(r));
    match q {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// sin x.
#[inline]
pub(crate) fn sin(x: f64) -> f64 {
    if x.abs() <= std::f64::consts::FRAC_PI_4 {
        return k_sin(x);
    }
    if x.is_nan() || x.abs() >= 8.0e5 {
        return x.sin();
    }
    let (r, q) = reduce(x);
    match q {
        0 => k_sin(r),
        1 => k_cos(r),
        2 => -k_sin(r),
        _ => -k_cos(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place.
    fn ulps(a: f64, b: f64) -> f64 {
        if a == b {
            return 0.0;
        }
        let scale = f64::EPSILON * a.abs().max(b.abs()).max(f64::MIN_POSITIVE);
        (a - b).abs() / scale
    }

    #[test]
    fn within_one_ulp_of_the_library_and_continuous_at_the_octant_edges() {
        let mut worst: f64 = 0.0;
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..400_000 {
            // xorshift; arguments over ±7 rad (beyond the callers' ±π), denser near 0
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            let a = (u * 14.0 - 7.0) * if i % 4 == 0 { 1e-3 } else { 1.0 };
            let (s, c) = sin_cos(a);
            // Absolute error near zeros of sin/cos, relative elsewhere (as any fdlibm-type implementation).
            let es = if a.sin().abs() < 1e-3 {
                (s - a.sin()).abs() / f64::EPSILON
            } else {
                ulps(s, a.sin())
            };
            let ec = if a.cos().abs() < 1e-3 {
                (c - a.cos()).abs() / f64::EPSILON
            } else {
                ulps(c, a.cos())
            };
            worst = worst.max(es).max(ec);
            assert_eq!(sin(a).to_bits(), s.to_bits());
        }
        assert!(worst <= 1.0, "{worst} ulp");
        for &e in &[
            std::f64::consts::FRAC_PI_4,
            3.0 * std::f64::consts::FRAC_PI_4,
            -std::f64::consts::FRAC_PI_4,
        ] {
            for d in [-2e-16, 0.0, 2e-16] {
                let (s, c) = sin_cos(e + d);
                assert!(ulps(s, (e + d).sin()) <= 1.0 && ulps(c, (e + d).cos()) <= 1.0);
            }
        }
        assert_eq!(sin_cos(1e7), 1e7f64.sin_cos());
        assert!(sin_cos(f64::NAN).0.is_nan());
    }
}
