//! The reference point → cell of H3 C 4.5 (`latLngToCell`, as h3-py 4.5 calls it), operation for operation:
//! degrees × `M_PI_180`, `latLngToVec3`, the closest face by squared distance, `acos(1 − sqd·0.5)`, the azimuth from
//! the face centre through its tangent basis (`_vec3AzimuthRads`), `_posAngleRads`, the Class III rotation,
//! `tan`, the scaling by `INV_RES0_U_GNOMONIC` and `M_SQRT7` per resolution, `r·cos θ`, `r·sin θ`, then the same
//! hex rounding and index construction as the fast path. Same constants (the C literals), same evaluation order,
//! no fused multiply-add, the platform's libm: on x86-64 with glibc it returns exactly what h3-py 4.5 returns,
//! also for points exactly on a cell edge, where libraries rounding differently disagree (h3o rounds some of them
//! the other way; tests/test_cells.py checks h3-py on such points).
//!
//! Derived from H3 (https://github.com/uber/h3, src/h3lib/lib/faceijk.c, include/vec3d.h, include/constants.h),
//! Copyright 2016–2025 Uber Technologies, Inc., Apache License 2.0 (see ../../NOTICE-h3).
#![allow(
    clippy::excessive_precision,
    clippy::unreadable_literal,
    clippy::approx_constant
)] // the C literals, kept as written

const M_PI_180: f64 = 0.0174532925199432957692369076848861271111;
const M_2PI: f64 = 6.28318530717958647692528676655900576839433;
const EPSILON: f64 = 0.0000000000000001;
const M_AP7_ROT_RADS: f64 = 0.333473172251832115336090755351601070065900389;
const INV_RES0_U_GNOMONIC: f64 = 2.61803398874989588842;
const M_SQRT7: f64 = 2.6457513110645905905016157536392604257102;

/// H3 C 4.5 `faceCenterPoint` (the same literals).
const FACE_CENTER_POINT: [[f64; 3]; 20] = [
    [0.2199307791404606, 0.6583691780274996, 0.7198475378926182],
    [-0.2139234834501421, 0.1478171829550703, 0.9656017935214205],
    [0.1092625278784797, -0.4811951572873210, 0.8697775121287253],
    [0.7428567301586791, -0.3593941678278028, 0.5648005936517033],
    [0.8112534709140969, 0.3448953237639384, 0.4721387736413930],
    [-0.1055498149613921, 0.9794457296411413, 0.1718874610009365],
    [-0.8075407579970092, 0.1533552485898818, 0.5695261994882688],
    [-0.2846148069787907, -0.8644080972654206, 0.4144792552473539],
    [0.7405621473854482, -0.6673299564565524, -0.0789837646326737],
    [0.8512303986474293, 0.4722343788582681, -0.2289137388687808],
    [-0.7405621473854481, 0.6673299564565524, 0.0789837646326737],
    [-0.8512303986474292, -0.4722343788582682, 0.2289137388687808],
    [0.1055498149613919, -0.9794457296411413, -0.1718874610009365],
    [0.8075407579970092, -0.1533552485898819, -0.5695261994882688],
    [0.2846148069787908, 0.8644080972654204, -0.4144792552473539],
    [-0.7428567301586791, 0.3593941678278027, -0.5648005936517033],
    [
        -0.8112534709140971,
        -0.3448953237639382,
        -0.4721387736413930,
    ],
    [
        -0.2199307791404607,
        -0.6583691780274996,
        -0.7198475378926182,
    ],
    [0.2139234834501420, -0.1478171829550704, -0.9656017935214205],
    [-0.1092625278784796, 0.4811951572873210, -0.8697775121287253],
];
/// H3 C 4.5 `faceAxesAzRadsCII[face][0]` (the same literals).
const FACE_AXES_AZ_RADS_CII_0: [f64; 20] = [
    5.619958268523939882,
    5.760339081714187279,
    0.780213654393430055,
    0.430469363979999913,
    6.130269123335111400,
    2.692877706530642877,
    2.982963003477243874,
    3.532912002790141181,
    3.494305004259568154,
    3.003214169499538391,
    5.930472956509811562,
    0.138378484090254847,
    0.448714947059150361,
    0.158629650112549365,
    5.891865957979238535,
    2.711123289609793325,
    3.294508837434268316,
    3.804819692245439833,
    3.664438879055192436,
    2.361378999196363184,
];

type V3 = [f64; 3];

#[inline(always)]
fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// `vec3LinComb(a, v1, b, v2)`.
#[inline(always)]
fn lin_comb(a: f64, v1: V3, b: f64, v2: V3) -> V3 {
    [
        a * v1[0] + b * v2[0],
        a * v1[1] + b * v2[1],
        a * v1[2] + b * v2[2],
    ]
}

/// `vec3Normalize`.
#[inline(always)]
fn normalize(v: &mut V3) {
    let norm = dot(*v, *v).sqrt();
    let s = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    v[0] *= s;
    v[1] *= s;
    v[2] *= s;
}

/// `_posAngleRads`.
#[inline(always)]
fn pos_angle(rads: f64) -> f64 {
    let mut tmp = if rads < 0.0 { rads + M_2PI } else { rads };
    if rads >= M_2PI {
        tmp -= M_2PI;
    }
    tmp
}

/// `_vec3AzimuthRads(p1, p2)` with `_vec3TangentBasis(p1)`.
fn azimuth(p1: V3, p2: V3) -> f64 {
    let north_pole = [0.0, 0.0, 1.0];
    let mut north = lin_comb(1.0, north_pole, -dot(north_pole, p1), p1);
    normalize(&mut north);
    let east = [
        north[1] * p1[2] - north[2] * p1[1],
        north[2] * p1[0] - north[0] * p1[2],
        north[0] * p1[1] - north[1] * p1[0],
    ];
    let mut proj = lin_comb(1.0, p2, -dot(p2, p1), p1);
    normalize(&mut proj);
    dot(proj, east).atan2(dot(proj, north))
}

/// `_vec3ToHex2d` of `latLngToVec3(degsToRads(lat), degsToRads(lng))`: (face, x, y).
pub(super) fn hex2d(lat_deg: f64, lng_deg: f64, res: u8) -> (usize, f64, f64) {
    let (lat, lng) = (lat_deg * M_PI_180, lng_deg * M_PI_180);
    let r = lat.cos();
    let p = [lng.cos() * r, lng.sin() * r, lat.sin()];
    let mut face = 0;
    let mut sqd = 5.0;
    for (f, c) in FACE_CENTER_POINT.iter().enumerate() {
        let d = lin_comb(1.0, *c, -1.0, p);
        let t = dot(d, d);
        if t < sqd {
            face = f;
            sqd = t;
        }
    }
    let mut r = (1.0 - sqd * 0.5).acos();
    if r < EPSILON {
        return (face, 0.0, 0.0);
    }
    let mut theta =
        pos_angle(FACE_AXES_AZ_RADS_CII_0[face] - pos_angle(azimuth(FACE_CENTER_POINT[face], p)));
    if res & 1 == 1 {
        theta = pos_angle(theta - M_AP7_ROT_RADS);
    }
    r = r.tan();
    r *= INV_RES0_U_GNOMONIC;
    for _ in 0..res {
        r *= M_SQRT7;
    }
    (face, r * theta.cos(), r * theta.sin())
}
