//! `hyperlocal._core`: thin PyO3 glue over hyperlocal-core. Numbers arrive as numpy buffers (borrowed, never
//! copied) and leave as numpy arrays that own the Rust `Vec` (no copy). Every core call goes through [`run`],
//! which releases the GIL, turns a panic into an exception and maps typed core errors onto the Python
//! exception hierarchy declared in `hyperlocal/exceptions.py`.
#![allow(clippy::too_many_arguments, clippy::type_complexity)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use hyperlocal_core::aggregate;
use hyperlocal_core::bng;
use hyperlocal_core::cells::{self, OnInvalid};
use hyperlocal_core::neighbours;
use hyperlocal_core::polygon;
use hyperlocal_core::spatial::{self, Graph, Transform};
use hyperlocal_core::views::Views;
use hyperlocal_core::wkb;
use hyperlocal_core::{HlError, RowList};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyList;

fn exception(py: Python<'_>, name: &str, msg: String) -> PyErr {
    let cls = py
        .import("hyperlocal.exceptions")
        .and_then(|m| m.getattr(name));
    match cls {
        Ok(cls) => match cls.call1((msg.clone(),)) {
            Ok(inst) => PyErr::from_value(inst),
            Err(e) => e,
        },
        Err(_) => PyRuntimeError::new_err(msg),
    }
}

fn map_err(py: Python<'_>, e: HlError) -> PyErr {
    match e {
        HlError::Internal(_) => exception(py, "ComputeError", e.to_string()),
        HlError::Cancelled => pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted"),
        _ => exception(py, "InvalidInputError", e.to_string()),
    }
}

/// Run a core call with the GIL released; panics become `ComputeError`, core errors their typed exception.
///
/// The work runs as a job on rayon's pool while the calling thread waits and, every 50 ms, asks Python
/// whether a signal is pending (`PyErr_CheckSignals`, which only the main thread can answer). On Ctrl-C the
/// core's cancellation flag is raised, the kernel stops at its next chunk boundary, and the caller gets
/// Python's KeyboardInterrupt (or whatever the SIGINT handler raised), typically within milliseconds.
fn run<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> hyperlocal_core::Result<T> + Send,
) -> PyResult<T> {
    use std::time::Duration;
    hyperlocal_core::cancel::reset();
    let (out, interrupted) = py.detach(|| {
        let done = AtomicBool::new(false);
        let caller = std::thread::current();
        let mut slot = None;
        let mut interrupted: Option<PyErr> = None;
        // The kernel runs as a job on rayon's pool (no thread is created per call); this thread waits for it,
        // polling for signals. `park_timeout` may wake early or late: the `done` flag is the truth.
        rayon::in_place_scope(|s| {
            let (slot, done) = (&mut slot, &done);
            s.spawn(move |_| {
                *slot = Some(catch_unwind(AssertUnwindSafe(f)));
                done.store(true, Ordering::Release);
                caller.unpark();
            });
            while !done.load(Ordering::Acquire) {
                std::thread::park_timeout(Duration::from_millis(50));
                if interrupted.is_none() && !done.load(Ordering::Acquire) {
                    if let Err(e) = Python::attach(|py| py.check_signals()) {
                        hyperlocal_core::cancel::request();
                        interrupted = Some(e);
                    }
                }
            }
        });
        let out =
            slot.unwrap_or_else(|| Ok(Err(HlError::Internal("the kernel did not run".into()))));
        (out, interrupted)
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(map_err(py, e)),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(exception(
                py,
                "ComputeError",
                format!("internal error (a bug, please report): {msg}"),
            ))
        }
    }
}

fn policy(skip: bool) -> OnInvalid {
    if skip {
        OnInvalid::Skip
    } else {
        OnInvalid::Raise
    }
}

fn rows_out(rows: RowList) -> (usize, Vec<usize>) {
    (rows.count, rows.first)
}

type Arr<'py, T> = Bound<'py, PyArray1<T>>;

fn resolution(py: Python<'_>, r: i64) -> PyResult<h3o::Resolution> {
    cells::resolution(r).map_err(|e| map_err(py, e))
}

