//! hyperlocal-core: the pure-Rust engine of hyperlocal. Puts points, census areas and service events onto H3
//! cells and aggregates them, over plain slices, in parallel and deterministically. No PyO3 here.
//!
//! Modules:
//! * [`cells`]: lat/lng → cell, validation, parents, string form;
//! * [`fastcell`]: the point → cell kernel (exact: certified fast path, H3 C 4.5 port as the fallback);
//! * [`bng`]: British National Grid → WGS84;
//! * [`aggregate`]: weighted sums onto cells (apportion, rollup) and fused point counting;
//! * [`wkb`]: hexagon boundaries as WKB polygons;
//! * [`neighbours`]: the k-ring neighbour graph of a set of cells (CSR), for smoothing and local statistics;
//! * [`polygon`]: polygon crosswalks (exact area shares) and point location, with `repair` (validity and
//!   GEOS `make_valid(method="structure")` of invalid polygons);
//! * [`spatial`]: k-ring smoothing, Getis–Ord Gi/Gi*, local and global Moran's I, conditional permutations;
//! * [`error`]: the one error type;
//! * [`cancel`]: cooperative cancellation (Ctrl-C) checked between chunks of work.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod aggregate;
pub mod bng;
pub mod cancel;
pub mod cells;
pub mod error;
pub mod fastcell;
pub mod neighbours;
pub mod polygon;
mod repair;
pub mod spatial;
pub mod views;
pub mod wkb;

pub use error::{HlError, Result, RowList};
