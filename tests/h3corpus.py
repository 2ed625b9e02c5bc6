"""Points for differential tests of point → cell against h3-py 4.5 (the reference C library): uniform on the
sphere, plus the awkward places — pentagon neighbourhoods, icosahedron face edges and vertices, cell vertices and
edge midpoints at every resolution (and their floating-point neighbours), the poles and ±180°."""

from __future__ import annotations

import h3
import numpy as np


def h3py(lat: np.ndarray, lng: np.ndarray, res: np.ndarray | int) -> np.ndarray:
    """h3-py's cells (as integers), point by point; ``res`` is one resolution or one per point."""
    r = np.broadcast_to(np.asarray(res), lat.shape)
    return np.fromiter(
        (h3.str_to_int(h3.latlng_to_cell(a, b, int(k))) for a, b, k in zip(lat.tolist(), lng.tolist(), r.tolist())),
        dtype=np.uint64,
        count=len(lat),
    )


def globe(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform on the sphere, then the poles, ±180° and points scattered round every pentagon."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lng = rng.uniform(-180, 180, n)
    pent = np.array([h3.cell_to_latlng(p) for r in (0, 5, 10) for p in h3.get_pentagons(r)])
    k = 2000
    special_lat = np.concatenate(
        [
            np.repeat(pent[:, 0], k // 10) + rng.normal(0, 0.05, len(pent) * (k // 10)),
            [90.0, -90.0, 0.0, 0.0, 89.999999, -89.999999, 45.0, -45.0],
        ]
    )
    special_lng = np.concatenate(
        [
            np.repeat(pent[:, 1], k // 10) + rng.normal(0, 0.05, len(pent) * (k // 10)),
            [0.0, 0.0, 180.0, -180.0, 179.999999, -179.999999, 180.0, -180.0],
        ]
    )
    special_lat = np.clip(special_lat, -90, 90)
    special_lng = np.clip(special_lng, -180, 180)
    return np.concatenate([lat, special_lat]), np.concatenate([lng, special_lng])


def _boundary_points(seed: int, per_res: int = 300) -> np.ndarray:
    """(lat, lng) rows: vertices, edge midpoints and centres of the res-2 cells that span two or more icosahedron
    faces (on face edges and vertices), of every pentagon and its neighbours at every resolution, and of random
    cells at every resolution."""
    rng = np.random.default_rng(seed)
    cells = [
        c for r0 in h3.get_res0_cells() for c in h3.cell_to_children(r0, 2) if len(h3.get_icosahedron_faces(c)) > 1
    ]
    for res in range(16):
        for p in h3.get_pentagons(res):
            cells += list(h3.grid_disk(p, 1))
        la = np.degrees(np.arcsin(rng.uniform(-1, 1, per_res)))
        ln = rng.uniform(-180, 180, per_res)
        cells += [h3.latlng_to_cell(a, b, res) for a, b in zip(la, ln)]
    pts = []
    for c in cells:
        b = h3.cell_to_boundary(c)
        pts.append(h3.cell_to_latlng(c))
        for i, v in enumerate(b):
            w = b[(i + 1) % len(b)]
            pts.append(v)
            if abs(v[1] - w[1]) < 180:
                pts.append(((v[0] + w[0]) / 2, (v[1] + w[1]) / 2))
    return np.array(pts, dtype=np.float64)


def _wrap(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lng = np.where(lng > 180, lng - 360, np.where(lng < -180, lng + 360, lng))
    return np.clip(lat, -90, 90), lng


def near_edges(seed: int, copies: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the boundary points shifted by 1e-8 .. 1e-3 degrees (1 mm .. 100 m), plus the poles and ±180°:
    next to every kind of decision boundary, but not on it."""
    rng = np.random.default_rng(seed)
    pts = _boundary_points(seed)
    out_lat, out_lng = [], []
    for _ in range(copies):
        scale = 10.0 ** rng.uniform(-8, -3, len(pts))
        out_lat.append(pts[:, 0] + scale * rng.normal(size=len(pts)))
        out_lng.append(pts[:, 1] + scale * rng.normal(size=len(pts)))
    la, ln = _wrap(np.concatenate(out_lat), np.concatenate(out_lng))
    poles = np.array([90.0, -90.0, 89.99999999999, -89.99999999999, 0.0, 0.0, 0.0, 0.0])
    pole_lng = np.array([0.0, 180.0, -180.0, 123.4, 180.0, -180.0, np.nextafter(180, 0), np.nextafter(-180, 0)])
    return np.concatenate([la, poles]), np.concatenate([ln, pole_lng])


def on_edges(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The boundary points themselves and their next floats either way: points on cell edges and vertices to
    within rounding, where the cell depends on the last bit of every operation."""
    pts = _boundary_points(seed, per_res=100)
    la, ln = pts[:, 0], pts[:, 1]
    return _wrap(
        np.concatenate([la, np.nextafter(la, 90), np.nextafter(la, -90), la, la]),
        np.concatenate([ln, ln, ln, np.nextafter(ln, 180), np.nextafter(ln, -180)]),
    )


def corpus(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lng, res): n uniform points (plus poles, ±180° and pentagon neighbourhoods) and the near-edge
    corpus, each with a random resolution 0..15, then the near-edge corpus again at every resolution."""
    rng = np.random.default_rng(seed + 1)
    g_lat, g_lng = globe(n, seed)
    e_lat, e_lng = near_edges(seed)
    lat = np.concatenate([g_lat, e_lat, np.tile(e_lat, 16)])
    lng = np.concatenate([g_lng, e_lng, np.tile(e_lng, 16)])
    res = np.concatenate(
        [rng.integers(0, 16, len(g_lat) + len(e_lat)), np.repeat(np.arange(16), len(e_lat))]
    ).astype(np.int64)
    return lat, lng, res


def ours(lat: np.ndarray, lng: np.ndarray, res: np.ndarray) -> np.ndarray:
    """hyperlocal's cells for per-point resolutions (one call per resolution)."""
    import hyperlocal as hl

    out = np.zeros(len(lat), dtype=np.uint64)
    for r in range(16):
        m = res == r
        if m.any():
            out[m] = hl.latlng_to_cell(lat[m], lng[m], r).to_numpy()
    return out
