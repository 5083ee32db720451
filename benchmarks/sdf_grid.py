"""``build_sdf_grid`` time and accuracy: the current version vs the previous one (git history).

    python benchmarks/sdf_grid.py [--resolution 64] [--repeats 3] [--quick]
        [--out benchmarks/results/sdf_grid.json]

Meshes: procedural objects (``sdf_mesh.sample_object``, randomly rotated), the mug subdivided
to ~70k and ~275k faces, and real-world meshes from ``pybullet_data`` (scans and CAD exports:
open seams, several components, overlapping convex parts), each scaled so its longest side is
0.15 m. Times are CPU seconds of this single-threaded process (numpy/scipy, one thread; the
median of ``--repeats`` calls for the new version, one call for the old), robust to other jobs
on a shared machine; wall-clock times are in the JSON.

Accuracy, on 3000 points within 1 cm of the surface (surface samples moved along the normal):
  * ``|new-old|``: max difference of the two grids' ``lookup`` (mm); includes the different
    trilinear errors of the two grid layouts.
  * ``node err``: max |grid node value| - exact distance over 3000 nodes within 1 cm of the
    surface (mm); exact = ``evaluators.distance.surface_distance`` of the original mesh.
  * ``sign err``: share of the points more than one voxel from the surface whose ``lookup`` sign
    differs from the reference: ray parity (``evaluators.inside.contains``) on watertight
    meshes, the generalized winding number |w| > 1/2 (``evaluators.inside.winding_number``) on
    the others.
The previous version runs only where it finishes in seconds: its sign fallback for open meshes
(winding number over all points x faces) needs minutes and GBs beyond ~1500 faces.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
import types

os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax.numpy as jnp
import numpy as np
import trimesh

from mgd_jax.evaluators import distance, inside
from mgd_jax.evaluators.meshes import as_mesh
from mgd_jax.objects import sdf_grid, sdf_mesh

OLD_REV = "21749ee793b7eaabca49822e2793e5f034a89451"  # last commit of the previous version
OLD_MAX_OPEN_FACES = 1500
SIZE = 0.15  # longest side of the real-world meshes, meters
NEAR = 0.01  # accuracy band, meters
PROCEDURAL = ["box", "cylinder", "torus", "mug", "bowl", "bumpy_blob", "knife", "pan"]
REAL = ["duck.obj", "teddy2_VHACD_CHs.obj", "bunny.obj", "objects/mug.obj", "soccerball.obj",
        "sphere_smooth.obj", "toys/cube.obj", "toys/cylinder.obj", "toys/shape_sorter.obj",
        "random_urdfs/000/000.obj", "random_urdfs/003/003.obj"]  # fmt: skip


def old_module() -> types.ModuleType:
    """The previous ``sdf_grid`` module, read from git history."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = subprocess.run(["git", "show", f"{OLD_REV}:mgd_jax/objects/sdf_grid.py"], cwd=root,
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    mod = types.ModuleType("sdf_grid_old")
    exec(compile(src, "sdf_grid_old.py", "exec"), mod.__dict__)  # noqa: S102 - our own history
    return mod


def meshes(quick: bool) -> list[tuple[str, trimesh.Trimesh]]:
    out = []
    for fam in PROCEDURAL[:3] if quick else PROCEDURAL:
        out.append((fam, sdf_mesh.sample_object(fam, 20001, random_rotation=True)[1]))
    if not quick:
        mug = dict(out)["mug"]
        v, f = trimesh.remesh.subdivide(mug.vertices, mug.faces)
        out.append(("mug x4 (subdivided)", trimesh.Trimesh(v, f, process=False)))
        v, f = trimesh.remesh.subdivide(v, f)
        out.append(("mug x16 (subdivided)", trimesh.Trimesh(v, f, process=False)))
    import pybullet_data

    root = pybullet_data.getDataPath()
    for name in REAL[:4] if quick else REAL:
        m = trimesh.load(os.path.join(root, name), force="mesh")
        m.apply_translation(-m.bounds.mean(axis=0))
        m.apply_scale(SIZE / m.extents.max())
        out.append((name, m))
    return out


