"""The embedded-default demo: everything that runs without licensed files, end to end.

    python -m mgd_jax.demo --workdir runs/demo [--mano /path/to/MANO_RIGHT.pkl]

Current stages (each cached in the workdir; a second run reuses finished outputs unless
``--force``): export the hand model (``hand.npz``, ``hand_rest.obj``), pose it (flat, fist, relaxed
PCA mean, random poses inside the joint limits), render a gallery with color/depth/normal/edge maps,
and write ``report.md``. Lengths are meters in every file written.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

import jax.numpy as jnp
import numpy as np

from mgd_jax import hand

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
    from mgd_jax import render

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
            maps = [cond["color"], render.depth_to_image(cond["depth"]),
                    render.normal_to_image(cond["normal"]), cond["edge"]]  # fmt: skip
            sheet = render.contact_sheet(maps, ncols=4, labels=["color", "depth", "normal", "edge"])
            render.save_png(os.path.join(workdir, "condition_maps.png"), sheet)
        logging.info("rendered %-20s (%d/%d)", name, i + 1, len(names))
    gallery = render.contact_sheet(tiles, ncols=len(_VIEWS) * 2, labels=labels)
    render.save_png(os.path.join(workdir, "hand_gallery.png"), gallery)
    return stats


def write_report(workdir: str, model, stats: dict, seconds: float) -> str:
    joints = np.asarray(hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3)).joints)
    length_cm = 100 * float(np.linalg.norm(joints[18] - joints[0]))
    lines = [
        "# mgd_jax demo report",
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/demo", help="output folder (created)")
    parser.add_argument("--mano", default=None, help="MANO_RIGHT.pkl or hand .npz (default: "
                        "the procedural hand)")  # fmt: skip
    parser.add_argument("--num_random", type=int, default=4, help="random poses in the gallery")
    parser.add_argument("--size", type=int, default=320, help="render size, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="redo finished stages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    start = time.time()
    os.makedirs(args.workdir, exist_ok=True)
    model = hand.load(args.mano)
    logging.info("hand model %s: %d vertices", model.name, model.num_vertices)
    done_marker = os.path.join(args.workdir, "stages.json")
    done = {}
    if os.path.exists(done_marker) and not args.force:
        with open(done_marker) as f:
            done = json.load(f)
    key = {"hand": hand.fingerprint(model), "num_random": args.num_random, "size": args.size,
           "seed": args.seed}  # fmt: skip
    if done.get("hand_gallery") == key:
        logging.info("hand gallery: reusing finished stage in %s", args.workdir)
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
        logging.info("wrote %s", report)
    print(f"Demo outputs in {os.path.abspath(args.workdir)}: report.md, hand_gallery.png, "
          "condition_maps.png, hand.npz, hand_rest.obj")


if __name__ == "__main__":
    main()
