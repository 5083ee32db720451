"""Evaluator throughput (grasps/s) and agreement with a straightforward trimesh reference.

    python benchmarks/evaluate.py [--grasps 256] [--objects 16] [--reference-grasps 32]
        [--workers 1 2] [--quick] [--out benchmarks/out/evaluate.json]

Scenes: procedural objects (boxes, cylinders, ellipsoids, capsules, tori and a mug-like union,
2-20 cm) and the project's procedural hand (``mgd_jax.hand``) in random finger poses within
the joint limits, its palm placed against a random side of the object at -1.5..+1 cm, so some
grasps penetrate and some float. Our metrics run through ``evaluate_meshes`` (one metric per
call, per-object caches included in the time, 2-worker times include starting the pool). The
reference is how published evaluation code does it per grasp (``trimesh`` only, no caching):
``obj.contains(hand_verts)`` + ``trimesh.proximity.closest_point`` for penetration and contact,
``obj.voxelized(pitch).points`` (surface shell) or the object's lattice filtered with
``obj.contains`` (solid) + ``hand.contains`` for the intersection volume. The reference runs on
every k-th grasp (``--reference-grasps``) to keep the run short; agreement is measured there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import trimesh

from mgd_jax import evaluators as ev

PITCH = 0.005
THRESHOLD = 0.005


def make_objects(num: int, rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Watertight primitives (and one mug-like union) with max extent 2-20 cm, centred at 0."""
    kinds = ["box", "cylinder", "ellipsoid", "capsule", "torus", "mug"]
    objects = []
    for i in range(num):
        kind = kinds[i % len(kinds)]
        size = rng.uniform(0.02, 0.20)
        if kind == "box":
            m = trimesh.creation.box(rng.uniform(0.3, 1.0, 3))
        elif kind == "cylinder":
            m = trimesh.creation.cylinder(rng.uniform(0.15, 0.5), 1.0, sections=48)
        elif kind == "ellipsoid":
            m = trimesh.creation.icosphere(3, 0.5)
            m.apply_scale(rng.uniform(0.4, 1.0, 3))
        elif kind == "capsule":
            m = trimesh.creation.capsule(rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.25))
        elif kind == "torus":
            m = trimesh.creation.torus(0.35, rng.uniform(0.08, 0.15))
        else:
            body = trimesh.creation.cylinder(0.3, 0.8, sections=48)
            handle = trimesh.creation.torus(0.2, 0.05)
            handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
            handle.apply_translation([0.32, 0, 0])
            m = trimesh.boolean.union([body, handle], engine="manifold")
        m.apply_translation(-m.bounds.mean(axis=0))
        m.apply_scale(size / m.extents.max())
        objects.append(m)
    return objects


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def make_grasps(objects, num: int, rng: np.random.Generator):
    """Hands (procedural MANO-layout hand) placed palm-first against the objects."""
    from mgd_jax import hand

    model = hand.load(None)
    poses = hand.sample_pose_within_limits(model, rng, num)
    out = hand.forward(model, poses, np.zeros((num, 3), np.float32))
    verts = np.asarray(out.vertices, np.float64)
    joints = np.asarray(out.joints, np.float64)
    weights = np.asarray(model.weights)
    part = ev.part_labels_from_weights(weights)
    fingers = ev.finger_labels_from_weights(weights)
    hands, objs, all_joints = [], [], []
    for i in range(num):
        obj = objects[i % len(objects)]
        palm = verts[i][part == 0]
        palm_point = palm[palm[:, 1] < palm[:, 1].min() + 0.005].mean(axis=0)  # palm faces -y
        r = _rotation(rng)
        away = -r @ np.array([0.0, -1.0, 0.0])  # from the object towards the palm
        centre = obj.bounds.mean(axis=0)
        support = ((obj.vertices - centre) @ away).max()
        target = centre + away * (support + rng.uniform(-0.015, 0.01))
        t = target - r @ palm_point
        hands.append(trimesh.Trimesh(verts[i] @ r.T + t, model.faces_np, process=False))
        objs.append(obj)
        all_joints.append(joints[i] @ r.T + t)
    return hands, objs, np.stack(all_joints), part, fingers


# --- the reference: per grasp, trimesh only ---------------------------------------------------


def ref_penetration_cm(h, o) -> float:
    inside = o.contains(h.vertices)
    if not inside.any():
        return 0.0
    return 100.0 * float(trimesh.proximity.closest_point(o, h.vertices[inside])[1].max())


def ref_contact(h, o) -> bool:
    inside = o.contains(h.vertices)
    dist = trimesh.proximity.closest_point(o, h.vertices)[1]
    return bool((inside | (dist <= THRESHOLD)).any())


def ref_volume_surface_cm3(h, o) -> float:
    return float(h.contains(o.voxelized(PITCH).points).sum()) * PITCH**3 * 1e6


