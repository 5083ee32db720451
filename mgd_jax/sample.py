"""Batched grasp generation with a trained MGD model, written in the formats other tools read.

Usage::

    # grasps on your objects (a mesh file, a folder of meshes / .npy point clouds, or a TFDS split)
    python -m mgd_jax.sample --checkpoint=runs/demo/mgd --objects=mug.obj --units=cm \\
        --num_per_object=16 --out=samples/mug
    python -m mgd_jax.sample --checkpoint=exports/mgd_demo --objects=tfds:mgd_synthetic/demo@test \\
        --out=samples/test --refine --evaluate
    # new hand-object pairs
    python -m mgd_jax.sample --checkpoint=runs/demo/mgd --mode=joint --num=64 --out=samples/joint

``--checkpoint`` (alias ``--workdir``) is an MGD training workdir or an export
(``python -m mgd_jax.export``). Objects are read, validated and normalised exactly as in training:
meshes through ``objects.load_mesh`` (``--units`` of the files), moved to the object-centric frame
(bounding-box centre at the origin, meters) and surface-sampled with the object's seed; ``.npy``
files hold (N, 3) points in ``--units``. A bad file in a folder is skipped, counted and listed in
``index.json``; the others are still sampled.

Output in ``--out``:

  grasps.npz             every sample: global_orient (B,3), hand_pose (B,45), transl (B,3),
                         betas (B,10), object_path (B,) -- axis-angle radians, meters, object
                         frame, flat hand mean (smplx ``MANO(flat_hand_mean=True, use_pca=False)``,
                         manotorch ``ManoLayer(flat_hand_mean=True, use_pca=False)``); readable by
                         ``python -m mgd_jax.evaluate --grasps``
  samples/<id>.npz       the same keys for one sample (batch of 1), plus object_center_m (the
                         offset from the object frame back to the input file's frame, meters)
  samples/<id>_hand.obj  the posed hand mesh (meters, object frame)
  samples/<id>.glb       hand + object scene
  objects/<name>.obj     each object mesh in its object frame (joint mode: the alpha shape of the
                         generated points, and the points as objects/<name>_points.ply)
  renders/<id>_{color,depth,normal,edge}.png   condition maps (``--render_size``, 0 = none)
  index.json             run settings, objects (and skipped files), samples with their files and
                         metrics (``--evaluate``); metrics.json + metrics.md summaries

The same seed, batch size and checkpoint give the same samples.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import time

import numpy as np
import tqdm
import trimesh

from mgd_jax import render  # noqa: I001  (first: sets MUJOCO_GL before mujoco is imported)
from mgd_jax import evaluate, evaluators, hand, objects
from mgd_jax.objects import examples

logger = logging.getLogger(__name__)

POINT_EXTENSIONS = (".npy",)
HAND_RGBA = (224, 172, 150, 255)
OBJECT_RGBA = (120, 140, 170, 255)


@dataclasses.dataclass
class ObjectInput:
    """One object to sample on, in its object-centric frame (meters)."""

    name: str  # unique and file-safe
    source: str  # the file or dataset id it came from
    points: np.ndarray  # (N, 3) float32 surface points, meters
    mesh: trimesh.Trimesh | None  # None when a point cloud could not be meshed
    center_m: np.ndarray  # (3,) its frame's origin in the input file's frame, meters


# ---------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------


def _safe_name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "object"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def load_point_file(path: str, units: str, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """An (N, 3) ``.npy`` point cloud -> (centred points float32 meters, centre meters).

    Raises:
      ValueError naming the file: unreadable, wrong shape, NaN/inf, fewer than ``num_points``.
    """
    try:
        pts = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001  (any read failure means the file is unusable)
        raise ValueError(f"{path}: cannot read the point cloud ({e})") from e
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{path}: a point cloud must be (N, 3), got {pts.shape}")
    bad = int((~np.isfinite(pts).all(axis=1)).sum())
    if bad:
        raise ValueError(f"{path}: {bad} of {len(pts)} points are NaN or inf")
    if len(pts) < num_points:
        raise ValueError(f"{path}: {len(pts)} points, the model reads {num_points}; give more")
    pts = pts.astype(np.float64) * objects.UNIT_SCALE[units]
    center = (pts.min(0) + pts.max(0)) / 2.0
    rng = np.random.default_rng(examples.stable_seed(os.path.basename(path)))
    pick = rng.permutation(len(pts))[: max(num_points, min(len(pts), examples.NUM_POINTS))]
    return (pts[pick] - center).astype(np.float32), center


def load_object_file(path: str, rel: str, units: str, num_points: int):
    """(points (N,3) m, mesh or None, centre (3,) m) of one mesh or ``.npy`` file."""
    if path.lower().endswith(POINT_EXTENSIONS):
        points, center = load_point_file(path, units, num_points)
        return points, objects.alpha_shape_or_none(points), center
    mesh = objects.load_mesh(path, units=units)
    centred, center, _ = objects.normalize(mesh)
    ex = examples.make_example(mesh, rel, "file", objects.UNIT_SCALE[units])
    return ex["points"], centred, center


def collect_objects(spec: str, units: str, num_points: int, data_dir: str | None = None,
                    max_objects: int | None = None) -> tuple[list[ObjectInput], list[dict]]:  # fmt: skip
    """Objects named by ``--objects``: ``(objects, skipped [{"source", "reason"}])``.

    A single file that fails raises; in a folder or dataset, bad entries are skipped and listed.

    Raises:
      FileNotFoundError: no such file or folder; ValueError: unknown units, a bad single file, an
      empty folder, or a folder in which every file failed (all reasons listed).
    """
    if units not in objects.UNIT_SCALE:
        raise ValueError(f"--units must be one of {sorted(objects.UNIT_SCALE)}, got {units!r}")
    if spec.startswith("tfds:"):
        return _dataset_objects(spec, num_points, data_dir, max_objects)
    if os.path.isfile(spec):
        points, mesh, center = load_object_file(spec, os.path.basename(spec), units, num_points)
        name = _safe_name(os.path.splitext(os.path.basename(spec))[0], set())
        return [ObjectInput(name, os.path.abspath(spec), points, mesh, center)], []
    if not os.path.isdir(spec):
        raise FileNotFoundError(f"--objects {spec}: no such file or folder (give a mesh file, a "
                                "folder of meshes, or tfds:<name>[/<config>]@<split>)")  # fmt: skip
    paths = objects.mesh_files(spec, objects.MESH_EXTENSIONS + POINT_EXTENSIONS)
    if not paths:
        raise ValueError(f"--objects {spec}: no mesh or point files "
                         f"({', '.join(objects.MESH_EXTENSIONS + POINT_EXTENSIONS)}) in this folder")  # fmt: skip
    out, skipped, taken = [], [], set()
    for path in tqdm.tqdm(paths, desc="reading objects", unit="file", disable=len(paths) < 20):
        rel = os.path.relpath(path, spec)
        try:
            points, mesh, center = load_object_file(path, rel, units, num_points)
        except (OSError, ValueError) as e:
            logger.warning("skipping %s: %s", path, e)
            skipped.append({"source": os.path.abspath(path), "reason": str(e)})
            continue
        name = _safe_name(os.path.splitext(rel)[0].replace(os.sep, "__"), taken)
        out.append(ObjectInput(name, os.path.abspath(path), points, mesh, center))
        if max_objects and len(out) >= max_objects:
            break
    if not out:
        raise ValueError(f"--objects {spec}: every file failed: "
                         + "; ".join(f"{s['source']}: {s['reason']}" for s in skipped))  # fmt: skip
    if skipped:
        logger.warning("%d of %d files skipped (listed in index.json)", len(skipped), len(paths))
    return out, skipped


def _dataset_objects(spec: str, num_points: int, data_dir: str | None, max_objects: int | None):
    from mgd_jax import data_sources, pipeline

    name, at, split = spec[len("tfds:"):].partition("@")
    if not at:
        raise ValueError(f"--objects {spec}: name the split, e.g. tfds:{name}@test")
    data = data_sources.build_source(f"tfds:{name}", split, 1.0, num_points, data_dir).data
    out, skipped, seen, taken = [], [], set(), set()
    for i in range(len(data)):
        ex = data[i]
        oid = pipeline._text(ex.get("object_id", str(i)))
        if oid in seen:
            continue
        seen.add(oid)
        points = np.asarray(ex["points"], np.float32)
        if not np.isfinite(points).all():
            skipped.append({"source": f"{spec}:{oid}", "reason": "NaN or inf in the points"})
            continue
        source = pipeline._text(ex.get("source", name))
        try:
            mesh = pipeline.object_mesh(oid, source, points)
        except Exception as e:  # a cloud that cannot be meshed still gets grasps
            logger.warning("%s: no object mesh (%s)", oid, e)
            mesh = None
        out.append(ObjectInput(_safe_name(oid.replace("/", "_"), taken), f"{spec}:{oid}",
                               points, mesh, np.zeros(3)))  # fmt: skip
        if max_objects and len(out) >= max_objects:
            break
    if not out:
        raise ValueError(f"--objects {spec}: no usable object in this split")
    return out, skipped


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


def mano_arrays(pose: np.ndarray, trans: np.ndarray, num_betas: int) -> dict[str, np.ndarray]:
    """(B,16,3) pose, (B,3) trans -> smplx/manotorch-named arrays (float32)."""
    pose = np.asarray(pose, np.float32).reshape(-1, 16, 3)
    return {
        "global_orient": pose[:, 0],
        "hand_pose": pose[:, 1:].reshape(-1, 45),
        "transl": np.asarray(trans, np.float32).reshape(-1, 3),
        "betas": np.zeros((len(pose), num_betas), np.float32),
    }


def _colored(mesh: trimesh.Trimesh, rgba) -> trimesh.Trimesh:
    m = mesh.copy()
    m.visual = trimesh.visual.ColorVisuals(m, face_colors=np.tile(rgba, (len(m.faces), 1)))
    return m


def write_renders(folder: str, sid: str, meshes: list, points, size: int, view: str) -> dict:
    """Color, depth, normal and edge PNGs of one sample; returns {map: relative path}."""
    out = render.render_views(meshes, points=points, views=[view], size=(size, size))[0]
    images = {"color": out["color"], "depth": render.depth_to_image(out["depth"]),
              "normal": render.normal_to_image(out["normal"]), "edge": out["edge"]}  # fmt: skip
    files = {}
    for kind, image in images.items():
        rel = os.path.join("renders", f"{sid}_{kind}.png")
        render.save_png(os.path.join(folder, rel), image)
        files[kind] = rel
    return files


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mgd_jax.sample",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("--checkpoint", "--workdir", dest="checkpoint", required=True,
                   help="MGD training workdir or export folder")  # fmt: skip
    p.add_argument("--mode", default="conditional", choices=("conditional", "joint"))
    p.add_argument("--objects", default=None,
                   help="mesh file, folder of meshes/.npy clouds, or tfds:<name>[/<config>]@<split>")
    p.add_argument("--units", default="m", choices=sorted(objects.UNIT_SCALE),
                   help="units of the object files (default m)")
    p.add_argument("--data_dir", default=None, help="TFDS data_dir (default ~/tensorflow_datasets)")
    p.add_argument("--max_objects", type=int, default=None, help="use at most this many objects")
    p.add_argument("--num_per_object", type=int, default=8, help="conditional: grasps per object")
    p.add_argument("--num", type=int, default=16, help="joint: number of hand-object pairs")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--sampler", default="ddim", choices=("ddim", "ddpm"))
    p.add_argument("--steps", type=int, default=100, help="DDIM steps (ddpm uses all T)")
    p.add_argument("--guidance", type=float, default=None, help="conditional guidance scale")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--refine", action="store_true", help="refine each grasp with mgd_jax.grasps")
    p.add_argument("--refine_steps", type=int, default=100)
    p.add_argument("--evaluate", action="store_true", help="per-sample metrics (mgd_jax.evaluators)")
    p.add_argument("--metrics", default="penetration,intersection,simulation,contact")
    p.add_argument("--num_workers", type=int, default=1, help="evaluation processes")
    p.add_argument("--render_size", type=int, default=256, help="render size in px (0: no renders)")
    p.add_argument("--view", default="three_quarter", help="render view preset")
    p.add_argument("--mano_path", default=None, help="MANO file (default: the checkpoint's hand)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="write into an --out that has samples")
    p.add_argument("--no_progress", action="store_true", help="hide progress bars")
    return p


def _check_args(args) -> None:
    if args.mode == "conditional" and not args.objects:
        raise ValueError("--mode=conditional needs --objects (a mesh, a folder or a TFDS split)")
    for name in ("num_per_object", "num", "batch_size", "steps", "refine_steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.render_size and args.render_size < 16:
        raise ValueError(f"--render_size must be 0 (off) or >= 16, got {args.render_size}")
    if os.path.exists(os.path.join(args.out, "index.json")) and not args.overwrite:
        raise FileExistsError(f"{args.out} already holds samples (index.json); choose another "
                              "--out or pass --overwrite")  # fmt: skip
    if args.evaluate:
        evaluate._parse_metrics(args.metrics)


def main(argv: list[str] | None = None) -> dict:
    """Run the CLI; returns the index written to ``--out/index.json``."""
    from mgd_jax.generate import Generator  # after argument errors, which need no JAX

    args = build_parser().parse_args(argv)
    _check_args(args)
    gen = Generator.load(args.checkpoint, args.mano_path)
    model = gen.hand_model
    method, steps = args.sampler, (args.steps if args.sampler == "ddim" else None)

    skipped: list[dict] = []
    if args.mode == "conditional":
        objs, skipped = collect_objects(args.objects, args.units, gen.num_points, args.data_dir,
                                        args.max_objects)  # fmt: skip
        rows = np.repeat(np.arange(len(objs)), args.num_per_object)
        points = np.stack([o.points[: gen.num_points] for o in objs])[rows]
        total = len(rows)
    else:
        total = args.num
    bar = tqdm.tqdm(total=total, desc=f"sampling ({method})", unit="grasp", disable=args.no_progress)
    t0 = time.time()
    if args.mode == "conditional":
        pose, trans = gen.conditional(points, args.seed, method, steps, args.guidance,
                                      args.batch_size, on_batch=bar.update)  # fmt: skip
    else:
        pose, trans, gen_points = gen.joint(args.num, args.seed, method, steps, args.batch_size,
                                            on_batch=bar.update)  # fmt: skip
        rows = np.arange(args.num)
        taken: set[str] = set()
        objs = [ObjectInput(_safe_name(f"joint_{k:04d}", taken), "generated", gen_points[k],
                            objects.alpha_shape_or_none(gen_points[k]), np.zeros(3))
                for k in range(args.num)]  # fmt: skip
    bar.close()
    sample_seconds = time.time() - t0
    logger.info("%d samples in %.1f s (%.1f grasps/s, first batch includes compilation)",
                total, sample_seconds, total / max(sample_seconds, 1e-9))  # fmt: skip

    finite = np.isfinite(pose).all(axis=(1, 2)) & np.isfinite(trans).all(axis=1)
    if not finite.all():
        logger.warning("%d samples have NaN/inf parameters and are dropped", int((~finite).sum()))
    refined_seconds = None
    if args.refine:
        t1 = time.time()
        for j in tqdm.tqdm(sorted(set(rows.tolist())), desc="refining", unit="object",
                           disable=args.no_progress):  # fmt: skip
            idx = np.flatnonzero((rows == j) & finite)
            if len(idx) == 0:
                continue
            obj = objs[j]
            target = obj.mesh if obj.mesh is not None else None
            if target is None:
                logger.warning("%s: no mesh, its grasps are not refined", obj.name)
                continue
            pose[idx], trans[idx] = gen_refine(model, pose[idx], trans[idx], target, obj.points,
                                               args.refine_steps)  # fmt: skip
        refined_seconds = time.time() - t1

    return write_outputs(args, gen, objs, rows, pose, trans, finite, skipped,
                         {"sampling_seconds": sample_seconds,
                          "refine_seconds": refined_seconds})  # fmt: skip


def gen_refine(model, pose, trans, mesh, points, steps):
    """``grasps.refine`` of one object's grasps (imported lazily: the optimiser compiles)."""
    from mgd_jax import grasps

    return grasps.refine(model, pose, trans, mesh, steps=steps, object_points=points)