#[pyfunction]
fn latlng_to_cell<'py>(
    py: Python<'py>,
    lat: PyReadonlyArray1<'py, f64>,
    lng: PyReadonlyArray1<'py, f64>,
    resolution_: i64,
    skip: bool,
) -> PyResult<(Arr<'py, u64>, (usize, Vec<usize>))> {
    let res = resolution(py, resolution_)?;
    let (lat, lng) = (lat.as_slice()?, lng.as_slice()?);
    let (cells, bad) = run(py, || cells::latlng_to_cell(lat, lng, res, policy(skip)))?;
    Ok((cells.into_pyarray(py), rows_out(bad)))
}

/// The nested convention: each point's res-15 cell's ancestor at `resolution_`, in one pass.
#[pyfunction]
fn latlng_to_cell_nested<'py>(
    py: Python<'py>,
    lat: PyReadonlyArray1<'py, f64>,
    lng: PyReadonlyArray1<'py, f64>,
    resolution_: i64,
    skip: bool,
) -> PyResult<(Arr<'py, u64>, (usize, Vec<usize>))> {
    let res = resolution(py, resolution_)?;
    let (lat, lng) = (lat.as_slice()?, lng.as_slice()?);
    let (cells, bad) = run(py, || {
        let mut out = vec![0u64; lat.len()];
        let bad = cells::latlng_to_cell_nested_into(lat, lng, res, policy(skip), &mut out)?;
        Ok((out, bad))
    })?;
    Ok((cells.into_pyarray(py), rows_out(bad)))
}

#[pyfunction]
fn bng_to_latlng<'py>(
    py: Python<'py>,
    easting: PyReadonlyArray1<'py, f64>,
    northing: PyReadonlyArray1<'py, f64>,
    skip: bool,
) -> PyResult<(Arr<'py, f64>, Arr<'py, f64>, (usize, Vec<usize>))> {
    let (e, n) = (easting.as_slice()?, northing.as_slice()?);
    let (lat, lng, bad) = run(py, || bng::bng_to_latlng(e, n, skip))?;
    Ok((lat.into_pyarray(py), lng.into_pyarray(py), rows_out(bad)))
}

#[pyfunction]
fn validate_cells(py: Python<'_>, cells_: PyReadonlyArray1<'_, u64>, arg: String) -> PyResult<()> {
    let c = cells_.as_slice()?;
    run(py, || cells::validate_cells(&arg, c))
}

#[pyfunction]
fn cell_resolutions<'py>(
    py: Python<'py>,
    cells_: PyReadonlyArray1<'py, u64>,
) -> PyResult<Arr<'py, u8>> {
    let c = cells_.as_slice()?;
    Ok(run(py, || cells::cell_resolutions(c))?.into_pyarray(py))
}

#[pyfunction]
fn cell_to_parent<'py>(
    py: Python<'py>,
    cells_: PyReadonlyArray1<'py, u64>,
    resolution_: i64,
) -> PyResult<Arr<'py, u64>> {
    let res = resolution(py, resolution_)?;
    let c = cells_.as_slice()?;
    Ok(run(py, || cells::cell_to_parent(c, res))?.into_pyarray(py))
}

#[pyfunction]
fn cell_to_latlng<'py>(
    py: Python<'py>,
    cells_: PyReadonlyArray1<'py, u64>,
) -> PyResult<(Arr<'py, f64>, Arr<'py, f64>)> {
    let c = cells_.as_slice()?;
    let (lat, lng) = run(py, || cells::cell_to_latlng(c))?;
    Ok((lat.into_pyarray(py), lng.into_pyarray(py)))
}

#[pyfunction]
fn cell_to_string<'py>(
    py: Python<'py>,
    cells_: PyReadonlyArray1<'py, u64>,
) -> PyResult<(Arr<'py, u8>, Arr<'py, i64>)> {
    let c = cells_.as_slice()?;
    let (d, o) = run(py, || cells::cell_to_string(c))?;
    Ok((d.into_pyarray(py), o.into_pyarray(py)))
}

#[pyfunction]
fn cell_to_boundary_wkb<'py>(
    py: Python<'py>,
    cells_: PyReadonlyArray1<'py, u64>,
) -> PyResult<(Arr<'py, u8>, Arr<'py, i64>)> {
    let c = cells_.as_slice()?;
    let (d, o) = run(py, || wkb::cell_to_boundary_wkb(c))?;
    Ok((d.into_pyarray(py), o.into_pyarray(py)))
}