def near_points(mesh: trimesh.Trimesh, n: int, rng: np.random.Generator) -> np.ndarray:
    pts, fid = trimesh.sample.sample_surface(mesh, n, seed=int(rng.integers(1 << 31)))
    normals = mesh.face_normals[fid]
    return pts + normals * rng.uniform(-NEAR, NEAR, (n, 1))


def _lookup(grid, pts: np.ndarray) -> np.ndarray:
    return np.asarray(sdf_grid.lookup(grid, jnp.asarray(pts, jnp.float32)), np.float64)


def measure(name: str, mesh: trimesh.Trimesh, old, args) -> dict:
    rng = np.random.default_rng(0)
    cpu, wall = [], []
    for _ in range(args.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        grid = sdf_grid.build_sdf_grid(mesh, resolution=args.resolution)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    row = {"mesh": name, "faces": len(mesh.faces), "watertight": bool(mesh.is_watertight),
           "new_s": statistics.median(cpu), "new_wall_s": statistics.median(wall),
           "shape": list(grid.values.shape)}  # fmt: skip
    pts = near_points(mesh, 3000, rng)
    new = _lookup(grid, pts)
    index = distance.build_distance_index(as_mesh(mesh))
    exact = distance.surface_distance(index, pts)
    if mesh.is_watertight:
        contains = inside.contains(inside.build_inside_index(as_mesh(mesh)), pts)
    else:
        contains = np.abs(inside.winding_number(np.asarray(mesh.triangles), pts)) > 0.5
    ref = np.where(contains, -exact, exact)
    h = float(grid.spacing)
    clear = exact > h
    row["sign_err_new_pct"] = 100.0 * float(np.mean((new[clear] < 0) != (ref[clear] < 0)))
    # Construction error at the nodes, without interpolation.
    values = np.asarray(grid.values, np.float64).ravel()
    nodes = np.flatnonzero(np.abs(values) < NEAR)
    nodes = rng.choice(nodes, min(3000, len(nodes)), replace=False)
    xyz = np.asarray(grid.origin) + h * np.stack(np.unravel_index(nodes, grid.values.shape), -1)
    node_err = np.abs(np.abs(values[nodes]) - distance.surface_distance(index, xyz))
    row["node_err_max_mm"] = 1e3 * float(node_err.max())
    row["lookup_err_max_mm"] = 1e3 * float(np.abs(new - ref).max())
    if mesh.is_watertight or len(mesh.faces) <= OLD_MAX_OPEN_FACES:
        c0, t0 = time.process_time(), time.perf_counter()
        old_grid = old.build_sdf_grid(mesh, resolution=args.resolution)
        row["old_s"], row["old_wall_s"] = time.process_time() - c0, time.perf_counter() - t0
        prev = _lookup(old_grid, pts)
        row["new_old_max_mm"] = 1e3 * float(np.abs(new - prev).max())
        row["sign_err_old_pct"] = 100.0 * float(np.mean((prev[clear] < 0) != (ref[clear] < 0)))
    return row


def _cell(row: dict, key: str, fmt: str) -> str:
    return fmt % row[key] if key in row else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer meshes")
    parser.add_argument("--out", default="benchmarks/results/sdf_grid.json")
    args = parser.parse_args()
    old = old_module()
    sdf_grid.build_sdf_grid(trimesh.creation.box(), resolution=8)  # imports, first-call costs
    rows = []
    header = ("| mesh | faces | watertight | old s | new s | max abs(new-old) near, mm | "
              "node err, mm | sign err new / old, % |")  # fmt: skip
    print(header + "\n|" + "---|" * 8, flush=True)
    for name, mesh in meshes(args.quick):
        r = measure(name, mesh, old, args)
        rows.append(r)
        print(f"| {name} | {r['faces']} | {'yes' if r['watertight'] else 'no'} | "
              f"{_cell(r, 'old_s', '%.2f')} | {r['new_s']:.3f} | {_cell(r, 'new_old_max_mm', '%.2f')} | "
              f"{r['node_err_max_mm']:.2f} | {r['sign_err_new_pct']:.2f} / "
              f"{_cell(r, 'sign_err_old_pct', '%.2f')} |", flush=True)  # fmt: skip
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"resolution": args.resolution, "repeats": args.repeats, "old_rev": OLD_REV,
                   "machine": platform.platform(), "processor": platform.processor(),
                   "cpus": os.cpu_count(), "rows": rows}, f, indent=1)  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
