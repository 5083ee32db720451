"""Batched grasp generation with a trained MGD model, written in the formats other tools read.

Usage::

    # grasps on your objects (a mesh file, a folder of meshes / .npy point clouds, or a TFDS split)
    python -m mgd_jax.sample --checkpoint=runs/demo/mgd --objects=mug.obj --units=cm \\
        --num_per_object=16 --out=samples/mug
    python -m mgd_jax.sample --checkpoint=exports/mgd_demo --objects=tfds:mgd_synthetic/demo@test \\
        --out=samples/test --refine --evaluate
    # the last 20 sampler steps guided by the grasp energy (penetration, contact)
    python -m mgd_jax.sample --checkpoint=runs/demo/mgd --objects=mug.obj --units=cm \\
        --physics_guidance=0.05 --out=samples/mug_guided
    # new hand-object pairs
    python -m mgd_jax.sample --checkpoint=runs/demo/mgd --mode=joint --num=64 --out=samples/joint

``--steps`` (DDIM) defaults to min(100, T) of the model.
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
                         and, where the object has a mesh, its contact map both ways
                         (``evaluators.hand_object_contact``): contact_hand_distance_m (1,V)
                         signed distance of each hand vertex to the object (negative inside),
                         contact_hand (1,V) bool (within 5 mm or inside), and for the object's
                         surface points contact_object_points_m (1,P,3), their distance to the
                         hand contact_object_distance_m (1,P), contact_object (1,P) and
                         the nearest hand part contact_object_part (1,P) (0 palm, 1 thumb,
                         2 index, 3 middle, 4 ring, 5 pinky)
  samples/<id>_hand.obj  the posed hand mesh (meters, object frame)
  samples/<id>.glb       hand + object scene
  objects/<name>.obj     each object mesh in its object frame (joint mode: the alpha shape of the
                         generated points, and the points as objects/<name>_points.ply)
  renders/<id>_{color,depth,normal,edge}.png   condition maps (``--render_size``, 0 = none)
  renders/<id>_contact.png   the contact heat maps (hand and object, ``mgd_jax.contact_render``)
  index.json             run settings, objects (and skipped files), samples with their files,
                         the hand parts touching the object (contact_parts) and metrics
                         (``--evaluate``); metrics.json + metrics.md summaries (with the share
                         of grasps each hand part touches in)

The same seed, batch size and checkpoint give the same samples.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence

import numpy as np
import tqdm
import trimesh

from absl import flags

from mgd_jax import render  # noqa: I001  (first: sets MUJOCO_GL before mujoco is imported)
from mgd_jax import cli, contact_render, evaluators, hand, images, objects
from mgd_jax.data.object_inputs import ObjectInput, collect_objects, safe_name
from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS

logger = logging.getLogger(__name__)

HAND_RGBA = (224, 172, 150, 255)
# evaluators.hand_object_contact outputs -> their names in each sample's .npz (batch of 1).
CONTACT_KEYS = {"hand_distance_m": "contact_hand_distance_m", "hand_contact": "contact_hand",
                "object_distance_m": "contact_object_distance_m",
                "object_contact": "contact_object", "object_part": "contact_object_part"}
OBJECT_RGBA = (120, 140, 170, 255)


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
    maps = {"color": out["color"], "depth": images.depth_to_image(out["depth"]),
            "normal": images.normal_to_image(out["normal"]), "edge": out["edge"]}  # fmt: skip
    files = {}
    for kind, image in maps.items():
        rel = os.path.join("renders", f"{sid}_{kind}.png")
        images.save_png(os.path.join(folder, rel), image)
        files[kind] = rel
    return files


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


FLAGS = flags.FlagValues()
_F = {"flag_values": FLAGS}
flags.DEFINE_string("checkpoint", None, "MGD training workdir or export folder", **_F)
flags.DEFINE_alias("workdir", "checkpoint", flag_values=FLAGS)
flags.DEFINE_enum("mode", "conditional", ("conditional", "joint"), "what to sample", **_F)
flags.DEFINE_string("objects", None,
                    "mesh file, folder of meshes/.npy clouds, or tfds:<name>[/<config>]@<split>", **_F)
flags.DEFINE_enum("units", "m", sorted(objects.UNIT_SCALE), "units of the object files", **_F)
flags.DEFINE_string("data_dir", None, "TFDS data_dir (default ~/tensorflow_datasets)", **_F)
flags.DEFINE_integer("max_objects", None, "use at most this many objects", **_F)
flags.DEFINE_integer("num_per_object", 8, "conditional: grasps per object", **_F)
flags.DEFINE_integer("num", 16, "joint: number of hand-object pairs", **_F)
flags.DEFINE_integer("batch_size", 256, "samples per jitted call", **_F)
flags.DEFINE_enum("sampler", "ddim", ("ddim", "ddpm"), "DDIM (respaced) or DDPM (all T steps)", **_F)
flags.DEFINE_integer("steps", None, "DDIM steps (default min(100, T); ddpm uses all T)", **_F)
flags.DEFINE_float("guidance", None, "conditional guidance scale", **_F)
flags.DEFINE_integer("seed", 0, "sampling seed", **_F)
flags.DEFINE_float("physics_guidance", None,
                   "conditional: physics guidance scale (largest latent move per guided step, in "
                   "units of the latent's RMS): the last --physics_steps sampler steps follow the "
                   "grasp energy's gradient (mgd_jax.physics_guidance); off by default", **_F)
flags.DEFINE_integer("physics_steps", 20, "sampler steps guided by --physics_guidance", **_F)
flags.DEFINE_bool("refine", False, "refine each grasp with mgd_jax.grasps", **_F)
flags.DEFINE_integer("refine_steps", DEFAULT_REFINE_STEPS, "optimiser steps of --refine", **_F)
flags.DEFINE_bool("refine_settle", True,
                  "after --refine's optimiser steps, close the fingers back onto the surface so the "
                  "grasp keeps holding (--norefine_settle: the optimiser steps alone)", **_F)
flags.DEFINE_bool("evaluate", False, "per-sample metrics (mgd_jax.evaluators)", **_F)
flags.DEFINE_string("metrics", "penetration,intersection,simulation,contact",
                    "metrics of --evaluate (comma list or all)", **_F)
flags.DEFINE_integer("num_workers", 1, "evaluation processes", **_F)
flags.DEFINE_enum("simulator", "mujoco", evaluators.SIMULATORS,
                  "--evaluate's simulation: mujoco (calibrated, fast) or pybullet (the published "
                  "test; pip install mgd_jax[pybullet])", **_F)
flags.DEFINE_integer("render_size", 256, "render size in px (0: no renders)", **_F)
flags.DEFINE_string("view", "three_quarter", "render view preset", **_F)
flags.DEFINE_string("mano_path", None, "MANO file (default: the checkpoint's hand)", **_F)
flags.DEFINE_string("out", None, "output folder", **_F)
flags.DEFINE_bool("overwrite", False, "write into an --out that has samples", **_F)
flags.DEFINE_bool("no_progress", False, "hide progress bars", **_F)
flags.mark_flags_as_required(["checkpoint", "out"], flag_values=FLAGS)


def _check_args(args) -> None:
    if args.mode == "conditional" and not args.objects:
        raise ValueError("--mode=conditional needs --objects (a mesh, a folder or a TFDS split)")
    for name in ("num_per_object", "num", "batch_size", "refine_steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.physics_guidance is not None:
        if args.mode != "conditional":
            raise ValueError("--physics_guidance needs --mode=conditional (the object's surface "
                             "guides the hand)")  # fmt: skip
        if not args.physics_guidance > 0:
            raise ValueError(f"--physics_guidance must be > 0, got {args.physics_guidance}")
        if args.physics_steps < 1:
            raise ValueError(f"--physics_steps must be >= 1, got {args.physics_steps}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.render_size and args.render_size < 16:
        raise ValueError(f"--render_size must be 0 (off) or >= 16, got {args.render_size}")
    if os.path.exists(os.path.join(args.out, "index.json")) and not args.overwrite:
        raise FileExistsError(f"{args.out} already holds samples (index.json); choose another "
                              "--out or pass --overwrite")  # fmt: skip
    if args.evaluate:
        evaluators.parse_metrics(args.metrics)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the command; returns the index written to ``--out/index.json``."""
    cli.parse(FLAGS, argv, "python -m mgd_jax.sample", __doc__)
    args = FLAGS
    _check_args(args)
    from mgd_jax.generator import Generator  # after argument errors, which need no JAX

    gen = Generator.load(args.checkpoint, args.mano_path)
    model = gen.hand_model
    num_timesteps = int(gen.config.diffusion.num_timesteps)
    if args.sampler == "ddim" and args.steps is not None and args.steps > num_timesteps:
        raise ValueError(f"--steps={args.steps}: the model has T={num_timesteps} diffusion steps")
    method = args.sampler
    steps = (args.steps or min(100, num_timesteps)) if method == "ddim" else None

    skipped: list[dict] = []
    if args.mode == "conditional":
        objs, skipped = collect_objects(args.objects, args.units, gen.num_points, args.data_dir,
                                        args.max_objects, model)  # fmt: skip
        rows = np.repeat(np.arange(len(objs)), args.num_per_object)
        points = np.stack([o.points[: gen.num_points] for o in objs])[rows]
        total = len(rows)
    else:
        total = args.num
    bar = tqdm.tqdm(total=total, desc=f"sampling ({method})", unit="grasp", disable=args.no_progress)
    t0 = time.time()
    if args.mode == "conditional":
        physics = {}
        if args.physics_guidance is not None:
            from mgd_jax import physics_guidance  # the grasp energy, only when guided

            physics = dict(physics=physics_guidance.PhysicsGuidance(args.physics_guidance,
                                                                    args.physics_steps),
                           grids=physics_guidance.object_grids([o.mesh for o in objs],
                                                               names=[o.name for o in objs]),
                           grid_rows=rows)  # fmt: skip
        pose, trans = gen.conditional(points, args.seed, method, steps, args.guidance,
                                      args.batch_size, on_batch=bar.update, **physics)  # fmt: skip
    else:
        pose, trans, gen_points = gen.joint(args.num, args.seed, method, steps, args.batch_size,
                                            on_batch=bar.update)  # fmt: skip
        rows = np.arange(args.num)
        taken: set[str] = set()
        objs = [ObjectInput(safe_name(f"joint_{k:04d}", taken), "generated", gen_points[k],
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
        pose, trans = refine_samples(model, objs, rows, pose, trans, args.refine_steps,
                                     not args.no_progress, settle=args.refine_settle)  # fmt: skip
        refined_seconds = time.time() - t1

    return write_outputs(args, gen, objs, rows, pose, trans, finite, skipped,
                         {"sampling_seconds": sample_seconds,
                          "refine_seconds": refined_seconds}, steps)  # fmt: skip


def refine_samples(model, objs: list[ObjectInput], rows: np.ndarray, pose: np.ndarray,
                   trans: np.ndarray, steps: int, progress: bool,
                   settle: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``grasps.refine_by_object`` of every object's finite samples (all objects in one
    compilation); objects without a mesh, or whose mesh cannot be grasped, keep their samples (a
    warning says why). ``settle``: re-close the fingers after the optimiser steps
    (``GraspConfig.refine_settle``). Returns the new pose (N, 16, 3) and trans (N, 3)."""
    from mgd_jax import grasps  # lazily: the optimiser compiles
    from mgd_jax.grasps.config import GraspConfig

    bar = tqdm.tqdm(desc="refining", unit="object", disable=not progress)
    out = grasps.refine_by_object(model, pose, trans, rows, [o.mesh for o in objs], steps,
                                  object_points=[o.points for o in objs],
                                  names=[o.name for o in objs],
                                  progress=lambda done: bar.update(done - bar.n),
                                  config=GraspConfig(refine_settle=settle))  # fmt: skip
    bar.close()
    return out


def write_outputs(args, gen, objs: list[ObjectInput], rows: np.ndarray, pose: np.ndarray,
                  trans: np.ndarray, finite: np.ndarray, skipped: list[dict],
                  timing: dict, steps: int | None) -> dict:  # fmt: skip
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
    verts = hand.posed_vertices(model, pose[keep], trans[keep])
    params = mano_arrays(pose[keep], trans[keep], num_betas)
    samples, hand_meshes, obj_meshes, ids = [], [], [], []
    per_object: dict[int, int] = {}
    finger_labels = evaluators.finger_labels_from_weights(np.asarray(model.weights))
    contact_cache = evaluators.Cache()
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
        contact, contact_arrays = None, {}
        if o.mesh is not None:  # the contact map, both ways
            contact = evaluators.hand_object_contact(hand_mesh, o.mesh, o.points, finger_labels,
                                                     cache=contact_cache)  # fmt: skip
            contact_arrays = {name: contact[k][None] for k, name in CONTACT_KEYS.items()}
            contact_arrays["contact_object_points_m"] = o.points.astype(np.float32)[None]
        np.savez(os.path.join(out, files["npz"]), **{key: a[n : n + 1] for key, a in params.items()},
                 object_path=np.asarray([os.path.join("..", obj_rel) if obj_rel else ""]),
                 object_center_m=o.center_m.astype(np.float32)[None], **contact_arrays)  # fmt: skip
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
            if contact is not None:
                rel = os.path.join("renders", f"{sid}_contact.png")
                images.save_png(os.path.join(out, rel), contact_render.heatmap_views(
                    hand_mesh.vertices, hand_mesh.faces, contact["hand_distance_m"], o.points,
                    contact["object_distance_m"], args.render_size))  # fmt: skip
                files["renders"]["contact"] = rel
        sample = {"id": sid, "object": o.name, "index": int(i), "files": files}
        if contact is not None:
            sample["contact_parts"] = [name for name, c in
                                       zip(evaluators.FINGER_NAMES, contact["finger_contact"]) if c]
        samples.append(sample)
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
        "steps": steps if args.sampler == "ddim" else int(gen.config.diffusion.num_timesteps),
        "guidance": args.guidance,
        "physics_guidance": None if args.physics_guidance is None else
        {"scale": args.physics_guidance, "steps": args.physics_steps},
        "seed": args.seed,
        "batch_size": args.batch_size,
        "refined": bool(args.refine),
        "refine_settle": bool(args.refine and args.refine_settle),
        "simulator": args.simulator if args.evaluate else None,
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
    metrics = evaluators.parse_metrics(args.metrics)
    have = [n for n, o in enumerate(obj_meshes) if o is not None]
    if not have:
        logger.warning("--evaluate: no sample has an object mesh; nothing evaluated")
        return None
    weights = np.asarray(model.weights)
    results = evaluators.evaluate_meshes(
        [hand_meshes[n] for n in have], [obj_meshes[n] for n in have], metrics,
        num_workers=args.num_workers, progress=not args.no_progress, simulator=args.simulator,
        hand_part_labels=evaluators.part_labels_from_weights(weights),
        finger_labels=evaluators.finger_labels_from_weights(weights),
    )  # fmt: skip
    for r, n in enumerate(have):
        samples[n]["metrics"] = {k: evaluators.jsonable(v[r]) for k, v in results.items()}
    summary, md = evaluators.summary_table(results, len(have), len(samples) - len(have))
    if args.mode == "conditional":  # each object's own figures (joint objects are one sample each)
        summary["per_object"], table = evaluators.per_object_table(
            results, [samples[n]["object"] for n in have])  # fmt: skip
        md += "\nPer object (mean over its grasps):\n\n" + table
        logger.info("metrics per object:\n%s", table)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(args.out, "metrics.md"), "w") as f:
        f.write(md)
    return summary


if __name__ == "__main__":
    cli.run(main)