/// The k-ring neighbour graph of a set of cells as CSR arrays (offsets, neighbour index, ring distance).
#[pyfunction]
fn grid_neighbours<'py>(
    py: Python<'py>,
    cells_: PyReadonlyArray1<'py, u64>,
    k: i64,
) -> PyResult<(Arr<'py, u64>, Arr<'py, u32>, Arr<'py, u8>)> {
    let max = neighbours::MAX_K;
    let k = match u32::try_from(k) {
        Ok(k) if (1..=max).contains(&k) => k,
        _ => {
            return Err(exception(
                py,
                "InvalidInputError",
                format!("k: got {k}, expected an integer in 1..={max}"),
            ))
        }
    };
    let c = cells_.as_slice()?;
    let g = run(py, || neighbours::grid_neighbours(c, k))?;
    Ok((
        g.offsets.into_pyarray(py),
        g.index.into_pyarray(py),
        g.distance.into_pyarray(py),
    ))
}

#[pyfunction]
#[pyo3(signature = (row_cell, row_area, row_weight, n_areas, extensive, intensive, intensive_weight=None))]
fn weighted_cell_sums<'py>(
    py: Python<'py>,
    row_cell: PyReadonlyArray1<'py, u64>,
    row_area: PyReadonlyArray1<'py, u32>,
    row_weight: PyReadonlyArray1<'py, f64>,
    n_areas: usize,
    extensive: Vec<PyReadonlyArray1<'py, f64>>,
    intensive: Vec<PyReadonlyArray1<'py, f64>>,
    intensive_weight: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<(
    Arr<'py, u64>,
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Arr<'py, f64>,
)> {
    let (rc, ra, rw) = (
        row_cell.as_slice()?,
        row_area.as_slice()?,
        row_weight.as_slice()?,
    );
    let ext: Vec<&[f64]> = extensive
        .iter()
        .map(|a| a.as_slice())
        .collect::<Result<_, _>>()?;
    let int: Vec<&[f64]> = intensive
        .iter()
        .map(|a| a.as_slice())
        .collect::<Result<_, _>>()?;
    let iw = match &intensive_weight {
        Some(a) => Some(a.as_slice()?),
        None => None,
    };
    let out = run(py, || {
        aggregate::weighted_cell_sums(rc, ra, rw, n_areas, &ext, &int, iw)
    })?;
    let ext = PyList::new(py, out.extensive.into_iter().map(|v| v.into_pyarray(py)))?;
    let int = PyList::new(py, out.intensive.into_iter().map(|v| v.into_pyarray(py)))?;
    Ok((
        out.cells.into_pyarray(py),
        ext,
        int,
        out.weight.into_pyarray(py),
    ))
}

