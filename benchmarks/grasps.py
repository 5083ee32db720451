"""Grasp synthesis: today's optimiser against the earlier one, and the evidence of a built dataset.

    python benchmarks/grasps.py compare [--objects_per_family 2] [--batch 16]
    python benchmarks/grasps.py dataset [--name mgd_synthetic/demo] [--sheet docs/synthetic_grasps.png]

``compare`` runs the presets side by side on the same objects (``--objects_per_family`` of every
procedural family, seeds from ``--seed``) with the same per-object keys: ``v1``, the optimiser as
the dataset build ran it before (``GraspConfig.v1()``, 200 annealed Adam steps, hovering
pre-grasps, one object per call on its analytic SDF: a compilation per family), and
``default``, today's (closing pre-grasps, 4x oversampling, 20 steps, final closing; objects on
64^3 SDF grids, ``--chunk`` per call, one compilation). Per preset: optimiser grasps/s (after
compilation), the filter's grasps/s, accepted grasps/s end to end (optimiser + filter),
acceptance, rejection reasons, and the accepted set's quality by the evaluators on the posed hand
mesh. ``benchmarks/grasps_profile.py`` shows where the time goes.

``dataset`` reads a built ``mgd_synthetic`` dataset: the per-family acceptance table stored in
its metadata, the quality of the accepted train grasps per family (``evaluate_meshes`` on every
accepted grasp of ``--eval_objects_per_family`` objects per family, recomputed here, not read
back; the simulation also with the hand's own surface on ``--shell_per_family`` grasps), and a
contact sheet of ``--per_family`` grasps of every family.

Both print a table and write JSON to ``--out`` (default ``benchmarks/results/grasps_<mode>.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


PRESETS = ("v1", "default")


def preset_config(name: str):
    """``v1``: today's optimiser as the dataset build runs it (``GraspConfig.v1()``, 200 steps);
    ``default``: ``GraspConfig()``."""
    from mgd_jax import grasps

    if name == "v1":
        return grasps.GraspConfig.v1(steps=200)
    if name == "default":
        return grasps.GraspConfig()
    raise ValueError(f"unknown preset {name!r}; choose from {PRESETS}")


def filter_kwargs(name: str) -> dict:
    """``filter_grasps`` arguments of a preset: ``v1`` simulates every candidate (as the dataset
    build did); the new default simulates only those passing penetration and contact."""
    return {} if name == "v1" else {"simulate_rejected": False}




def _quality(model, hands, objects, filtered: dict, shapes: list[str], num_workers: int) -> dict:
    """The accepted set's metrics by the evaluators on the posed full hand mesh: penetration and
    contact as the filter measured them, and the simulation with the filter's hand ("default":
    ``evaluate_meshes``' own default, as the filter calls it) and with each other hand shape."""
    import numpy as np

    from mgd_jax import evaluators
    from mgd_jax.evaluators.protocol import SimulationParams

    if not hands:
        return {}
    default = SimulationParams().hand_shape
    out = {"penetration_cm": float(np.mean(filtered["penetration_depth_cm"])),
           "contact_pct": 100.0 * float(np.mean(filtered["contact"])),
           "fingers_in_contact": float(np.mean(filtered["num_fingers_in_contact"]))}  # fmt: skip
    weights = np.asarray(model.weights)
    for shape in dict.fromkeys(default if s == "default" else s for s in shapes):
        if shape == default:
            disp, stable = filtered["sim_displacement_cm"], filtered["sim_stable"]
        else:
            m = evaluators.evaluate_meshes(
                hands, objects, metrics=("simulation",), num_workers=num_workers,
                progress=False, sim_params=dataclasses.replace(SimulationParams(), hand_shape=shape),
                hand_part_labels=evaluators.part_labels_from_weights(weights))  # fmt: skip
            disp, stable = m["sim_displacement_cm"], m["sim_stable"]
        out[f"sim_displacement_cm[{shape}]"] = float(np.mean(disp))
        out[f"stable_pct[{shape}]"] = 100.0 * float(np.mean(stable))
    return out


