"""Evaluate a set of grasps (MANO parameters in the object frame) and write the results.

Usage::

    python -m mgd_jax.evaluate --grasps GRASPS.npz|FOLDER --out OUT_DIR [--mano MANO_RIGHT.pkl]
        [--metrics penetration,intersection,simulation,contact] [--num_workers 1]
        [--units m|cm|mm] [--render_size 256] [--num_best_worst 3]

Input: an ``.npz`` (or a folder of them, concatenated in sorted order) with
``global_orient`` (B,3), ``hand_pose`` (B,45), ``transl`` (B,3) -- axis-angle radians, meters,
object frame, MANO/smplx names (``hand_pose`` is the full finger pose, i.e. flat hand mean) --
or ``pose`` (B,16,3) + ``trans`` (B,3); ``object_path`` (B,) mesh files (relative paths are
resolved against the npz's folder); optional ``betas`` (B,10) and ``object_units`` (a string,
or (B,) strings, overriding ``--units``). Objects are used as stored (not re-centred).

Output in ``--out``: ``per_grasp.json``, ``summary.json``, ``summary.md`` (mean and std in the
paper's Table 1 column order, then contact and stable ratios) and ``contact_sheet.png`` (the
best and worst grasps per metric). Grasps whose object file is missing or unreadable are skipped
and reported; the others are still evaluated.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sys
from collections.abc import Sequence

import numpy as np

from absl import flags

from mgd_jax import render  # noqa: I001  (first: sets MUJOCO_GL before mujoco is imported)
from mgd_jax import cli, evaluators, hand, images, objects

log = logging.getLogger(__name__)

PARAM_KEYS = ("global_orient", "hand_pose", "transl")
ALT_KEYS = ("pose", "trans")


# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------


def _grasp_files(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.npz")))
        if not files:
            raise ValueError(f"{path}: folder holds no .npz grasp files")
        return files
    if not os.path.isfile(path):
        raise FileNotFoundError(f"grasps file not found: {path}")
    return [path]


def _strings(values, n: int, name: str, path: str) -> list[str]:
    arr = np.asarray(values)
    if arr.ndim == 0:
        return [str(arr.item())] * n
    if arr.shape != (n,):
        raise ValueError(f"{path}: {name} must be a string or ({n},) strings, got {arr.shape}")
    return [str(v) for v in arr]


def load_grasp_file(path: str) -> dict:
    """One grasp ``.npz``: ``pose`` (B,16,3), ``trans`` (B,3), ``betas`` (B,10) or None,
    ``object_path`` (B,) absolute paths, ``object_units`` (B,) str or None entries.

    Raises:
      ValueError naming the file: unreadable, missing keys (listing the expected ones), shapes.
    """
    try:
        data = dict(np.load(path, allow_pickle=False))
    except Exception as e:  # noqa: BLE001  (zip / pickle / format errors all mean "unreadable")
        raise ValueError(f"{path}: cannot read grasps npz ({e})") from e
    expected = (f"expected keys {list(PARAM_KEYS)} (or {list(ALT_KEYS)}) and 'object_path'; "
                f"optional 'betas', 'object_units'")  # fmt: skip
    if all(k in data for k in PARAM_KEYS):
        go = np.asarray(data["global_orient"], np.float64)
        hp = np.asarray(data["hand_pose"], np.float64)
        tr = np.asarray(data["transl"], np.float64)
        if go.ndim != 2 or go.shape[1] != 3:
            raise ValueError(f"{path}: global_orient must be (B, 3), got {go.shape}")
        if hp.ndim != 2 or hp.shape[1] != 45 or len(hp) != len(go):
            raise ValueError(f"{path}: hand_pose must be ({len(go)}, 45), got {hp.shape}")
        pose = np.concatenate([go, hp], axis=1).reshape(-1, 16, 3)
    elif all(k in data for k in ALT_KEYS):
        pose = np.asarray(data["pose"], np.float64)
        tr = np.asarray(data["trans"], np.float64)
        if pose.ndim == 2 and pose.shape[1] == 48:
            pose = pose.reshape(-1, 16, 3)
        if pose.ndim != 3 or pose.shape[1:] != (16, 3):
            raise ValueError(f"{path}: pose must be (B, 16, 3), got {pose.shape}")
    else:
        missing = [k for k in PARAM_KEYS if k not in data]
        raise ValueError(f"{path}: missing keys {missing}; {expected}; found {sorted(data)}")
    n = len(pose)
    tr_key = "transl" if "transl" in data and "global_orient" in data else "trans"
    if tr.shape != (n, 3):
        raise ValueError(f"{path}: {tr_key} must be ({n}, 3), got {tr.shape}")
    if "object_path" not in data:
        raise ValueError(f"{path}: missing keys ['object_path']; {expected}; found {sorted(data)}")
    obj_paths = _strings(data["object_path"], n, "object_path", path)
    folder = os.path.dirname(os.path.abspath(path))
    obj_paths = [p if os.path.isabs(p) else os.path.normpath(os.path.join(folder, p))
                 for p in obj_paths]  # fmt: skip
    units = (_strings(data["object_units"], n, "object_units", path) if "object_units" in data
             else [None] * n)  # fmt: skip
    betas = None
    if "betas" in data:
        betas = np.asarray(data["betas"], np.float64)
        if betas.ndim != 2 or len(betas) != n:
            raise ValueError(f"{path}: betas must be ({n}, K), got {betas.shape}")
    if not (np.isfinite(pose).all() and np.isfinite(tr).all()):
        raise ValueError(f"{path}: non-finite values in the pose or translation")
    return {"pose": pose, "trans": tr, "betas": betas, "object_path": obj_paths,
            "object_units": units, "source": [path] * n}  # fmt: skip


def load_grasps(path: str) -> dict:
    """Grasps of one ``.npz`` or of every ``.npz`` in a folder, concatenated."""
    parts = [load_grasp_file(f) for f in _grasp_files(path)]
    out: dict = {}
    for k in ("pose", "trans"):
        out[k] = np.concatenate([p[k] for p in parts])
    for k in ("object_path", "object_units", "source"):
        out[k] = [v for p in parts for v in p[k]]
    if any(p["betas"] is not None for p in parts):
        dims = {p["betas"].shape[1] for p in parts if p["betas"] is not None}
        if len(dims) != 1:
            raise ValueError(f"{path}: betas have different sizes across files: {sorted(dims)}")
        (k,) = dims
        out["betas"] = np.concatenate([p["betas"] if p["betas"] is not None
                                       else np.zeros((len(p["pose"]), k)) for p in parts])  # fmt: skip
    else:
        out["betas"] = None
    return out


def load_objects(paths: Sequence[str], units: Sequence[str | None], default_units: str):
    """Each distinct (file, units) loaded once. Returns (mesh per grasp or None, skipped reasons
    {file: reason})."""
    cache: dict = {}
    failed: dict[str, str] = {}
    meshes = []
    for p, u in zip(paths, units):
        key = (p, u or default_units)
        if key not in cache:
            try:
                cache[key] = objects.load_mesh(p, units=key[1])
            except (FileNotFoundError, ValueError) as e:
                cache[key] = None
                failed[p] = str(e)
                log.warning("skipping grasps of %s: %s", p, e)
        meshes.append(cache[key])
    return meshes, failed


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def make_contact_sheet(results: dict, metrics: Sequence[str], hand_meshes, obj_meshes,
                       n: int, size: int, names: Sequence[int] | None = None):  # fmt: skip
    """Rows of the ``n`` best then ``n`` worst grasps per metric (positions into the evaluated
    lists), or None when no sheet metric was requested."""
    rows = [m for m in evaluators.SHEET_METRICS
            if m in metrics and evaluators.SHEET_METRICS[m][0] in results]  # fmt: skip
    if not rows or n < 1 or not hand_meshes:
        return None
    colors: dict[int, np.ndarray] = {}
    tiles, labels = [], []
    k = min(n, len(hand_meshes))
    for m in rows:
        key, short, unit = evaluators.SHEET_METRICS[m]
        vals = np.asarray(results[key], np.float64)
        order = np.argsort(vals, kind="stable")
        picks = [("best", i) for i in order[:k]] + [("worst", i) for i in order[::-1][:k]]
        for tag, i in picks:
            i = int(i)
            if i not in colors:
                colors[i] = render.render_views([hand_meshes[i], obj_meshes[i]],
                                                views=["three_quarter"],
                                                size=(size, size))[0]["color"]  # fmt: skip
            tiles.append(colors[i])
            name = i if names is None else names[i]
            labels.append(f"#{name} {short} {tag}: {vals[i]:.2f} {unit}")
    return images.contact_sheet(tiles, ncols=2 * k, labels=labels), len(colors)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


FLAGS = flags.FlagValues()
_F = {"flag_values": FLAGS}
flags.DEFINE_string("grasps", None, ".npz file or folder of .npz files", **_F)
flags.DEFINE_string("out", None, "output folder (created)", **_F)
flags.DEFINE_string("mano", None, "MANO .pkl/.npz (default: procedural hand)", **_F)
flags.DEFINE_string("metrics", "all", f"comma list of {','.join(evaluators.METRICS)} (default all)",
                    **_F)
flags.DEFINE_integer("num_workers", 1, "evaluation processes", **_F)
flags.DEFINE_enum("simulator", "mujoco", evaluators.SIMULATORS,
                  "simulation displacement: mujoco (calibrated approximation, fast) or pybullet "
                  "(the published ObMan/GraspTTA test; pip install mgd_jax[pybullet])", **_F)
flags.DEFINE_enum("units", "m", sorted(objects.UNIT_SCALE), "units of the object files", **_F)
flags.DEFINE_integer("render_size", 256, "contact sheet tile size in px", **_F)
flags.DEFINE_integer("num_best_worst", 3, "best and worst grasps per metric on the sheet", **_F)
flags.DEFINE_bool("no_progress", False, "hide the progress bar", **_F)
flags.mark_flags_as_required(["grasps", "out"], flag_values=FLAGS)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the evaluation; returns the summary dict (also written to ``summary.json``)."""
    cli.parse(FLAGS, argv, "python -m mgd_jax.evaluate", __doc__)
    args = FLAGS
    metrics = evaluators.parse_metrics(args.metrics)
    if args.num_workers < 1:
        raise ValueError(f"--num_workers must be >= 1, got {args.num_workers}")
    if args.render_size < 2:
        raise ValueError(f"--render_size must be >= 2, got {args.render_size}")

    grasps = load_grasps(args.grasps)
    num_total = len(grasps["pose"])
    model = hand.load(args.mano)
    obj_meshes, failed = load_objects(grasps["object_path"], grasps["object_units"], args.units)
    keep = [i for i, o in enumerate(obj_meshes) if o is not None]
    skipped = [{"index": i, "object_path": grasps["object_path"][i],
                "reason": failed.get(grasps["object_path"][i], "")}
               for i, o in enumerate(obj_meshes) if o is None]  # fmt: skip
    if not keep:
        raise ValueError(f"{args.grasps}: all {num_total} grasps skipped, no object loaded: "
                         + "; ".join(f"{p}: {r}" for p, r in failed.items()))  # fmt: skip

    betas = None if grasps["betas"] is None else grasps["betas"][keep]
    verts = hand.posed_vertices(model, grasps["pose"][keep], grasps["trans"][keep], betas)
    hand_meshes = [hand.to_trimesh(v, model) for v in verts]
    objs = [obj_meshes[i] for i in keep]
    weights = np.asarray(model.weights)
    results = evaluators.evaluate_meshes(
        hand_meshes, objs, metrics, num_workers=args.num_workers, progress=not args.no_progress,
        simulator=args.simulator,
        hand_part_labels=evaluators.part_labels_from_weights(weights),
        finger_labels=evaluators.finger_labels_from_weights(weights),
    )  # fmt: skip

    os.makedirs(args.out, exist_ok=True)
    per_grasp = []
    for j, i in enumerate(keep):
        row = {"index": i, "source": grasps["source"][i],
               "object_path": grasps["object_path"][i]}  # fmt: skip
        row.update({k: evaluators.jsonable(v[j]) for k, v in results.items()})
        per_grasp.append(row)
    with open(os.path.join(args.out, "per_grasp.json"), "w") as f:
        json.dump(per_grasp, f, indent=1)

    summary, md = evaluators.summary_table(results, len(keep), len(skipped))
    summary.update({"grasps": os.path.abspath(args.grasps), "metrics_requested": list(metrics),
                    "hand": model.name, "hand_fingerprint": hand.fingerprint(model),
                    "simulator": args.simulator,
                    "skipped": skipped})  # fmt: skip
    note = ""
    if skipped:
        note = (f"\n{len(skipped)} of {num_total} grasps skipped (bad object files: "
                + ", ".join(sorted(failed)) + ").\n")  # fmt: skip
    md_doc = f"{len(keep)} grasps evaluated from {args.grasps}.\n\n{md}{note}"
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(md_doc)

    sheet = make_contact_sheet(results, metrics, hand_meshes, objs, args.num_best_worst,
                               args.render_size, names=keep)  # fmt: skip
    if sheet is not None:
        images.save_png(os.path.join(args.out, "contact_sheet.png"), sheet[0])

    if skipped:
        print(f"skipped {len(skipped)} of {num_total} grasps:", file=sys.stderr)
        for r in sorted(failed.values()):
            print(f"  {r}", file=sys.stderr)
    print(md_doc)
    return summary


if __name__ == "__main__":
    cli.run(main)