/// Group codes of one chunk, in whatever unsigned width the caller has.
#[derive(FromPyObject)]
enum GroupArr<'py> {
    U8(PyReadonlyArray1<'py, u8>),
    U16(PyReadonlyArray1<'py, u16>),
    U32(PyReadonlyArray1<'py, u32>),
}

/// Count points per (cell, group). `a`/`b` are lists of chunks (lat/lng, or easting/northing with `bng`),
/// `groups` a list of chunks of the same lengths, or None.
#[pyfunction]
#[pyo3(signature = (a, b, groups, n_groups, resolution_, bng, nested, skip))]
fn count_points<'py>(
    py: Python<'py>,
    a: Vec<PyReadonlyArray1<'py, f64>>,
    b: Vec<PyReadonlyArray1<'py, f64>>,
    groups: Option<Vec<GroupArr<'py>>>,
    n_groups: u32,
    resolution_: i64,
    bng: bool,
    nested: bool,
    skip: bool,
) -> PyResult<(
    Arr<'py, u64>,
    Arr<'py, u32>,
    Arr<'py, u32>,
    (usize, Vec<usize>),
)> {
    let res = resolution(py, resolution_)?;
    if a.len() != b.len() || groups.as_ref().is_some_and(|g| g.len() != a.len()) {
        return Err(exception(
            py,
            "InvalidInputError",
            "count_points: coordinate and group columns must have the same chunks".into(),
        ));
    }
    let mut chunks = Vec::with_capacity(a.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let g = match groups.as_ref().map(|g| &g[i]) {
            None => aggregate::Groups::None,
            Some(GroupArr::U8(g)) => aggregate::Groups::U8(g.as_slice()?),
            Some(GroupArr::U16(g)) => aggregate::Groups::U16(g.as_slice()?),
            Some(GroupArr::U32(g)) => aggregate::Groups::U32(g.as_slice()?),
        };
        chunks.push(aggregate::PointChunk {
            a: x.as_slice()?,
            b: y.as_slice()?,
            groups: g,
        });
    }
    let coords = if bng {
        aggregate::Coords::Bng
    } else {
        aggregate::Coords::LatLng
    };
    let pc = run(py, || {
        aggregate::count_points(&chunks, coords, n_groups, res, nested, policy(skip))
    })?;
    Ok((
        pc.cells.into_pyarray(py),
        pc.groups.into_pyarray(py),
        pc.counts.into_pyarray(py),
        rows_out(pc.skipped),
    ))
}

/// Merge two runs of (cell, group) counts, each sorted by key with unique keys (see
/// `aggregate::merge_counts`): the running total of a streamed `count_points`.
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn merge_counts<'py>(
    py: Python<'py>,
    a_cells: PyReadonlyArray1<'py, u64>,
    a_groups: PyReadonlyArray1<'py, u32>,
    a_counts: PyReadonlyArray1<'py, u64>,
    b_cells: PyReadonlyArray1<'py, u64>,
    b_groups: PyReadonlyArray1<'py, u32>,
    b_counts: PyReadonlyArray1<'py, u64>,
) -> PyResult<(Arr<'py, u64>, Arr<'py, u32>, Arr<'py, u64>)> {
    let a = aggregate::CountsRun {
        cells: a_cells.as_slice()?,
        groups: a_groups.as_slice()?,
        counts: a_counts.as_slice()?,
    };
    let b = aggregate::CountsRun {
        cells: b_cells.as_slice()?,
        groups: b_groups.as_slice()?,
        counts: b_counts.as_slice()?,
    };
    let m = run(py, || aggregate::merge_counts(a, b))?;
    Ok((
        m.cells.into_pyarray(py),
        m.groups.into_pyarray(py),
        m.counts.into_pyarray(py),
    ))
}

/// (code, name) of every area-crosswalk method, so Python never mirrors the core's codes.
#[pyfunction]
fn area_method_names() -> Vec<(u8, &'static str)> {
    polygon::AreaMethod::ALL
        .iter()
        .map(|&m| (m as u8, m.name()))
        .collect()
}

fn crs_of(py: Python<'_>, crs: &str) -> PyResult<polygon::Crs> {
    match crs {
        "EPSG:4326" => Ok(polygon::Crs::Wgs84),
        "EPSG:27700" => Ok(polygon::Crs::Bng),
        other => Err(exception(
            py,
            "InvalidInputError",
            format!("crs: got {other:?}, expected 'EPSG:4326' or 'EPSG:27700'"),
        )),
    }
}

/// An Arrow binary-view column given as its data buffers and views (zero-copy from Polars).
fn views_of<'a>(
    py: Python<'_>,
    buffers: &'a [PyReadonlyArray1<'_, u8>],
    views: &'a PyReadonlyArray1<'_, u8>,
    what: &str,
) -> PyResult<Views<'a>> {
    let buffers = buffers
        .iter()
        .map(|b| b.as_slice())
        .collect::<Result<Vec<_>, _>>()?;
    Views::new(views.as_slice()?, buffers, what).map_err(|e| map_err(py, e))
}

/// The WKB values of a geometry column given as Arrow binary views.
fn wkb_slices<'a>(
    py: Python<'_>,
    buffers: &'a [PyReadonlyArray1<'_, u8>],
    views: &'a PyReadonlyArray1<'_, u8>,
) -> PyResult<Vec<&'a [u8]>> {
    let v = views_of(py, buffers, views, "geometry")?;
    Ok((0..v.len()).map(|i| v.get(i)).collect())
}

