//! British National Grid (EPSG:27700, OSGB36 / Airy 1830, Transverse Mercator) to WGS84 (EPSG:4326).
//!
//! Method, in two exact steps and one datum shift:
//! 1. inverse Transverse Mercator on the Airy 1830 ellipsoid, by the series in Ordnance Survey, *A guide to
//!    coordinate systems in Great Britain* (2020), Annex C (sub-millimetre within the grid);
//! 2. OSGB36 geodetic → cartesian → 7-parameter Helmert (position-vector convention, EPSG:1314 "OSGB36 to
//!    WGS 84 (6)": tx 446.448 m, ty −125.157 m, tz 542.060 m, rx 0.1502″, ry 0.2470″, rz 0.8421″,
//!    s −20.4894 ppm) → WGS84 geodetic.
//!
//! This is the transformation PROJ/pyproj uses for EPSG:27700 → EPSG:4326 when the OSTN15 grid is not
//! installed. Against the definitive OSTN15 transformation the Helmert shift is good to about 2–5 m across
//! Great Britain (OS quotes "up to 3.5 m"); for placing points in H3 cells of res ≤ 11 (edge ≥ 25 m) that is ample.

use rayon::prelude::*;

use crate::cells::CHUNK;
use crate::error::{check_len, HlError, Result, RowList};

/// Valid extent of the grid (metres): the lettered 100 km squares, E 0..700 km, N 0..1300 km.
pub const EASTING_RANGE: (f64, f64) = (0.0, 700_000.0);
pub const NORTHING_RANGE: (f64, f64) = (0.0, 1_300_000.0);

const AIRY_A: f64 = 6_377_563.396;
const AIRY_B: f64 = 6_356_256.909;
const F0: f64 = 0.999_601_271_7;
const E0: f64 = 400_000.0;
const N0: f64 = -100_000.0;
const WGS84_A: f64 = 6_378_137.0;
const WGS84_F: f64 = 1.0 / 298.257_223_563;

#[inline(always)]
pub fn valid_bng(e: f64, n: f64) -> bool {
    e.is_finite()
        && n.is_finite()
        && (EASTING_RANGE.0..=EASTING_RANGE.1).contains(&e)
        && (NORTHING_RANGE.0..=NORTHING_RANGE.1).contains(&n)
}

/// One grid coordinate (metres) to WGS84 (lat, lng) in degrees. The caller has validated it.
pub fn bng_point(e: f64, n: f64) -> (f64, f64) {
    let [sp, cp, sl, cl] = bng_trig(e, n);
    (sp.atan2(cp).to_degrees(), sl.atan2(cl).to_degrees())
}

/// One grid coordinate (metres) to the WGS84 geodetic latitude φ and longitude λ as
/// `[sin φ, cos φ, sin λ, cos λ]` (unnormalised pairs: sin φ / cos φ and sin λ / cos λ are exact ratios, each
/// pair has unit norm to rounding), without computing the angles. The caller has validated it.
pub fn bng_trig(e: f64, n: f64) -> [f64; 4] {
    let [sp, cp, sl, cl] = inverse_tm_trig(e, n);
    let (x, y, z) = geodetic_to_cartesian(sp, cp, sl, cl, AIRY_A, AIRY_B);
    let (x, y, z) = helmert(x, y, z);
    cartesian_to_geodetic(x, y, z, WGS84_A, WGS84_A * (1.0 - WGS84_F))
}

/// Meridional arc M(φ) (OS guide, Annex C, eq. C3), with the multiple angles from one sin_cos of each of
/// φ − φ0 and φ + φ0.
#[cfg(test)]
fn meridional_arc(phi: f64, phi0: f64, n: f64) -> f64 {
    let (n2, n3) = (n * n, n * n * n);
    let (sd, cd) = (phi - phi0).sin_cos();
    let (ss, cs) = (phi + phi0).sin_cos();
    let d = phi - phi0;
    let sin2d = 2.0 * sd * cd;
    let cos2s = 1.0 - 2.0 * ss * ss;
    let sin3d = sd * (3.0 - 4.0 * sd * sd);
    let cos3s = cs * (4.0 * cs * cs - 3.0);
    AIRY_B
        * F0
        * ((1.0 + n + 1.25 * n2 + 1.25 * n3) * d - (3.0 * n + 3.0 * n2 + 2.625 * n3) * sd * cs
            + (1.875 * n2 + 1.875 * n3) * sin2d * cos2s
            - (35.0 / 24.0) * n3 * sin3d * cos3s)
}