def compare(presets: list[str], families: list[str], objects_per_family: int, num: int, seed: int,
            quality_shapes: list[str], num_workers: int, chunk: int = 8) -> dict:  # fmt: skip
    """Presets side by side on the same objects and seeds: optimiser grasps/s (after compilation),
    filter time, end-to-end accepted grasps/s, acceptance, and the accepted set's quality."""
    import jax
    import numpy as np

    from mgd_jax import grasps, hand
    from mgd_jax.objects import sampling, sdf_mesh

    model = hand.load(None)
    configs = {name: preset_config(name) for name in presets}
    proxies = {name: grasps.proxies_for(model, c) for name, c in configs.items()}
    rec = {name: {"optimise_s": 0.0, "filter_s": 0.0, "compile_s": 0.0, "candidates": 0,
                  "accepted": 0, "families": {}, "hands": [], "objects": [], "reasons": {},
                  "metrics": []}
           for name in presets}  # fmt: skip
    objects = []
    for family in families:
        for j in range(objects_per_family):
            spec, mesh = sdf_mesh.sample_object(family, seed + j, random_rotation=True)
            objects.append((family, seed + j, spec, mesh))

    def record(name, family, obj_seed, mesh, pose, trans):
        r = rec[name]
        t0 = time.perf_counter()
        keep, m = grasps.filter_grasps(model, pose, trans, mesh, **filter_kwargs(name))
        r["filter_s"] += time.perf_counter() - t0
        fam = r["families"].setdefault(family, [0, 0])
        fam[0] += int(keep.sum())
        fam[1] += len(keep)
        r["candidates"] += len(keep)
        r["accepted"] += int(keep.sum())
        for reason, bad in _reasons(m).items():
            r["reasons"][reason] = r["reasons"].get(reason, 0) + int(bad.sum())
        verts = np.asarray(hand.forward(model, pose, trans).vertices)
        r["hands"] += [(verts[i], model.faces_np) for i in np.nonzero(keep)[0]]
        r["objects"] += [mesh] * int(keep.sum())
        r["metrics"].append({k: np.asarray(m[k])[keep] for k in (
            "penetration_depth_cm", "contact", "num_fingers_in_contact",
            "sim_displacement_cm", "sim_stable")})  # fmt: skip
        print(f"  {name:8s} {family:11s} {obj_seed}: accepted {int(keep.sum()):2d}/{len(keep)}"
              f"  optimise {r['optimise_s']:.1f} s  filter {r['filter_s']:.1f} s", flush=True)

    for name in presets:
        config, r = configs[name], rec[name]
        if name == "v1":
            # As the dataset build ran it: one object per call, its analytic SDF (one compilation
            # per family), ``num`` candidates.
            warm = set()
            for family, obj_seed, spec, mesh in objects:
                points = sampling.sample_points(mesh, 512, seed=0)
                sdf_fn = grasps.procedural_sdf(spec)
                key = jax.random.PRNGKey(obj_seed)
                shape = (family, np.shape(spec.params))  # what the compilation depends on
                if shape not in warm:  # compile, not timed
                    t0 = time.perf_counter()
                    jax.block_until_ready(grasps.optimize(proxies[name], sdf_fn, points,
                                                          jax.random.fold_in(key, 1), num,
                                                          config).pose)  # fmt: skip
                    r["compile_s"] += time.perf_counter() - t0
                    warm.add(shape)
                t0 = time.perf_counter()
                out = grasps.optimize(proxies[name], sdf_fn, points, key, num, config)
                jax.block_until_ready(out.pose)
                r["optimise_s"] += time.perf_counter() - t0
                record(name, family, obj_seed, mesh, out.pose, out.trans)
            continue
        # The new pipeline as the dataset build runs it: every object's analytic SDF sampled on
        # a 64^3 grid, ``chunk`` objects per call, one compilation for all families.
        points = [sampling.sample_points(o[3], 512, seed=0) for o in objects]
        keys = [jax.random.PRNGKey(o[1]) for o in objects]
        t0 = time.perf_counter()  # compile, not timed: each family's grid sampling (as v1's
        # per-family compilations are not) and the optimiser on the first chunk
        for family in dict.fromkeys(o[0] for o in objects):
            spec = next(o[2] for o in objects if o[0] == family)
            jax.block_until_ready(grasps.object_grid(spec).values)
        grids = [grasps.object_grid(o[2]) for o in objects[:chunk]]
        grasps.optimize_objects(proxies[name], grids, points[:chunk], keys[0], num, config, chunk,
                                object_keys=keys[:chunk])  # fmt: skip
        r["compile_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()  # the grids' sampling counts as optimiser time
        grids = [grasps.object_grid(o[2]) for o in objects]
        outs = grasps.optimize_objects(proxies[name], grids, points, keys[0], num, config, chunk,
                                       object_keys=keys)  # fmt: skip
        r["optimise_s"] += time.perf_counter() - t0
        for (family, obj_seed, _, mesh), out in zip(objects, outs):
            record(name, family, obj_seed, mesh, out.pose, out.trans)
    rows = {}
    for name in presets:
        r = rec[name]
        filtered = {k: np.concatenate([m[k] for m in r["metrics"]]) for k in r["metrics"][0]}
        del r["metrics"]
        q = _quality(model, r.pop("hands"), r.pop("objects"), filtered, quality_shapes,
                     num_workers)  # fmt: skip
        rows[name] = {
            "config": dataclasses.asdict(configs[name]),
            "optimiser_grasps_per_s": r["candidates"] / r["optimise_s"],
            "filter_grasps_per_s": r["candidates"] / r["filter_s"],
            "accepted_per_s_end_to_end": r["accepted"] / (r["optimise_s"] + r["filter_s"]),
            "acceptance": r["accepted"] / r["candidates"],
            "accepted": r["accepted"], "candidates": r["candidates"],
            "optimise_s": r["optimise_s"], "filter_s": r["filter_s"], "compile_s": r["compile_s"],
            "rejections": r["reasons"],
            "families": {f: {"accepted": a, "candidates": n, "rate": a / n}
                         for f, (a, n) in r["families"].items()},
            "accepted_quality": q,
        }  # fmt: skip
    base = rows[presets[0]]
    print(f"\n{len(families)} families x {objects_per_family} objects x {num} candidates, "
          f"seeds {seed}..{seed + objects_per_family - 1}")
    keys = sorted({k for r in rows.values() for k in r["accepted_quality"]})
    head = ("preset", "optimiser grasps/s", "x", "filter grasps/s", "accepted/s end-to-end", "x",
            "acceptance", *keys)  # fmt: skip
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, r in rows.items():
        cells = [name, f"{r['optimiser_grasps_per_s']:.1f}",
                 f"{r['optimiser_grasps_per_s'] / base['optimiser_grasps_per_s']:.1f}",
                 f"{r['filter_grasps_per_s']:.1f}", f"{r['accepted_per_s_end_to_end']:.2f}",
                 f"{r['accepted_per_s_end_to_end'] / base['accepted_per_s_end_to_end']:.1f}",
                 f"{100 * r['acceptance']:.1f}% ({r['accepted']}/{r['candidates']})"]  # fmt: skip
        cells += [f"{r['accepted_quality'].get(k, float('nan')):.3g}" for k in keys]
        print("| " + " | ".join(cells) + " |")
    print("\nrejections (a candidate can fail several tests):")
    for name, r in rows.items():
        print(f"  {name}: {r['rejections']}  compile {r['compile_s']:.0f} s")
    print("\nacceptance per family: " + ", ".join(
        f"{f} " + "/".join(f"{100 * rows[n]['families'][f]['rate']:.0f}%" for n in presets)
        for f in families))  # fmt: skip
    return {"presets": rows, "families": list(families), "objects_per_family": objects_per_family,
            "candidates_per_object": num, "seed": seed}  # fmt: skip


def _reasons(metrics) -> dict:
    import numpy as np

    t = __import__("mgd_jax.grasps", fromlist=["QualityThresholds"]).QualityThresholds()
    fingers = np.asarray(metrics["finger_contact"], bool)
    out = {"penetration": np.asarray(metrics["penetration_depth_cm"]) >= t.max_penetration_cm,
           "contact": (fingers[:, 1:].sum(axis=1) < t.min_fingers) | ~fingers[:, 1]}  # fmt: skip
    if "sim_displacement_cm" in metrics:
        disp = np.asarray(metrics["sim_displacement_cm"], float)
        out["simulation"] = ~(disp < t.max_displacement_cm) & ~out["penetration"] & ~out["contact"]
    return out


def dataset_report(name: str, data_dir: str | None, sheet: str, per_family: int, size: int,
                   objects_per_family: int, shell_per_family: int) -> dict:  # fmt: skip
    """The built dataset's acceptance per family (its metadata) and the accepted train grasps'
    quality per family, recomputed by ``evaluate_meshes`` on the posed hand mesh (every accepted
    grasp of ``objects_per_family`` train objects per family); the simulation also with the
    hand's own surface (``hand_shape="shell"``) on ``shell_per_family`` grasps per family."""
    import numpy as np
    import tensorflow_datasets as tfds

    from mgd_jax import evaluators, hand, images, objects, render
    from mgd_jax.evaluators.protocol import SimulationParams
    from mgd_jax.objects import sdf_mesh

    builder = tfds.builder(name, data_dir=data_dir)
    stats = dict(builder.info.metadata.get("synthesis_stats", {}))
    src = tfds.data_source(name, split="train", data_dir=data_dir)
    model = hand.load(None)
    all_ids = [src[i]["object_id"].decode() for i in range(len(src))]
    chosen: dict[str, list[str]] = {}
    for oid in dict.fromkeys(all_ids):  # first train objects of each family
        fam = chosen.setdefault(oid.split("/")[0], [])
        if len(fam) < objects_per_family:
            fam.append(oid)
    keep = {o for objs in chosen.values() for o in objs}
    rows = [src[i] for i, oid in enumerate(all_ids) if oid in keep]
    meshes: dict[str, object] = {}

    def mesh_of(oid: str):
        if oid not in meshes:
            family, _, seed = oid.partition("/")
            meshes[oid] = objects.normalize(sdf_mesh.sample_object(family, int(seed), True)[1])[0]
        return meshes[oid]

    ids = [r["object_id"].decode() for r in rows]
    families = np.array([i.split("/")[0] for i in ids])
    pose = np.stack([r["pose"] for r in rows])
    trans = np.stack([r["trans"] for r in rows])
    verts = np.asarray(hand.forward(model, pose, trans).vertices, np.float64)
    hands = [hand.to_trimesh(v, model) for v in verts]
    weights = np.asarray(model.weights)
    labels = {"hand_part_labels": evaluators.part_labels_from_weights(weights),
              "finger_labels": evaluators.finger_labels_from_weights(weights)}  # fmt: skip
    t0 = time.perf_counter()
    per = evaluators.evaluate_meshes(hands, [mesh_of(i) for i in ids], num_workers=2, **labels)
    eval_s = time.perf_counter() - t0
    shell_ids = np.concatenate([np.flatnonzero(families == f)[:shell_per_family]
                                for f in sorted(set(families))])  # fmt: skip
    shell = evaluators.evaluate_meshes(
        [hands[i] for i in shell_ids], [mesh_of(ids[i]) for i in shell_ids],
        metrics=("simulation",), num_workers=2,
        sim_params=dataclasses.replace(SimulationParams(), hand_shape="shell"), **labels)  # fmt: skip
    shell_stable = np.full(len(ids), np.nan)
    shell_stable[shell_ids] = shell["sim_stable"]

    def quality(mask) -> dict:
        return {"grasps": int(mask.sum()),
                "penetration_cm": float(np.mean(per["penetration_depth_cm"][mask])),
                "intersection_cm3": float(np.mean(per["intersection_volume_cm3"][mask])),
                "contact_pct": 100.0 * float(np.mean(per["contact"][mask])),
                "fingers": float(np.mean(per["num_fingers_in_contact"][mask])),
                "sim_displacement_cm": float(np.mean(per["sim_displacement_cm"][mask])),
                "stable_pct": 100.0 * float(np.mean(per["sim_stable"][mask])),
                "stable_pct_shell": 100.0 * float(np.nanmean(shell_stable[mask]))}  # fmt: skip

    by_family = {f: quality(families == f) for f in sorted(set(families))}
    overall = quality(np.ones(len(ids), bool))
    # Contact sheet: ``per_family`` accepted grasps of different objects for every family.
    picks = []
    for f in sorted(set(families)):
        firsts = {}
        for i in np.flatnonzero(families == f):
            firsts.setdefault(ids[i], i)
        picks += list(firsts.values())[:per_family]
    tiles, names = [], []
    for i in picks:
        view = render.render_views([hands[i], mesh_of(ids[i])], views=["three_quarter"],
                                   size=(size, size))[0]  # fmt: skip
        tiles.append(view["color"])
        names.append(f"{ids[i]} {per['penetration_depth_cm'][i]:.2f} cm")
    os.makedirs(os.path.dirname(os.path.abspath(sheet)), exist_ok=True)
    from PIL import Image

    # 256 colours (no dithering): the README's copy stays under 500 KB.
    grid = Image.fromarray(images.contact_sheet(tiles, ncols=2 * per_family * 2, labels=names)[..., :3])
    grid.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        sheet, format="PNG", optimize=True)
    fams = [s for s in stats.values() if isinstance(s, dict) and "rate" in s]
    stats["all"] = {"objects": sum(s["objects"] for s in fams),
                    "candidates": sum(s["candidates"] for s in fams),
                    "accepted": sum(s["accepted"] for s in fams)}  # fmt: skip
    stats["all"]["rate"] = stats["all"]["accepted"] / max(1, stats["all"]["candidates"])
    splits = {k: v.num_examples for k, v in builder.info.splits.items()}
    print(f"\n{name}: splits {splits}; train objects with grasps: {len(set(all_ids))}; sheet {sheet}")
    head = ("family", "objects", "candidates", "accepted", "rate", "evaluated", "penetration cm",
            "intersection cm3", "contact %", "fingers", "sim displacement cm", "stable %",
            "stable % (shell hand)")  # fmt: skip
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for fam in [*by_family, "all"]:
        s, q = stats.get(fam, {}), by_family.get(fam, overall)
        print(f"| {fam} | {s.get('objects', '')} | {s.get('candidates', '')} | "
              f"{s.get('accepted', '')} | {100 * s.get('rate', float('nan')):.0f}% | {q['grasps']} | "
              f"{q['penetration_cm']:.3f} | {q['intersection_cm3']:.2f} | {q['contact_pct']:.0f} | "
              f"{q['fingers']:.2f} | {q['sim_displacement_cm']:.2f} | {q['stable_pct']:.1f} | "
              f"{q['stable_pct_shell']:.0f} |")  # fmt: skip
    return {"dataset": name, "splits": splits, "train_objects": len(set(all_ids)),
            "train_grasps": len(all_ids), "acceptance": stats, "quality": by_family,
            "quality_all": overall, "evaluation_seconds": eval_s, "sheet": sheet,
            "sheet_objects": [ids[i] for i in picks]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("dataset", "compare"))
    parser.add_argument("--families", nargs="+", default=None,
                        help="default: every procedural family")
    parser.add_argument("--name", default="mgd_synthetic/demo")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--sheet", default="benchmarks/out/synthetic_grasps.png")
    parser.add_argument("--per_family", type=int, default=2, help="contact sheet grasps per family")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--eval_objects_per_family", type=int, default=5)
    parser.add_argument("--shell_per_family", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--objects_per_family", type=int, default=2)
    parser.add_argument("--quality_shapes", nargs="+", default=["default", "shell"],
                        help="simulation hand shapes for the accepted set's quality ('default': "
                             "evaluate_meshes' own default)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import jax

    if args.mode == "compare":
        families = args.families or __import__("mgd_jax.objects.procedural", fromlist=["FAMILIES"]).FAMILIES
        result = compare(args.presets, list(families), args.objects_per_family, args.batch,
                         args.seed, args.quality_shapes, args.workers, args.chunk)
    else:
        result = dataset_report(args.name, args.data_dir, args.sheet, args.per_family, args.size,
                                args.eval_objects_per_family, args.shell_per_family)
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "backend": jax.default_backend()}  # fmt: skip
    out = args.out or os.path.join(ROOT, "benchmarks", "results", f"grasps_{args.mode}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
