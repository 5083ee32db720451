"""Sampling and refinement variants of a demo's main model on its held-out test objects.

    python benchmarks/demo_variants.py --workdir=runs/demo [--refine=refine,settle] \
        [--guidance=1,2] [--steps 50] [--max_grasps 256]

Takes the main model's conditional samples of a finished demo run (``<workdir>/samples/
mgd_conditional.npz``: ``sampling.num_per_object`` grasps on each held-out test object), one
random subset of ``--max_grasps`` of them (seed 0), and evaluates them as sampled and after each
variant, with the demo's evaluators (``configs/demo.py``'s ``evaluation`` section: penetration,
intersection, MuJoCo simulation displacement, contact; diversity of the joints):

  * ``unrefined``: the samples as generated;
  * ``guidance s`` (``--guidance``): the same rows sampled again with conditional guidance
    scale s (the demo's seed, method and steps), the same subset evaluated;
  * ``physics s`` (``--physics``): sampled again with physics guidance of scale s over the last
    ``--physics_steps`` sampler steps (:mod:`mgd_jax.physics_guidance`, the objects' SDF grids),
    optionally with its floor and a stronger contact weight in the energy.

Sampling variants are timed on their second call (compiled), against the plain sampler's second
call (``unrefined`` row's time).

Refinement variants (``--refine``), applied to the unrefined samples:

  * ``refine``: ``--steps`` Adam steps of the grasp energy (``grasps.refine_by_object``, as
    ``sample --refine`` and the demo's "MGD + refine" row do);
  * ``refine + settle``: the same, then every finger re-closed onto the surface as synthesis does
    (``GraspConfig(refine_settle=True)``);
  * ``settle``: the fingers re-closed without any Adam step.

Prints the report's table and writes JSON to ``--out`` (default
``benchmarks/results/demo_variants.json``) with the sampling and refinement times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from configs import demo  # noqa: E402
from mgd_jax import experiment, grasps, hand, report  # noqa: E402
from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS, GraspConfig  # noqa: E402

VARIANTS = {
    "refine": lambda steps: (steps, GraspConfig()),
    "refine + settle": lambda steps: (steps, GraspConfig(refine_settle=True)),
    "settle": lambda steps: (0, GraspConfig(refine_settle=True)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="a finished demo run's folder")
    parser.add_argument("--steps", type=int, default=DEFAULT_REFINE_STEPS)
    parser.add_argument("--max_grasps", type=int, default=256)
    parser.add_argument("--refine", default=",".join(VARIANTS),
                        help=f"comma-separated subset of: {', '.join(VARIANTS)} ('' for none)")
    parser.add_argument("--guidance", default="",
                        help="comma-separated conditional guidance scales to sample with")
    parser.add_argument("--physics", default="",
                        help="comma-separated physics guidance settings to sample with: SCALE, "
                             "SCALE:FLOOR (PhysicsGuidance.floor, default 1) or "
                             "SCALE:FLOOR:CONTACT (the energy's contact weight "
                             "GraspConfig.w_contact, default 1; penetration's is 40)")
    parser.add_argument("--settle_sampled", action="store_true",
                        help="also evaluate each sampling variant with its fingers re-closed")
    parser.add_argument("--physics_steps", type=int, default=20)
    parser.add_argument("--physics_iterations", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "demo_variants.json"))
    args = parser.parse_args()
    names = [v.strip() for v in args.refine.split(",") if v.strip()]
    scales = [float(v) for v in args.guidance.split(",") if v.strip()]
    physics_scales = [tuple(float(x) for x in v.split(":")) for v in args.physics.split(",")
                      if v.strip()]  # fmt: skip
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    path = os.path.join(args.workdir, "samples", "mgd_conditional.npz")
    if not os.path.exists(path):
        parser.error(f"{path} not found: run the demo into --workdir first")

    config = demo.get_config()
    hand_model = hand.load(config.mano_path or None)
    ids, meshes, points = experiment.load_sample_objects(args.workdir)
    data = np.load(path)
    rng = np.random.default_rng(0)
    n = len(data["pose"])
    pick = np.sort(rng.choice(n, min(n, args.max_grasps), replace=False))
    pose, trans, rows = data["pose"][pick], data["trans"][pick], data["object_index"][pick]
    objs = [meshes[i] for i in rows]
    results, seconds = {}, {}

    results["unrefined"] = experiment.evaluate_grasps(config, hand_model, pose, trans, objs)
    if scales or physics_scales:
        from mgd_jax import physics_guidance
        from mgd_jax.generator import Generator

        gen = Generator.load(os.path.join(args.workdir, "mgd"))
        s = config.sampling
        rows_all = data["object_index"]
        variants = [(f"guidance {g:g}", dict(guidance=g)) for g in scales]
        if physics_scales:
            grids = physics_guidance.object_grids(meshes, names=ids)
            for p in physics_scales:
                energy = GraspConfig(w_contact=p[2]) if len(p) > 2 else GraspConfig()
                guidance = physics_guidance.PhysicsGuidance(
                    p[0], args.physics_steps, args.physics_iterations, *p[1:2], config=energy)
                name = f"physics {guidance.scale:g} (floor {guidance.floor:g}"
                name += f", contact weight {energy.w_contact:g})" if len(p) > 2 else ")"
                variants.append((name, dict(physics=guidance, grids=grids, grid_rows=rows_all)))

        def draw(**kwargs):
            t0 = time.time()
            out = gen.conditional(points[rows_all], seed=config.seed, method=s.method,
                                  num_steps=s.num_steps, batch_size=s.batch_size, **kwargs)
            return out, time.time() - t0

        for name, kwargs in [("unrefined", {})] + variants:
            draw(**kwargs)  # compiles
            (p, t), seconds[name] = draw(**kwargs)
            print(f"{name}: sampled {len(p)} grasps in {seconds[name]:.1f} s (compiled)",
                  flush=True)  # fmt: skip
            if name == "unrefined":
                continue
            results[name] = experiment.evaluate_grasps(config, hand_model, p[pick], t[pick], objs)
            if args.settle_sampled:
                p, t = grasps.refine_by_object(hand_model, p[pick], t[pick], rows, meshes, 0,
                                               object_points=list(points), names=ids,
                                               config=GraspConfig(refine_settle=True))  # fmt: skip
                results[f"{name} + settle"] = experiment.evaluate_grasps(config, hand_model, p, t,
                                                                         objs)  # fmt: skip
    for name in names:
        steps, grasp_config = VARIANTS[name](args.steps)
        t0 = time.time()
        p, t = grasps.refine_by_object(hand_model, pose, trans, rows, meshes, steps,
                                       object_points=list(points), names=ids,
                                       config=grasp_config)  # fmt: skip
        seconds[name] = time.time() - t0
        results[name] = experiment.evaluate_grasps(config, hand_model, p, t, objs)
        print(f"{name}: refined {len(p)} grasps in {seconds[name]:.1f} s", flush=True)

    print(f"\n{len(pick)} grasps of {path}, refined for {args.steps} steps\n")
    print(report.metric_table(results))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"workdir": args.workdir, "steps": args.steps, "num_grasps": len(pick),
                   "platform": platform.platform(), "seconds": seconds,
                   "results": results}, f, indent=1)  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
