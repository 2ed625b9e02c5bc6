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
    let (phi, lam) = inverse_tm(e, n);
    let (x, y, z) = geodetic_to_cartesian(phi, lam, AIRY_A, AIRY_B);
    let (x, y, z) = helmert(x, y, z);
    let b = WGS84_A * (1.0 - WGS84_F);
    let (phi, lam) = cartesian_to_geodetic(x, y, z, WGS84_A, b);
    (phi.to_degrees(), lam.to_degrees())
}

/// Meridional arc M(φ) (OS guide, Annex C, eq. C3), with the multiple angles from one sin_cos of each of
/// φ − φ0 and φ + φ0.
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

/// The footpoint latitude: φ with M(φ) = N − N0 (OS guide, C.6).
fn footpoint(north: f64) -> f64 {
    let (a, b) = (AIRY_A, AIRY_B);
    let phi0 = 49f64.to_radians();
    let e2 = 1.0 - (b * b) / (a * a);
    let n = (a - b) / (a + b);
    // Newton's method on M(φ) = N − N0, with dM/dφ = a·F0·(1 − e²)/(1 − e² sin²φ)^(3/2). The error after a step
    // is about (e²/R)·resid² (quadratic convergence): a step from a residual under 0.1 m leaves ~1e-11 m, far
    // inside the OS guide's 0.01 mm, so the loop stops after that step (two steps from the first guess, whose
    // residual is at most a few km in Great Britain).
    let mut phi = (north - N0) / (a * F0) + phi0;
    for _ in 0..8 {
        let resid = north - N0 - meridional_arc(phi, phi0, n);
        let sp = phi.sin();
        let w = 1.0 - e2 * sp * sp;
        phi += resid / (a * F0 * (1.0 - e2) / (w * w.sqrt()));
        if resid.abs() < 0.1 {
            break;
        }
    }
    phi
}

fn inverse_tm(e: f64, north: f64) -> (f64, f64) {
    let a = AIRY_A;
    let b = AIRY_B;
    let lam0 = (-2f64).to_radians();
    let e2 = 1.0 - (b * b) / (a * a);
    let phi = footpoint(north);
    let (s, c) = phi.sin_cos();
    let t = s / c;
    let nu = a * F0 / (1.0 - e2 * s * s).sqrt();
    let w = 1.0 - e2 * s * s;
    let rho = a * F0 * (1.0 - e2) / (w * w.sqrt());
    let eta2 = nu / rho - 1.0;
    let (t2, t4, t6) = (t * t, t.powi(4), t.powi(6));
    let sec = 1.0 / c;
    let vii = t / (2.0 * rho * nu);
    let viii = t / (24.0 * rho * nu.powi(3)) * (5.0 + 3.0 * t2 + eta2 - 9.0 * t2 * eta2);
    let ix = t / (720.0 * rho * nu.powi(5)) * (61.0 + 90.0 * t2 + 45.0 * t4);
    let x = sec / nu;
    let xi = sec / (6.0 * nu.powi(3)) * (nu / rho + 2.0 * t2);
    let xii = sec / (120.0 * nu.powi(5)) * (5.0 + 28.0 * t2 + 24.0 * t4);
    let xiia = sec / (5040.0 * nu.powi(7)) * (61.0 + 662.0 * t2 + 1320.0 * t4 + 720.0 * t6);
    let de = e - E0;
    let (d2, d3) = (de * de, de * de * de);
    let lat = phi - vii * d2 + viii * d2 * d2 - ix * d3 * d3;
    let lng = lam0 + x * de - xi * d3 + xii * d3 * d2 - xiia * d3 * d2 * d2;
    (lat, lng)
}

fn geodetic_to_cartesian(phi: f64, lam: f64, a: f64, b: f64) -> (f64, f64, f64) {
    let e2 = 1.0 - (b * b) / (a * a);
    let (sp, cp) = phi.sin_cos();
    let (sl, cl) = lam.sin_cos();
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
/// solution to well under a micrometre, at the cost of one extra atan2.
fn cartesian_to_geodetic(x: f64, y: f64, z: f64, a: f64, b: f64) -> (f64, f64) {
    let e2 = 1.0 - (b * b) / (a * a);
    let ep2 = (a * a) / (b * b) - 1.0;
    let p = (x * x + y * y).sqrt();
    let lam = y.atan2(x);
    // Bowring's auxiliary angle θ = atan2(z·a, p·b), needed only through its sine and cosine.
    let (za, pb) = (z * a, p * b);
    let h = (za * za + pb * pb).sqrt();
    let (st, ct) = (za / h, pb / h);
    let phi = (z + ep2 * b * st * st * st).atan2(p - e2 * a * ct * ct * ct);
    (phi, lam)
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
        // The Newton loop stops one step after a residual under 0.1 m: the footpoint latitude still solves
        // M(φ) = N − N0 to 1e-6 m (the OS guide asks 0.01 mm) everywhere on the grid and beyond.
        let n = (AIRY_A - AIRY_B) / (AIRY_A + AIRY_B);
        for k in -20..=300 {
            let north = f64::from(k) * 5_000.0;
            let resid = north - N0 - meridional_arc(footpoint(north), 49f64.to_radians(), n);
            assert!(resid.abs() < 1e-6, "northing {north}: residual {resid} m");
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
