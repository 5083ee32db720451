"""Grasp synthesis: optimiser throughput on this machine, and the evidence of a built dataset.

    python benchmarks/grasps.py throughput [--batches 16 64 256] [--steps 200]
    python benchmarks/grasps.py dataset [--name mgd_synthetic/demo] [--sheet docs/synthetic_grasps.png]

``throughput`` times ``grasps.optimize`` (jitted, annealed Adam, ``--steps`` iterations) on
objects of the first ``--families`` entry (a new object per repeat) at each batch size: grasps/s after compilation (median of
``--repeats``), compile time separately, and the quality filter's grasps/s (penetration + contact
+ MuJoCo simulation, 1 worker).

``dataset`` reads a built ``mgd_synthetic`` dataset: the per-family acceptance table stored in
its metadata, the evaluation metrics of the accepted grasps (``mgd_jax.evaluators`` on every
accepted grasp of the train split, recomputed here, not read back), and a contact sheet of 24
accepted grasps across the families.

Both print a table and write JSON to ``--out`` (default ``benchmarks/results/grasps_<mode>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def throughput(batches: list[int], steps: int, repeats: int, families: list[str]) -> dict:
    import jax
    import numpy as np

    from mgd_jax import grasps, hand
    from mgd_jax.objects import procedural, sampling, sdf_mesh

    model = hand.load(None)
    proxies = grasps.build_proxies(model)
    config = grasps.GraspConfig(steps=steps)
    rows = []
    for b in batches:
        times, compile_s = [], None
        for r in range(repeats + 1):
            family = families[0]  # one family: the SDF's structure (and the compile) is shared
            spec, mesh = sdf_mesh.sample_object(family, 100 + r, random_rotation=True)
            points = sampling.sample_points(mesh, 512, seed=r)
            t0 = time.perf_counter()
            out = grasps.optimize(proxies, grasps.procedural_sdf(spec), points,
                                  jax.random.PRNGKey(r), b, config)  # fmt: skip
            jax.block_until_ready(out.pose)
            dt = time.perf_counter() - t0
            if r == 0:
                compile_s = dt
            else:
                times.append(dt)
        med = statistics.median(times)
        rows.append({"batch": b, "steps": steps, "grasps_per_s": b / med, "seconds_per_batch": med,
                     "first_call_s": compile_s})  # fmt: skip
        print(f"optimise  batch {b:4d}: {b / med:7.1f} grasps/s  ({med:.2f} s/batch, "
              f"first call {compile_s:.1f} s)")  # fmt: skip
    # The filter (penetration + contact + simulation) on the last batch's grasps.
    t0 = time.perf_counter()
    keep, metrics = grasps.filter_grasps(model, out.pose, out.trans, mesh, simulate=True)
    dt = time.perf_counter() - t0
    filt = {"grasps": len(keep), "grasps_per_s": len(keep) / dt, "accepted": int(np.sum(keep))}
    print(f"filter (penetration, contact, MuJoCo): {filt['grasps_per_s']:.1f} grasps/s")
    return {"optimise": rows, "filter": filt, "families": families, "procedural": procedural.FAMILIES}


def dataset_report(name: str, data_dir: str | None, sheet: str, per_family: int, size: int) -> dict:
    import numpy as np
    import tensorflow_datasets as tfds

    from mgd_jax import evaluators, hand, images, objects, render
    from mgd_jax.objects import sdf_mesh

    builder = tfds.builder(name, data_dir=data_dir)
    stats = dict(builder.info.metadata.get("synthesis_stats", {}))
    src = tfds.data_source(name, split="train", data_dir=data_dir)
    model = hand.load(None)
    rows = [src[i] for i in range(len(src))]
    meshes: dict[str, object] = {}

    def mesh_of(oid: str):
        if oid not in meshes:
            family, _, seed = oid.partition("/")
            meshes[oid] = objects.normalize(sdf_mesh.sample_object(family, int(seed), True)[1])[0]
        return meshes[oid]

    ids = [r["object_id"].decode() for r in rows]
    pose = np.stack([r["pose"] for r in rows])
    trans = np.stack([r["trans"] for r in rows])
    verts = np.asarray(hand.forward(model, pose, trans).vertices, np.float64)
    hands = [hand.to_trimesh(v, model) for v in verts]
    t0 = time.perf_counter()
    weights = np.asarray(model.weights)
    per = evaluators.evaluate_meshes(hands, [mesh_of(i) for i in ids], num_workers=2,
                                     hand_part_labels=evaluators.part_labels_from_weights(weights),
                                     finger_labels=evaluators.finger_labels_from_weights(weights))  # fmt: skip
    eval_s = time.perf_counter() - t0
    summary = evaluators.summarize(per)
    accepted_metrics = {k: summary[k] for k in ("penetration_depth_cm", "intersection_volume_cm3",
                                                "sim_displacement_cm", "contact",
                                                "num_fingers_in_contact") if k in summary}  # fmt: skip
    # Contact sheet: up to `per_family` accepted grasps of different objects per family.
    by_family: dict[str, list[int]] = {}
    seen = set()
    for i, oid in enumerate(ids):
        fam = oid.split("/")[0]
        if oid in seen or len(by_family.get(fam, [])) >= per_family:
            continue
        seen.add(oid)
        by_family.setdefault(fam, []).append(i)
    # Round-robin over the families (first grasp of each, then the second, ...), up to 24.
    depth = max(len(v) for v in by_family.values())
    picks = [by_family[f][d] for d in range(depth) for f in sorted(by_family)
             if d < len(by_family[f])][:24]  # fmt: skip
    picks.sort(key=lambda i: ids[i])
    tiles, labels = [], []
    for i in picks:
        view = render.render_views([hands[i], mesh_of(ids[i])], views=["three_quarter"],
                                   size=(size, size))[0]  # fmt: skip
        tiles.append(view["color"])
        labels.append(f"{ids[i]} pen {per['penetration_depth_cm'][i]:.2f} cm")
    os.makedirs(os.path.dirname(os.path.abspath(sheet)), exist_ok=True)
    images.save_png(sheet, images.contact_sheet(tiles, ncols=6, labels=labels))
    print(f"\n{name}: {len(rows)} accepted train grasps on {len(set(ids))} objects; sheet {sheet}")
    print("| family | objects | candidates | accepted | rate |\n|---|---|---|---|---|")
    for fam, s in sorted(stats.items()):
        if isinstance(s, dict) and "rate" in s:
            print(f"| {fam} | {s['objects']} | {s['candidates']} | {s['accepted']} | {100 * s['rate']:.0f}% |")
    print("\nmetrics of the accepted train grasps (recomputed):")
    for k, v in accepted_metrics.items():
        print(f"  {k}: {v['mean']:.3f} ± {v['std']:.3f}")
    return {"dataset": name, "splits": {k: v.num_examples for k, v in builder.info.splits.items()},
            "acceptance": stats, "accepted_train_metrics": accepted_metrics,
            "num_evaluated": len(rows), "evaluation_seconds": eval_s, "sheet": sheet,
            "sheet_objects": [ids[i] for i in picks]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("throughput", "dataset"))
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--families", nargs="+", default=["mug"])
    parser.add_argument("--name", default="mgd_synthetic/demo")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--sheet", default="benchmarks/out/synthetic_grasps.png")
    parser.add_argument("--per_family", type=int, default=3)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import jax

    if args.mode == "throughput":
        result = throughput(args.batches, args.steps, args.repeats, args.families)
    else:
        result = dataset_report(args.name, args.data_dir, args.sheet, args.per_family, args.size)
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "backend": jax.default_backend()}  # fmt: skip
    out = args.out or os.path.join(ROOT, "benchmarks", "results", f"grasps_{args.mode}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
