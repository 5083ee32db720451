"""The hand gallery: the hand model (procedural by default, or your MANO file) posed and rendered.

    python -m mgd_jax.hand_gallery [--workdir runs/hand_gallery] [--mano /path/to/MANO_RIGHT.pkl]

Stages (cached in the workdir; a second run reuses finished outputs unless ``--force``): export the hand model (``hand.npz``, ``hand_rest.obj``), pose it (flat, fist, relaxed
PCA mean, random poses inside the joint limits), render a gallery with color/depth/normal/edge maps,
and write ``report.md``. Lengths are meters in every file written.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from absl import flags

from mgd_jax import cli, hand

logger = logging.getLogger(__name__)

_VIEWS = ("front", "three_quarter", "top")


def named_poses(model: hand.HandModel, num_random: int, seed: int) -> dict[str, np.ndarray]:
    """A few recognisable poses, (16, 3) axis-angle radians each, global orientation zero."""
    zeros = np.zeros((15, 3), np.float32)
    fist = zeros.copy()
    fist[:, 2] = 0.85 * np.asarray(model.pose_upper)[:, 2]
    curl = zeros.copy()
    curl[0:3, 2] = (0.9, 0.7, 0.4)  # index and thumb curl towards each other
    curl[12:15, 2] = (0.5, 0.5, 0.4)
    curl[12, 1] = 0.6
    poses = {
        "flat": zeros,
        "fist": fist,
        "curl": curl,
    }
    out = {}
    for name, angles in poses.items():
        fingers = np.asarray(hand.from_anatomical(model, jnp.asarray(angles)))
        out[name] = np.concatenate([np.zeros((1, 3), np.float32), fingers])
    out["relaxed (PCA mean)"] = np.concatenate(
        [np.zeros((1, 3), np.float32), np.asarray(model.hands_mean).reshape(15, 3)]
    )
    rng = np.random.default_rng(seed)
    for i, pose in enumerate(hand.sample_pose_within_limits(model, rng, num_random)):
        out[f"random {i}"] = pose
    return out


def render_gallery(model, poses: dict[str, np.ndarray], workdir: str, size: int) -> dict:
    """Render every pose from a few views; write the gallery and condition maps as PNGs."""
    from mgd_jax import images, render

    names = list(poses)
    posed = hand.forward(model, np.stack([poses[n] for n in names]), np.zeros((len(names), 3)))
    verts = np.asarray(posed.vertices)
    tiles, labels, stats = [], [], {}
    for i, name in enumerate(names):
        mesh = hand.to_trimesh(verts[i], model)
        stats[name] = {
            "watertight": bool(mesh.is_watertight),
            "volume_cm3": float(mesh.volume * 1e6),
            "finite": bool(np.isfinite(verts[i]).all()),
        }
        views = render.render_views([mesh], views=_VIEWS, size=(size, size))
        for view_name, view in zip(_VIEWS, views):
            tiles.append(view["color"])
            labels.append(f"{name} / {view_name}")
        if name == "curl":
            cond = views[1]
            maps = [cond["color"], images.depth_to_image(cond["depth"]),
                    images.normal_to_image(cond["normal"]), cond["edge"]]  # fmt: skip
            sheet = images.contact_sheet(maps, ncols=4, labels=["color", "depth", "normal", "edge"])
            images.save_png(os.path.join(workdir, "condition_maps.png"), sheet)
        logger.info("rendered %-20s (%d/%d)", name, i + 1, len(names))
    gallery = images.contact_sheet(tiles, ncols=len(_VIEWS) * 2, labels=labels)
    images.save_png(os.path.join(workdir, "hand_gallery.png"), gallery)
    return stats


def write_report(workdir: str, model, stats: dict, seconds: float) -> str:
    joints = np.asarray(hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3)).joints)
    length_cm = 100 * float(np.linalg.norm(joints[18] - joints[0]))
    lines = [
        "# mgd_jax hand gallery",
        "",
        f"Hand model: `{model.name}` ({model.side}), {model.num_vertices} vertices, "
        f"{int(model.faces.shape[0])} faces, wrist to middle fingertip {length_cm:.1f} cm, "
        f"fingerprint `{hand.fingerprint(model)[:16]}`.",
        "",
        "![hand gallery](hand_gallery.png)",
        "",
        "Condition maps (color, depth, normal, edge) of the curl pose:",
        "",
        "![condition maps](condition_maps.png)",
        "",
        "| pose | watertight | volume (cm³) | finite |",
        "|---|---|---|---|",
    ]
    for name, s in stats.items():
        lines.append(f"| {name} | {s['watertight']} | {s['volume_cm3']:.1f} | {s['finite']} |")
    lines += ["", f"Total time: {seconds:.1f} s."]
    path = os.path.join(workdir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


FLAGS = flags.FlagValues()
_F = {"flag_values": FLAGS}
flags.DEFINE_string("workdir", "runs/hand_gallery", "output folder (created)", **_F)
flags.DEFINE_string("mano", None, "MANO_RIGHT.pkl or hand .npz (default: the procedural hand)", **_F)
flags.DEFINE_integer("num_random", 4, "random poses in the gallery", **_F)
flags.DEFINE_integer("size", 320, "render size, pixels", **_F)
flags.DEFINE_integer("seed", 0, "seed of the random poses", **_F)
flags.DEFINE_bool("force", False, "redo finished stages", **_F)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command: the gallery, condition maps, hand files and report in ``--workdir``."""
    cli.parse(FLAGS, argv, "python -m mgd_jax.hand_gallery", __doc__)
    args = FLAGS
    start = time.time()
    os.makedirs(args.workdir, exist_ok=True)
    model = hand.load(args.mano)
    logger.info("hand model %s: %d vertices", model.name, model.num_vertices)
    done_marker = os.path.join(args.workdir, "stages.json")
    done = {}
    if os.path.exists(done_marker) and not args.force:
        with open(done_marker) as f:
            done = json.load(f)
    key = {"hand": hand.fingerprint(model), "num_random": args.num_random, "size": args.size,
           "seed": args.seed}  # fmt: skip
    if done.get("hand_gallery") == key:
        logger.info("hand gallery: reusing finished stage in %s", args.workdir)
    else:
        hand.save_npz(model, os.path.join(args.workdir, "hand.npz"))
        rest = hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3)).vertices
        hand.to_trimesh(rest, model).export(os.path.join(args.workdir, "hand_rest.obj"))
        stats = render_gallery(model, named_poses(model, args.num_random, args.seed),
                               args.workdir, args.size)  # fmt: skip
        report = write_report(args.workdir, model, stats, time.time() - start)
        done["hand_gallery"] = key
        with open(done_marker, "w") as f:
            json.dump(done, f, indent=1)
        logger.info("wrote %s", report)
    print(f"Hand gallery in {os.path.abspath(args.workdir)}: report.md, hand_gallery.png, "
          "condition_maps.png, hand.npz, hand_rest.obj")


if __name__ == "__main__":
    cli.run(main)
