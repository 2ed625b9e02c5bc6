//! Differential tests: the fast point → cell kernel must equal h3o 0.11.1 bit for bit (the Python tests compare
//! with h3-py 4.5). `FASTCELL_N` sets the number of random worldwide points per mode (default 250,000 here, so
//! `make test` stays quick; the kernel's development run used 5,000,000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::excessive_precision
)]
use h3o::{CellIndex, LatLng, Resolution};
use hyperlocal_core::fastcell::{self, latlng_to_cell, latlng_to_cell_slice, reference};

/// xorshift64* — fixed-seed, self-contained RNG.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.f64()
    }
}

#[derive(Default)]
struct Stats {
    checked: u64,
    mismatches: u64,
}

impl Stats {
    /// Checks one point at every resolution (scalar API).
    fn check_all_res(&mut self, lat: f64, lng: f64) {
        for res in 0..=15u8 {
            self.check(lat, lng, res);
        }
    }
    fn check(&mut self, lat: f64, lng: f64, res: u8) {
        let want = reference(lat, lng, res);
        let got = latlng_to_cell(lat, lng, res);
        self.checked += 1;
        if got != want {
            self.mismatches += 1;
            if self.mismatches <= 20 {
                eprintln!("MISMATCH lat={lat:?} lng={lng:?} res={res}: got {got:x} want {want:x}");
            }
        }
    }
    fn finish(&self, name: &str) {
        eprintln!(
            "[{name}] checked {} (point,res) pairs, {} mismatches; fallbacks so far (process-wide) {}",
            self.checked,
            self.mismatches,
            fastcell::fallback_count()
        );
        assert_eq!(self.mismatches, 0, "{name}: mismatches");
    }
}

fn ll_deg(ll: LatLng) -> (f64, f64) {
    (ll.lat(), ll.lng())
}

fn vec_to_deg(v: [f64; 3]) -> (f64, f64) {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let (x, y, z) = (v[0] / n, v[1] / n, v[2] / n);
    (
        z.clamp(-1.0, 1.0).asin().to_degrees(),
        y.atan2(x).to_degrees(),
    )
}

fn deg_to_vec(lat: f64, lng: f64) -> [f64; 3] {
    let (la, ln) = (lat.to_radians(), lng.to_radians());
    [la.cos() * ln.cos(), la.cos() * ln.sin(), la.sin()]
}

/// Checks the exact coordinate plus its nextafter neighbours in lat and lng.
fn check_with_neighbours(st: &mut Stats, lat: f64, lng: f64) {
    for (a, b) in [
        (lat, lng),
        (lat.next_up(), lng),
        (lat.next_down(), lng),
        (lat, lng.next_up()),
        (lat, lng.next_down()),
    ] {
        if (-90.0..=90.0).contains(&a) {
            st.check_all_res(a, b);
        }
    }
}

/// Points around (lat, lng) at several small offsets/directions.
fn check_perturbed(st: &mut Stats, lat: f64, lng: f64) {
    check_with_neighbours(st, lat, lng);
    for &d in &[1e-12, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2] {
        for k in 0..8 {
            let ang = k as f64 * std::f64::consts::FRAC_PI_4 + 0.1;
            let a = (lat + d * ang.sin()).clamp(-90.0, 90.0);
            st.check_all_res(a, lng + d * ang.cos());
        }
    }
}

