"""Grasps on a folder of real-world meshes: synthesis and refinement end to end, one compilation.

    python benchmarks/grasps_folder.py [--meshes 40] [--num 8] [--old 8]

The meshes are the real-world object meshes that ship with ``pybullet_data`` (installed by the
test extra): scanned toys, a bunny, a duck, a teddy, a mug, Lego and Jenga bricks, and the first
of its 1000 ``random_urdfs`` objects (irregular, often open or multi-part meshes), each scaled so
that its longest side is 12 cm and written to a temporary folder as ``.obj`` in millimeters. End
to end means from the files on disk to the grasps: ``objects.load_mesh`` (``units="mm"``), the
SDF grids, compilation and optimisation.

Rows:
  * ``synthesize_many``: ``--num`` grasps on every mesh (``grasps.synthesize_many``: fixed-shape
    grids, ``chunk`` meshes per call, one compilation).
  * ``refine_many``: those grasps perturbed (0.1 rad per pose component, 5 mm) and refined for
    ``--steps`` (the sample CLI's ``--refine_steps`` default) by ``grasps.refine_many``, as
    ``sample --refine`` does.
  * ``synthesize, one mesh at a time``: the earlier path (``grasps.synthesize`` per mesh: a grid
    of the mesh's own shape, so a compilation per new shape) on the first ``--old`` meshes.

Prints a table and writes JSON to ``--out`` (default ``benchmarks/results/grasps_folder.json``).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS  # noqa: E402

_NAMED = ("duck.obj", "teddy2_VHACD_CHs.obj", "bunny.obj", "soccerball.obj", "stone.obj",
          "sphere_smooth.obj", "objects/mug.obj", "toys/concave_box.obj", "toys/cube.obj",
          "toys/cylinder.obj", "toys/prism.obj", "toys/shape_sorter.obj", "lego/lego.obj",
          "jenga/jenga.obj", "domino/domino.obj")  # fmt: skip


def mesh_files(count: int) -> list[str]:
    """``count`` real-world meshes of ``pybullet_data``: the named objects, then random_urdfs."""
    import pybullet_data

    root = pybullet_data.getDataPath()
    files = [os.path.join(root, n) for n in _NAMED if os.path.exists(os.path.join(root, n))]
    files += sorted(glob.glob(os.path.join(root, "random_urdfs", "*", "*.obj")))
    return files[:count]


def write_folder(files: list[str], folder: str, size_m: float = 0.12) -> list[str]:
    """Each mesh scaled to a longest side of ``size_m`` meters, written in millimeters."""
    import trimesh

    out = []
    for path in files:
        mesh = trimesh.load(path, force="mesh", process=False)
        extent = float((mesh.bounds[1] - mesh.bounds[0]).max())
        mesh.apply_scale(1000.0 * size_m / extent)
        name = os.path.relpath(path, os.path.dirname(os.path.dirname(path))).replace(os.sep, "_")
        target = os.path.join(folder, name)
        mesh.export(target)
        out.append(target)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meshes", type=int, default=40)
    parser.add_argument("--num", type=int, default=8)
    parser.add_argument("--steps", type=int, default=DEFAULT_REFINE_STEPS)
    parser.add_argument("--old", type=int, default=8, help="meshes for the one-at-a-time row")
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks/results/grasps_folder.json"))
    args = parser.parse_args()

    import jax
    import numpy as np

    from mgd_jax import grasps, hand, objects

    model = hand.load(None)
    proxies = grasps.proxies_for(model, grasps.GraspConfig())
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_folder(mesh_files(args.meshes), tmp)
        print(f"{len(paths)} meshes, {args.num} grasps each", flush=True)

        t0 = time.perf_counter()
        meshes = [objects.load_mesh(p, units="mm") for p in paths]
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        synth = grasps.synthesize_many(proxies, meshes, args.num, seed=0, chunk=args.chunk)
        synth_s = time.perf_counter() - t0
        n = args.num * len(meshes)
        rows["synthesize_many"] = {"grasps": n, "seconds": load_s + synth_s, "load_s": load_s,
                                   "grasps_per_s": n / (load_s + synth_s)}  # fmt: skip
        print(f"synthesize_many: {n} grasps in {load_s + synth_s:.1f} s", flush=True)

        rng = np.random.default_rng(0)
        poses = [p + rng.normal(0, 0.1, p.shape).astype(np.float32) for p, _, _ in synth]
        transes = [t + rng.normal(0, 0.005, t.shape).astype(np.float32) for _, t, _ in synth]
        t0 = time.perf_counter()
        meshes = [objects.load_mesh(p, units="mm") for p in paths]
        refined = grasps.refine_many(proxies, poses, transes, meshes, steps=args.steps,
                                     chunk=args.chunk)  # fmt: skip
        refine_s = time.perf_counter() - t0
        rows["refine_many"] = {"grasps": n, "seconds": refine_s, "steps": args.steps,
                               "grasps_per_s": n / refine_s}  # fmt: skip
        print(f"refine_many: {n} grasps in {refine_s:.1f} s", flush=True)
        before = [grasps.evaluate_energies(proxies, p, t, grasps.grid_sdf(grasps.object_grid(m)))[1]
                  for p, t, m in zip(poses, transes, meshes)]  # fmt: skip
        after = [grasps.evaluate_energies(proxies, p, t, grasps.grid_sdf(grasps.object_grid(m)))[1]
                 for (p, t), m in zip(refined, meshes)]  # fmt: skip
        rows["refine_many"]["energy_before"] = float(np.mean(np.concatenate(before)))
        rows["refine_many"]["energy_after"] = float(np.mean(np.concatenate(after)))

        if args.old:
            t0 = time.perf_counter()
            for i, p in enumerate(paths[: args.old]):
                mesh = objects.load_mesh(p, units="mm")
                grasps.synthesize(proxies, mesh, args.num, seed=i)
            old_s = time.perf_counter() - t0
            m = args.num * min(args.old, len(paths))
            rows["synthesize, one mesh at a time"] = {"grasps": m, "seconds": old_s,
                                                      "grasps_per_s": m / old_s}  # fmt: skip

    print("\n| path | grasps | seconds | grasps/s |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['grasps']} | {r['seconds']:.1f} | {r['grasps_per_s']:.2f} |")
    result = {"rows": rows, "meshes": [os.path.basename(p) for p in paths],
              "num_per_mesh": args.num, "chunk": args.chunk,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "backend": jax.default_backend()}}  # fmt: skip
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