/// The index in `codes` of each row's value when `rows` lists the values of `codes` in order, each as one run
/// (both String columns as Arrow views), else None: a crosswalk of this very table, read without a join.
#[pyfunction]
fn code_runs<'py>(
    py: Python<'py>,
    row_buffers: Vec<PyReadonlyArray1<'py, u8>>,
    row_views: PyReadonlyArray1<'py, u8>,
    code_buffers: Vec<PyReadonlyArray1<'py, u8>>,
    code_views: PyReadonlyArray1<'py, u8>,
) -> PyResult<Option<Arr<'py, u32>>> {
    let rows = views_of(py, &row_buffers, &row_views, "crosswalk codes")?;
    let codes = views_of(py, &code_buffers, &code_views, "codes")?;
    // Quick (a pass over the views): on this thread, without a job on the pool.
    let runs = py.detach(|| hyperlocal_core::views::run_index(&rows, &codes));
    Ok(runs.map(|r| r.into_pyarray(py)))
}

/// Exact area-share crosswalk of WKB polygons. Returns (area, cell, weight, and per area: summed intersection
/// m², polygon m², repaired flag, method code).
#[pyfunction]
fn polygon_crosswalk<'py>(
    py: Python<'py>,
    buffers: Vec<PyReadonlyArray1<'py, u8>>,
    views: PyReadonlyArray1<'py, u8>,
    crs: &str,
    resolution_: i64,
) -> PyResult<(
    Arr<'py, u32>,
    Arr<'py, u64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, bool>,
    Arr<'py, u8>,
)> {
    let res = resolution(py, resolution_)?;
    let crs = crs_of(py, crs)?;
    let geoms = wkb_slices(py, &buffers, &views)?;
    let x = run(py, || polygon::polygon_crosswalk(&geoms, crs, res))?;
    Ok((
        x.area.into_pyarray(py),
        x.cell.into_pyarray(py),
        x.weight.into_pyarray(py),
        x.covered_m2.into_pyarray(py),
        x.area_m2.into_pyarray(py),
        x.repaired.into_pyarray(py),
        x.method.into_pyarray(py),
    ))
}

/// Index of the polygon containing each WGS84 point (u32::MAX for none).
#[pyfunction]
fn locate_points<'py>(
    py: Python<'py>,
    buffers: Vec<PyReadonlyArray1<'py, u8>>,
    views: PyReadonlyArray1<'py, u8>,
    crs: &str,
    lat: PyReadonlyArray1<'py, f64>,
    lng: PyReadonlyArray1<'py, f64>,
) -> PyResult<Arr<'py, u32>> {
    let crs = crs_of(py, crs)?;
    let geoms = wkb_slices(py, &buffers, &views)?;
    let (la, ln) = (lat.as_slice()?, lng.as_slice()?);
    Ok(run(py, || polygon::locate_points(&geoms, crs, la, ln))?.into_pyarray(py))
}

fn graph<'a>(
    py: Python<'_>,
    offsets: &'a [u64],
    index: &'a [u32],
    n: usize,
) -> PyResult<Graph<'a>> {
    Graph::new(offsets, index, n).map_err(|e| map_err(py, e))
}

fn transform(row_standardised: bool) -> Transform {
    if row_standardised {
        Transform::Row
    } else {
        Transform::Binary
    }
}

/// k-ring means over a CSR graph: (mean, total weight).
#[pyfunction]
#[pyo3(signature = (offsets, index, values, weight=None))]
fn smooth<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, u64>,
    index: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f64>,
    weight: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<(Arr<'py, f64>, Arr<'py, f64>)> {
    let x = values.as_slice()?;
    let g = graph(py, offsets.as_slice()?, index.as_slice()?, x.len())?;
    let w = match &weight {
        Some(a) => Some(a.as_slice()?),
        None => None,
    };
    let (m, t) = run(py, || spatial::smooth(g, x, w))?;
    Ok((m.into_pyarray(py), t.into_pyarray(py)))
}

/// Getis–Ord Gi / Gi* with binary weights: (G, E, V, z).
#[pyfunction]
fn local_g<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, u64>,
    index: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f64>,
    star: bool,
) -> PyResult<(Arr<'py, f64>, Arr<'py, f64>, Arr<'py, f64>, Arr<'py, f64>)> {
    let x = values.as_slice()?;
    let g = graph(py, offsets.as_slice()?, index.as_slice()?, x.len())?;
    let out = run(py, || spatial::local_g(g, x, star))?;
    Ok((
        out.g.into_pyarray(py),
        out.expected.into_pyarray(py),
        out.variance.into_pyarray(py),
        out.z.into_pyarray(py),
    ))
}