def write_outputs(args, gen, objs: list[ObjectInput], rows: np.ndarray, pose: np.ndarray,
                  trans: np.ndarray, finite: np.ndarray, skipped: list[dict],
                  timing: dict) -> dict:  # fmt: skip
    """Every file of the output layout (module docstring) and ``index.json``."""
    out = args.out
    for sub in ("samples", "objects") + (("renders",) if args.render_size else ()):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    model = gen.hand_model
    num_betas = int(np.asarray(model.shapedirs).shape[-1])
    object_files: dict[int, dict] = {}
    used = set(rows.tolist())
    for j, o in enumerate(objs):
        if j not in used:
            continue
        entry = {"name": o.name, "source": o.source, "center_m": o.center_m.tolist(), "mesh": None}
        if o.mesh is not None:
            entry["mesh"] = os.path.join("objects", f"{o.name}.obj")
            o.mesh.export(os.path.join(out, entry["mesh"]))
        if args.mode == "joint":
            entry["points"] = os.path.join("objects", f"{o.name}_points.ply")
            trimesh.PointCloud(o.points).export(os.path.join(out, entry["points"]))
        object_files[j] = entry

    keep = np.flatnonzero(finite)
    verts = evaluate.hand_vertices(model, pose[keep], trans[keep], None)
    params = mano_arrays(pose[keep], trans[keep], num_betas)
    samples, hand_meshes, obj_meshes, ids = [], [], [], []
    per_object: dict[int, int] = {}
    for n, (i, v) in enumerate(tqdm.tqdm(list(zip(keep, verts)), desc="writing", unit="sample",
                                         disable=args.no_progress)):  # fmt: skip
        j = int(rows[i])
        o, entry = objs[j], object_files[j]
        k = per_object[j] = per_object.get(j, -1) + 1
        sid = o.name if args.mode == "joint" else f"{o.name}_{k:03d}"
        hand_mesh = hand.to_trimesh(v, model)
        files = {"npz": os.path.join("samples", f"{sid}.npz"),
                 "hand_mesh": os.path.join("samples", f"{sid}_hand.obj"),
                 "scene": os.path.join("samples", f"{sid}.glb")}  # fmt: skip
        obj_rel = entry["mesh"] or ""
        np.savez(os.path.join(out, files["npz"]), **{key: a[n : n + 1] for key, a in params.items()},
                 object_path=np.asarray([os.path.join("..", obj_rel) if obj_rel else ""]),
                 object_center_m=o.center_m.astype(np.float32)[None])  # fmt: skip
        hand_mesh.export(os.path.join(out, files["hand_mesh"]))
        scene = trimesh.Scene()
        scene.add_geometry(_colored(hand_mesh, HAND_RGBA), geom_name="hand")
        if o.mesh is not None:
            scene.add_geometry(_colored(o.mesh, OBJECT_RGBA), geom_name="object")
        scene.export(os.path.join(out, files["scene"]))
        if args.render_size:
            meshes = [hand_mesh] + ([o.mesh] if o.mesh is not None else [])
            pts = None if o.mesh is not None else [o.points]
            files["renders"] = write_renders(out, sid, meshes, pts, args.render_size, args.view)
        samples.append({"id": sid, "object": o.name, "index": int(i), "files": files})
        ids.append(sid)
        hand_meshes.append(hand_mesh)
        obj_meshes.append(o.mesh)

    np.savez(os.path.join(out, "grasps.npz"), **params,
             object_path=np.asarray([object_files[int(rows[i])]["mesh"] or "" for i in keep]),
             sample_id=np.asarray(ids))  # fmt: skip

    summary = None
    if args.evaluate:
        summary = _evaluate(args, model, samples, hand_meshes, obj_meshes)
    index = {
        "checkpoint": os.path.abspath(args.checkpoint),
        "step": gen.step,
        "mode": args.mode,
        "sampler": args.sampler,
        "steps": args.steps if args.sampler == "ddim" else int(gen.config.diffusion.num_timesteps),
        "guidance": args.guidance,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "refined": bool(args.refine),
        "hand": {"name": model.name, "fingerprint": hand.fingerprint(model)},
        "conventions": {"units": "meters", "frame": "object-centric (bounding-box centre at the "
                        "origin); add object_center_m to go back to the input file's frame",
                        "pose": "axis-angle radians, MANO joint order, flat hand mean, no PCA",
                        "side": model.side},  # fmt: skip
        "num_samples": len(samples),
        "num_dropped_nonfinite": int((~finite).sum()),
        "objects": [object_files[j] for j in sorted(object_files)],
        "skipped": skipped,
        "samples": samples,
        "timing": {k: v for k, v in timing.items() if v is not None},
        "grasps_per_second": len(rows) / max(timing["sampling_seconds"], 1e-9),
        "metrics": summary,
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    print(f"{len(samples)} samples on {len(object_files)} objects in {out} "
          f"({index['grasps_per_second']:.1f} grasps/s incl. compilation); "
          f"{len(skipped)} inputs skipped")  # fmt: skip
    return index


def _evaluate(args, model, samples: list[dict], hand_meshes: list, obj_meshes: list) -> dict | None:
    """Per-sample metrics into ``samples`` and ``metrics.json``/``metrics.md`` summaries."""
    metrics = evaluate._parse_metrics(args.metrics)
    have = [n for n, o in enumerate(obj_meshes) if o is not None]
    if not have:
        logger.warning("--evaluate: no sample has an object mesh; nothing evaluated")
        return None
    weights = np.asarray(model.weights)
    results = evaluators.evaluate_meshes(
        [hand_meshes[n] for n in have], [obj_meshes[n] for n in have], metrics,
        num_workers=args.num_workers, progress=not args.no_progress,
        hand_part_labels=evaluators.part_labels_from_weights(weights),
        finger_labels=evaluators.finger_labels_from_weights(weights),
    )  # fmt: skip
    for r, n in enumerate(have):
        samples[n]["metrics"] = {k: evaluate._jsonable(v[r]) for k, v in results.items()}
    summary, md = evaluate.summary_table(results, len(have), len(samples) - len(have))
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(args.out, "metrics.md"), "w") as f:
        f.write(md)
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    logger.setLevel(logging.INFO)  # ours at INFO; orbax/absl chatter stays at WARNING
    try:
        main()
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