#[test]
fn random_worldwide_10m_points_all_res() {
    // 10^7 points (5M uniform on the sphere + 5M uniform in lat/lng), each at
    // all 16 resolutions = 1.6e8 comparisons. Uses both scalar and slice APIs.
    let n_each: usize = std::env::var("FASTCELL_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(250_000);
    let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
    let mut st = Stats::default();
    let chunk = 4096;
    let mut lat = vec![0.0; chunk];
    let mut lng = vec![0.0; chunk];
    let mut out = vec![0u64; chunk];
    for mode in 0..2 {
        let mut done = 0;
        while done < n_each {
            let m = chunk.min(n_each - done);
            for t in 0..m {
                if mode == 0 {
                    lat[t] = rng.range(-1.0, 1.0).asin().to_degrees();
                } else {
                    lat[t] = rng.range(-90.0, 90.0);
                }
                lng[t] = rng.range(-180.0, 180.0);
            }
            for res in 0..=15u8 {
                latlng_to_cell_slice(&lat[..m], &lng[..m], res, &mut out[..m]);
                for t in 0..m {
                    let want = reference(lat[t], lng[t], res);
                    st.checked += 1;
                    let scalar = latlng_to_cell(lat[t], lng[t], res);
                    if out[t] != want || scalar != want {
                        st.mismatches += 1;
                        if st.mismatches <= 20 {
                            eprintln!("MISMATCH lat={:?} lng={:?} res={res}: slice {:x} scalar {scalar:x} want {want:x}", lat[t], lng[t], out[t]);
                        }
                    }
                }
            }
            done += m;
        }
    }
    st.finish("random_worldwide");
}

#[test]
fn random_england_all_res() {
    let mut rng = Rng(42);
    let mut st = Stats::default();
    for _ in 0..100_000 {
        st.check_all_res(rng.range(49.9, 55.8), rng.range(-6.4, 1.8));
    }
    st.finish("random_england");
}

#[test]
fn pentagons() {
    let mut st = Stats::default();
    for base in CellIndex::base_cells().filter(|c| c.is_pentagon()) {
        for r in 0..=15u8 {
            let cell = base.center_child(Resolution::try_from(r).unwrap()).unwrap();
            let (lat, lng) = ll_deg(LatLng::from(cell));
            check_perturbed(&mut st, lat, lng);
            for v in cell.boundary().iter() {
                let (a, b) = ll_deg(*v);
                check_perturbed(&mut st, a, b);
            }
        }
    }
    st.finish("pentagons");
}

/// Icosahedron: face centres, vertices (= pentagon base cell centres) and
/// edges (arcs between adjacent vertices), with tiny perturbations.
#[test]
fn icosahedron_faces_edges_vertices() {
    let mut st = Stats::default();
    let verts: Vec<[f64; 3]> = CellIndex::base_cells()
        .filter(|c| c.is_pentagon())
        .map(|c| {
            let (a, b) = ll_deg(LatLng::from(c));
            deg_to_vec(a, b)
        })
        .collect();
    assert_eq!(verts.len(), 12);
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let mut rng = Rng(7);
    let mut n_edges = 0;
    for i in 0..12 {
        for j in (i + 1)..12 {
            // Adjacent vertices are ~63.4 deg apart (cos ~ 0.447).
            if (dot(verts[i], verts[j]) - 0.4472).abs() > 0.01 {
                continue;
            }
            n_edges += 1;
            for s in 0..=200 {
                let t = s as f64 / 200.0;
                let p = [
                    verts[i][0] * (1.0 - t) + verts[j][0] * t,
                    verts[i][1] * (1.0 - t) + verts[j][1] * t,
                    verts[i][2] * (1.0 - t) + verts[j][2] * t,
                ];
                let (lat, lng) = vec_to_deg(p);
                if s % 20 == 0 {
                    check_perturbed(&mut st, lat, lng);
                } else {
                    check_with_neighbours(&mut st, lat, lng);
                    let d = 10f64.powf(rng.range(-12.0, -6.0));
                    st.check_all_res(
                        (lat + d * rng.range(-1.0, 1.0)).clamp(-90.0, 90.0),
                        lng + d * rng.range(-1.0, 1.0),
                    );
                }
            }
        }
    }
    assert_eq!(n_edges, 30);
    // Face centres (h3o: r < EPSILON special case) and the arcs from each
    // face centre to the three nearest vertices and to the edge midpoints.
    let faces = fastcell_face_centres();
    for c in &faces {
        let (lat, lng) = vec_to_deg(*c);
        check_perturbed(&mut st, lat, lng);
        for &v in &verts {
            if dot(*c, v) > 0.79 {
                for s in 1..50 {
                    let t = s as f64 / 50.0;
                    let p = [
                        c[0] * (1.0 - t) + v[0] * t,
                        c[1] * (1.0 - t) + v[1] * t,
                        c[2] * (1.0 - t) + v[2] * t,
                    ];
                    let (a, b) = vec_to_deg(p);
                    check_with_neighbours(&mut st, a, b);
                }
            }
        }
    }
    st.finish("icosahedron");
}

fn fastcell_face_centres() -> Vec<[f64; 3]> {
    // The kernel's face centres (the same values as h3o's and H3 C's `faceCenterPoint`).
    (0..20).map(fastcell::face_centre).collect()
}

#[test]
fn poles_antimeridian_and_wrapping() {
    let mut st = Stats::default();
    let mut rng = Rng(99);
    let lats = [
        90.0,
        -90.0,
        89.999999,
        -89.999999,
        89.99999999999,
        -89.99999999999,
        90f64.next_down(),
        (-90f64).next_up(),
        0.0,
        -0.0,
        45.0,
        -45.0,
    ];
    let lngs = [
        180.0,
        -180.0,
        -180.0 + 1e-12,
        180.0 - 1e-12,
        180f64.next_down(),
        (-180f64).next_up(),
        0.0,
        -0.0,
        540.0,
        -540.0,
        -359.9,
        359.9,
        360.0,
        -360.0,
        720.0 + 1e-9,
        1e6,
        -1e6,
        123456.789,
        1e7,
        -3.3e9,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
    ];
    for &a in &lats {
        for &b in &lngs {
            st.check_all_res(a, b);
        }
        for _ in 0..2000 {
            st.check_all_res(a, rng.range(-720.0, 720.0));
        }
    }
    for _ in 0..20_000 {
        st.check_all_res(
            rng.range(-90.0, 90.0),
            180.0 * if rng.f64() < 0.5 { 1.0 } else { -1.0 } + rng.range(-1e-6, 1e-6),
        );
        st.check_all_res(rng.range(89.9, 90.0), rng.range(-180.0, 180.0));
        st.check_all_res(rng.range(-90.0, -89.9), rng.range(-180.0, 180.0));
        st.check_all_res(rng.range(-90.0, 90.0), rng.range(-1e5, 1e5));
    }
    st.finish("poles_antimeridian");
}

/// Exact cell-boundary vertices and edge midpoints (and their nextafter
/// neighbours) of random cells at every resolution, checked at all resolutions.
#[test]
fn cell_vertices_and_edge_midpoints() {
    let mut st = Stats::default();
    let mut rng = Rng(2024);
    for r in 0..=15u8 {
        let res = Resolution::try_from(r).unwrap();
        for _ in 0..400 {
            let lat = rng.range(-1.0, 1.0).asin().to_degrees();
            let lng = rng.range(-180.0, 180.0);
            let cell = LatLng::new(lat, lng).unwrap().to_cell(res);
            let b = cell.boundary();
            let vs: Vec<(f64, f64)> = b.iter().map(|v| ll_deg(*v)).collect();
            for t in 0..vs.len() {
                let (a1, b1) = vs[t];
                let (a2, b2) = vs[(t + 1) % vs.len()];
                check_with_neighbours(&mut st, a1, b1);
                let (ma, mb) = vec_to_deg({
                    let p = deg_to_vec(a1, b1);
                    let q = deg_to_vec(a2, b2);
                    [p[0] + q[0], p[1] + q[1], p[2] + q[2]]
                });
                check_with_neighbours(&mut st, ma, mb);
            }
            let (ca, cb) = ll_deg(LatLng::from(cell));
            check_with_neighbours(&mut st, ca, cb);
        }
    }
    st.finish("cell_vertices");
}

/// The reference (the port of H3 C 4.5) equals h3o away from cell edges: random points worldwide at every
/// resolution (where they differ, on edges, tests/test_cells.py checks the port against h3-py itself).
#[test]
fn reference_equals_h3o_off_edges() {
    let mut rng = Rng(99);
    let mut differ = 0u32;
    for _ in 0..200_000 {
        let lat = rng.range(-1.0, 1.0).asin().to_degrees();
        let lng = rng.range(-180.0, 180.0);
        for res in 0..=15u8 {
            differ += u32::from(reference(lat, lng, res) != fastcell::h3o_cell(lat, lng, res));
        }
    }
    assert_eq!(differ, 0);
}