/// Local Moran's I: (I, E, V, z, lag, quadrant, standardised values).
#[pyfunction]
fn local_moran<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, u64>,
    index: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f64>,
    row_standardised: bool,
) -> PyResult<(
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, u8>,
    Arr<'py, f64>,
)> {
    let x = values.as_slice()?;
    let g = graph(py, offsets.as_slice()?, index.as_slice()?, x.len())?;
    let t = transform(row_standardised);
    let out = run(py, || spatial::local_moran(g, x, t))?;
    Ok((
        out.i.into_pyarray(py),
        out.expected.into_pyarray(py),
        out.variance.into_pyarray(py),
        out.z.into_pyarray(py),
        out.lag.into_pyarray(py),
        out.quadrant.into_pyarray(py),
        out.zvalues.into_pyarray(py),
    ))
}

/// Conditional-permutation folded counts per row (u32::MAX for isolated rows).
#[pyfunction]
fn permutation_counts<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, u64>,
    index: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f64>,
    cells_: PyReadonlyArray1<'py, u64>,
    seed: u64,
    permutations: u32,
) -> PyResult<Arr<'py, u32>> {
    let x = values.as_slice()?;
    let c = cells_.as_slice()?;
    let g = graph(py, offsets.as_slice()?, index.as_slice()?, x.len())?;
    Ok(run(py, || {
        spatial::permutation_counts(g, x, c, seed, permutations)
    })?
    .into_pyarray(py))
}

/// Global Moran's I: a dict of its statistics.
#[pyfunction]
fn global_moran<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, u64>,
    index: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f64>,
    row_standardised: bool,
    permutations: u32,
    seed: u64,
) -> PyResult<Vec<(&'static str, f64)>> {
    let x = values.as_slice()?;
    let g = graph(py, offsets.as_slice()?, index.as_slice()?, x.len())?;
    let t = transform(row_standardised);
    let o = run(py, || spatial::global_moran(g, x, t, permutations, seed))?;
    Ok(vec![
        ("I", o.i),
        ("expected", o.expected),
        ("variance_norm", o.variance_norm),
        ("variance_rand", o.variance_rand),
        ("z_norm", o.z_norm),
        ("z_rand", o.z_rand),
        ("count", f64::from(o.count)),
        ("mean_sim", o.mean_sim),
        ("sd_sim", o.sd_sim),
        ("s0", o.s0),
    ])
}

/// True when this extension was compiled with optimisations (a debug build is ~20x slower).
#[pyfunction]
fn is_release_build() -> bool {
    !cfg!(debug_assertions)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(latlng_to_cell, m)?)?;
    m.add_function(wrap_pyfunction!(merge_counts, m)?)?;
    m.add_function(wrap_pyfunction!(code_runs, m)?)?;
    m.add_function(wrap_pyfunction!(bng_to_latlng, m)?)?;
    m.add_function(wrap_pyfunction!(validate_cells, m)?)?;
    m.add_function(wrap_pyfunction!(cell_resolutions, m)?)?;
    m.add_function(wrap_pyfunction!(cell_to_parent, m)?)?;
    m.add_function(wrap_pyfunction!(cell_to_string, m)?)?;
    m.add_function(wrap_pyfunction!(cell_to_latlng, m)?)?;
    m.add_function(wrap_pyfunction!(cell_to_boundary_wkb, m)?)?;
    m.add_function(wrap_pyfunction!(grid_neighbours, m)?)?;
    m.add_function(wrap_pyfunction!(weighted_cell_sums, m)?)?;
    m.add_function(wrap_pyfunction!(latlng_to_cell_nested, m)?)?;
    m.add_function(wrap_pyfunction!(count_points, m)?)?;
    m.add_function(wrap_pyfunction!(area_method_names, m)?)?;
    m.add_function(wrap_pyfunction!(polygon_crosswalk, m)?)?;
    m.add_function(wrap_pyfunction!(locate_points, m)?)?;
    m.add_function(wrap_pyfunction!(smooth, m)?)?;
    m.add_function(wrap_pyfunction!(local_g, m)?)?;
    m.add_function(wrap_pyfunction!(local_moran, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_counts, m)?)?;
    m.add_function(wrap_pyfunction!(global_moran, m)?)?;
    m.add_function(wrap_pyfunction!(is_release_build, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