/// The inverse of the OS meridional arc as a Fourier series. By the product-to-sum identities the OS arc is
/// M(φ) = G(φ) − G(φ0) with G(φ) = b·F0·A·(φ + h(φ)), h(φ) = −(B/2A) sin 2φ + (C/2A) sin 4φ − (D/2A) sin 6φ
/// (A, B, C, D the OS coefficients in n). So the footpoint latitude of northing N is φ' = μ + Σ β_k sin 2kμ with
/// μ = (N − N0 + G(φ0)) / (b·F0·A), the β_k being the sine coefficients of the inverse of φ ↦ φ + h(φ) (an odd,
/// π-periodic correction): computed once, numerically (Newton at 64 points, then a discrete sine transform).
/// β_k falls like n^k (n ≈ 0.0017), so six terms leave ~1e-18 rad: the footpoint solves the OS arc equation to
/// far better than a micrometre (tested), with one `sin_cos` per point.
struct Footpoint {
    /// G(φ0) / (b·F0·A) and 1 / (b·F0·A).
    mu0: f64,
    inv_scale: f64,
    beta: [f64; 6],
}

fn footpoint_series() -> &'static Footpoint {
    static T: std::sync::OnceLock<Footpoint> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let n = (AIRY_A - AIRY_B) / (AIRY_A + AIRY_B);
        let (n2, n3) = (n * n, n * n * n);
        let a = 1.0 + n + 1.25 * n2 + 1.25 * n3;
        let b = 3.0 * n + 3.0 * n2 + 2.625 * n3;
        let c = 1.875 * n2 + 1.875 * n3;
        let d = (35.0 / 24.0) * n3;
        let (h2, h4, h6) = (-b / (2.0 * a), c / (2.0 * a), -d / (2.0 * a));
        let h = |p: f64| h2 * (2.0 * p).sin() + h4 * (4.0 * p).sin() + h6 * (6.0 * p).sin();
        let dh = |p: f64| {
            2.0 * h2 * (2.0 * p).cos() + 4.0 * h4 * (4.0 * p).cos() + 6.0 * h6 * (6.0 * p).cos()
        };
        const K: usize = 64;
        let mut delta = [0.0f64; K];
        for (j, dj) in delta.iter_mut().enumerate() {
            let mu = j as f64 * std::f64::consts::PI / K as f64;
            let mut p = mu;
            for _ in 0..20 {
                p -= (p + h(p) - mu) / (1.0 + dh(p));
            }
            *dj = p - mu;
        }
        let mut beta = [0.0f64; 6];
        for (k, bk) in beta.iter_mut().enumerate() {
            let f = 2.0 * (k + 1) as f64;
            *bk = (2.0 / K as f64)
                * delta
                    .iter()
                    .enumerate()
                    .map(|(j, dj)| dj * (f * j as f64 * std::f64::consts::PI / K as f64).sin())
                    .sum::<f64>();
        }
        let phi0 = 49f64.to_radians();
        let scale = AIRY_B * F0 * a;
        Footpoint {
            mu0: phi0 + h(phi0),
            inv_scale: 1.0 / scale,
            beta,
        }
    })
}

/// sin and cos of a small angle x (|x| < 0.01 here) by their Taylor series (error below x⁹/9! ≈ 3e-24).
#[inline]
fn small_sin_cos(x: f64) -> (f64, f64) {
    // Multiplications by the reciprocals (a division each would dominate the cost).
    let x2 = x * x;
    let s = x * (1.0 - x2 * (1.0 / 6.0) * (1.0 - x2 * (1.0 / 20.0) * (1.0 - x2 * (1.0 / 42.0))));
    let c = 1.0
        - x2 * 0.5
            * (1.0 - x2 * (1.0 / 12.0) * (1.0 - x2 * (1.0 / 30.0) * (1.0 - x2 * (1.0 / 56.0))));
    (s, c)
}

/// The footpoint latitude φ' (M(φ') = N − N0, OS guide C.6) with its sine and cosine.
fn footpoint_trig(north: f64) -> (f64, f64, f64) {
    let f = footpoint_series();
    let mu = (north - N0) * f.inv_scale + f.mu0;
    let (sm, cm) = mu.sin_cos();
    // Clenshaw summation of Σ β_k sin(2kμ).
    let (s2, c2) = (2.0 * sm * cm, 1.0 - 2.0 * sm * sm);
    let (mut b1, mut b2) = (0.0f64, 0.0f64);
    for &bk in f.beta.iter().rev() {
        let b0 = bk + 2.0 * c2 * b1 - b2;
        b2 = b1;
        b1 = b0;
    }
    let d = b1 * s2;
    let (sd, cd) = small_sin_cos(d);
    (mu + d, sm * cd + cm * sd, cm * cd - sm * sd)
}