def ref_volume_solid_cm3(h, o) -> float:
    lo, hi = np.ceil(o.bounds[0] / PITCH), np.floor(o.bounds[1] / PITCH)
    axes = [np.arange(a, b + 1) * PITCH for a, b in zip(lo, hi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return float(h.contains(grid[o.contains(grid)]).sum()) * PITCH**3 * 1e6


# (name, metric for evaluate_meshes, options, result key, reference function)
ROWS = [
    ("penetration depth (cm)", "penetration", {}, "penetration_depth_cm", ref_penetration_cm),
    ("intersection volume, solid (cm^3)", "intersection", {"intersection_mode": "solid"},
     "intersection_volume_cm3", ref_volume_solid_cm3),
    ("intersection volume, surface (cm^3)", "intersection", {"intersection_mode": "surface"},
     "intersection_volume_cm3", ref_volume_surface_cm3),
    ("contact (bool)", "contact", {}, "contact", ref_contact),
    ("simulation displacement (cm)", "simulation", {}, "sim_displacement_cm", None),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grasps", type=int, default=256)
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--reference-grasps", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="32 grasps, 6 objects, 8 reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/out/evaluate.json")
    args = parser.parse_args()
    if args.quick:
        args.grasps, args.objects, args.reference_grasps = 32, 6, 8

    rng = np.random.default_rng(args.seed)
    objects = make_objects(args.objects, rng)
    hands, objs, joints, part, fingers = make_grasps(objects, args.grasps, rng)
    step = max(1, args.grasps // max(1, args.reference_grasps))
    ref_idx = np.arange(0, args.grasps, step)[: args.reference_grasps]

    rows = []
    for name, metric, opts, key, ref_fn in ROWS:
        row = {"metric": name, "grasps": args.grasps}
        values = None
        for w in args.workers:
            t0 = time.perf_counter()
            res = ev.evaluate_meshes(hands, objs, [metric], num_workers=w, progress=False,
                                     hand_part_labels=part, **opts)  # fmt: skip
            row[f"ours_{w}w_grasps_per_s"] = args.grasps / (time.perf_counter() - t0)
            values = res[key] if values is None else values
        row["ours_mean"] = float(np.mean(values))
        if ref_fn is not None:
            t0 = time.perf_counter()
            ref = np.array([ref_fn(hands[i], objs[i]) for i in ref_idx], np.float64)
            row["reference_grasps"] = len(ref_idx)
            row["reference_grasps_per_s"] = len(ref_idx) / (time.perf_counter() - t0)
            row["speedup_1w"] = row[f"ours_{args.workers[0]}w_grasps_per_s"] / row[
                "reference_grasps_per_s"
            ]
            ours = np.asarray(values, np.float64)[ref_idx]
            row["reference_mean"] = float(ref.mean())
            gap = abs(ours.mean() - ref.mean())
            row["mean_rel_diff"] = float(gap / max(abs(ref.mean()), 1e-12))
            row["max_abs_diff"] = float(np.abs(ours - ref).max())
            tol = np.maximum(0.02 * np.abs(ref), 1e-6)
            row["frac_within_2pct"] = float(np.mean(np.abs(ours - ref) <= tol))
        rows.append(row)
        print(f"done: {name}", flush=True)

    rows += combined_rows(rows, args.workers)
    t0 = time.perf_counter()
    div = ev.diversity(joints)
    fd = ev.frechet_distance_sets(joints[: args.grasps // 2], joints[args.grasps // 2 :])
    extra = {"diversity": div, "frechet_half_vs_half": fd, "seconds": time.perf_counter() - t0}

    print(markdown_table(rows, args.workers))
    print(f"\ndiversity (k=20) over {args.grasps} grasps: entropy {div['entropy']:.3f}, cluster "
          f"size {div['cluster_size_whitened']:.3f}, mean pairwise joint distance "
          f"{div['mean_pairwise_joint_distance_cm']:.2f} cm; Frechet (geometric features, half vs "
          f"half) {fd:.2f} cm^2; {extra['seconds']:.2f} s")  # fmt: skip
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "machine": {"platform": platform.platform(),
                   "cpus": os.cpu_count()}, "rows": rows, "stats": extra}, f, indent=2)  # fmt: skip
    print(f"wrote {args.out}")


def combined_rows(rows, workers) -> list[dict]:
    """Penetration + intersection volume per grasp (the 10x target): throughputs add as times."""
    pen = rows[0]
    out = []
    for vol in rows[1:3]:
        r = {"metric": f"penetration + {vol['metric'].split(' (')[0]}", "ours_mean": float("nan")}
        keys = [f"ours_{w}w_grasps_per_s" for w in workers] + ["reference_grasps_per_s"]
        for k in keys:
            r[k] = 1.0 / (1.0 / pen[k] + 1.0 / vol[k])
        r["speedup_1w"] = r[keys[0]] / r["reference_grasps_per_s"]
        r["reference_grasps"] = vol["reference_grasps"]
        r["frac_within_2pct"] = min(pen["frac_within_2pct"], vol["frac_within_2pct"])
        r["mean_rel_diff"] = max(pen["mean_rel_diff"], vol["mean_rel_diff"])
        out.append(r)
    return out


def markdown_table(rows, workers) -> str:
    head = ["metric", "mean"] + [f"ours {w}w (grasps/s)" for w in workers]
    head += ["reference (grasps/s)", "speedup (1w)", "agreement"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["metric"], "-" if np.isnan(r["ours_mean"]) else f"{r['ours_mean']:.3f}"]
        cells += [f"{r[f'ours_{w}w_grasps_per_s']:.1f}" for w in workers]
        if "reference_grasps_per_s" in r:
            cells += [f"{r['reference_grasps_per_s']:.2f}", f"{r['speedup_1w']:.0f}x",
                      f"{100 * r['frac_within_2pct']:.0f}% of {r['reference_grasps']} within 2%, "
                      f"means differ {100 * r['mean_rel_diff']:.2f}%"]  # fmt: skip
        else:
            cells += ["-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