#[cfg(test)]
fn footpoint(north: f64) -> f64 {
    footpoint_trig(north).0
}

/// Inverse Transverse Mercator (OS guide, Annex C, C.6–C.8): OSGB36 (sin φ, cos φ, sin λ, cos λ).
fn inverse_tm_trig(e: f64, north: f64) -> [f64; 4] {
    let a = AIRY_A;
    let b = AIRY_B;
    let e2 = 1.0 - (b * b) / (a * a);
    let (_, s, c) = footpoint_trig(north);
    // One division and one square root: the OS coefficients VII..XIIA through 1/ν, 1/ρ and sec φ'.
    let ic = 1.0 / c;
    let t = s * ic;
    let w = 1.0 - e2 * s * s;
    let sw = w.sqrt();
    let inu = sw * (1.0 / (a * F0));
    let irho = w * sw * (1.0 / (a * F0 * (1.0 - e2)));
    let nu_rho = irho / inu;
    let eta2 = nu_rho - 1.0;
    let (t2, t4) = (t * t, t * t * t * t);
    let t6 = t4 * t2;
    let (inu2, inu3) = (inu * inu, inu * inu * inu);
    let (inu5, inu7) = (inu3 * inu2, inu3 * inu2 * inu2);
    let vii = t * (0.5 * irho * inu);
    let viii = t * ((1.0 / 24.0) * irho * inu3) * (5.0 + 3.0 * t2 + eta2 - 9.0 * t2 * eta2);
    let ix = t * ((1.0 / 720.0) * irho * inu5) * (61.0 + 90.0 * t2 + 45.0 * t4);
    let x = ic * inu;
    let xi = ic * ((1.0 / 6.0) * inu3) * (nu_rho + 2.0 * t2);
    let xii = ic * ((1.0 / 120.0) * inu5) * (5.0 + 28.0 * t2 + 24.0 * t4);
    let xiia = ic * ((1.0 / 5040.0) * inu7) * (61.0 + 662.0 * t2 + 1320.0 * t4 + 720.0 * t6);
    let de = e - E0;
    let (d2, d3) = (de * de, de * de * de);
    // φ = φ' + Δ with |Δ| < 0.004 rad over the grid: its sine and cosine by the angle-sum identities.
    let dphi = -vii * d2 + viii * d2 * d2 - ix * d3 * d3;
    let (sd, cd) = small_sin_cos(dphi);
    let dlam = x * de - xi * d3 + xii * d3 * d2 - xiia * d3 * d2 * d2;
    let (sl, cl) = dlam.sin_cos();
    let (s0, c0) = LAM0_TRIG;
    [
        s * cd + c * sd,
        c * cd - s * sd,
        s0 * cl + c0 * sl,
        c0 * cl - s0 * sl,
    ]
}

/// sin and cos of the central meridian, −2°.
const LAM0_TRIG: (f64, f64) = (-0.034_899_496_702_500_97, 0.999_390_827_019_095_8);

#[cfg(test)]
fn inverse_tm(e: f64, north: f64) -> (f64, f64) {
    let [sp, cp, sl, cl] = inverse_tm_trig(e, north);
    (sp.atan2(cp), sl.atan2(cl))
}

fn geodetic_to_cartesian(sp: f64, cp: f64, sl: f64, cl: f64, a: f64, b: f64) -> (f64, f64, f64) {
    let e2 = 1.0 - (b * b) / (a * a);
    let nu = a / (1.0 - e2 * sp * sp).sqrt();
    (nu * cp * cl, nu * cp * sl, (1.0 - e2) * nu * sp)
}

fn helmert(x: f64, y: f64, z: f64) -> (f64, f64, f64) {
    let tx = 446.448;
    let ty = -125.157;
    let tz = 542.060;
    let arcsec = std::f64::consts::PI / (180.0 * 3600.0);
    let rx = 0.1502 * arcsec;
    let ry = 0.2470 * arcsec;
    let rz = 0.8421 * arcsec;
    let s = -20.4894e-6;
    (
        tx + (1.0 + s) * x - rz * y + ry * z,
        ty + rz * x + (1.0 + s) * y - rx * z,
        tz - ry * x + rx * y + (1.0 + s) * z,
    )
}

/// Bowring's (1976) closed form: for points near the ellipsoid surface it agrees with the exact iterative
/// solution to well under a micrometre. Returns (sin φ, cos φ, sin λ, cos λ), no angles.
fn cartesian_to_geodetic(x: f64, y: f64, z: f64, a: f64, b: f64) -> [f64; 4] {
    let e2 = 1.0 - (b * b) / (a * a);
    let ep2 = (a * a) / (b * b) - 1.0;
    let p = (x * x + y * y).sqrt();
    // Bowring's auxiliary angle θ = atan2(z·a, p·b), needed only through its sine and cosine.
    let (za, pb) = (z * a, p * b);
    let ih = 1.0 / (za * za + pb * pb).sqrt();
    let (st, ct) = (za * ih, pb * ih);
    let (num, den) = (z + ep2 * b * st * st * st, p - e2 * a * ct * ct * ct);
    let ir = 1.0 / (num * num + den * den).sqrt();
    let ip = 1.0 / p;
    [num * ir, den * ir, y * ip, x * ip]
}

/// Grid coordinates to WGS84 (lat, lng) in degrees, in parallel. Rows outside [`EASTING_RANGE`] /
/// [`NORTHING_RANGE`] (or non-finite) are an error naming them, or with `skip` are NaN and counted.
pub fn bng_to_latlng(
    easting: &[f64],
    northing: &[f64],
    skip: bool,
) -> Result<(Vec<f64>, Vec<f64>, RowList)> {
    check_len("northing", northing.len(), "easting", easting.len())?;
    let mut lat = vec![0f64; easting.len()];
    let mut lng = vec![0f64; easting.len()];
    let bad: Vec<RowList> = lat
        .par_chunks_mut(CHUNK)
        .zip(lng.par_chunks_mut(CHUNK))
        .enumerate()
        .map(|(ci, (la, ln))| {
            let start = ci * CHUNK;
            let mut bad = RowList::default();
            if crate::cancel::requested() {
                return bad;
            }
            for i in 0..la.len() {
                let (e, n) = (easting[start + i], northing[start + i]);
                if valid_bng(e, n) {
                    let (y, x) = bng_point(e, n);
                    la[i] = y;
                    ln[i] = x;
                } else {
                    la[i] = f64::NAN;
                    ln[i] = f64::NAN;
                    bad.push(start + i);
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
    if !all.is_empty() && !skip {
        return Err(HlError::InvalidValues {
            arg: "easting/northing".into(),
            rows: all,
            expected: "finite British National Grid metres (not null or NaN) with 0 <= easting <= 700000 and 0 <= northing <= 1300000".into(),
        });
    }
    Ok((lat, lng, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_worked_example_inverse_tm() {
        // OS guide Annex C worked example: E 651409.903, N 313177.270 → OSGB36 52°39′27.2531″N 1°43′4.5177″E.
        let (phi, lam) = inverse_tm(651_409.903, 313_177.270);
        let lat = 52.0 + 39.0 / 60.0 + 27.2531 / 3600.0;
        let lng = 1.0 + 43.0 / 60.0 + 4.5177 / 3600.0;
        assert!(
            (phi.to_degrees() - lat).abs() < 1e-6,
            "{}",
            phi.to_degrees()
        );
        assert!(
            (lam.to_degrees() - lng).abs() < 1e-6,
            "{}",
            lam.to_degrees()
        );
    }

    #[test]
    fn footpoint_latitude_is_exact_over_the_whole_grid() {
        // The footpoint latitude from the Fourier series solves M(φ) = N − N0 to 1e-8 m (the OS guide asks
        // 0.01 mm) everywhere on the grid and beyond.
        let n = (AIRY_A - AIRY_B) / (AIRY_A + AIRY_B);
        for k in -20..=300 {
            let north = f64::from(k) * 5_000.0;
            let resid = north - N0 - meridional_arc(footpoint(north), 49f64.to_radians(), n);
            assert!(resid.abs() < 1e-8, "northing {north}: residual {resid} m");
        }
    }

    #[test]
    fn out_of_grid_is_named() {
        let e = bng_to_latlng(&[530_000.0, -5.0, 800_000.0], &[180_000.0, 0.0, 0.0], false);
        match e {
            Err(HlError::InvalidValues { rows, .. }) => assert_eq!(rows.first, vec![1, 2]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn big_ben_lands_in_westminster() {
        // pyproj 3.8 (PROJ, no OSTN15 grid) EPSG:27700 → 4326 of (530247, 179650): 51.500788687626695,
        // -0.12492632718377562. Same Helmert, so agreement to a few millimetres (1e-7° ≈ 1 cm).
        let (lat, lng) = bng_point(530_247.0, 179_650.0);
        assert!((lat - 51.500_788_687_626_695).abs() < 1e-7, "{lat}");
        assert!((lng + 0.124_926_327_183_775_62).abs() < 1e-7, "{lng}");
    }
}
