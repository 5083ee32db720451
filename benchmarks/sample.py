"""Sampling speed: grasps/s of conditional and joint generation, compile time separate.

    python benchmarks/sample.py [--configs demo] [--batches 1 64 512] [--samplers ddpm ddim50 ddim100]
        [--modes conditional guided joint grabnet] [--physics_steps 20]
        [--out benchmarks/results/sample.json]

The models get random parameters at the shapes of the named config (``demo``: the MGD and point
VAE of ``configs/demo.py``; ``full``: ``configs/full.py`` with the paper-scale point VAE): the
speed of a jitted sampler does not depend on the weights, so no trained checkpoint is needed.
Each row samples one batch through ``generator.Generator`` (point-VAE encoding of the objects,
the sampler's ``lax`` loop, decoding; joint mode also decodes the object points). ``guided`` is
conditional sampling with physics guidance (``mgd_jax.physics_guidance``, scale 0.05) over the
last ``--physics_steps`` steps on spheres and boxes of 3-5 cm (their SDF grids built before the
timing); ``grabnet`` is the GrabNet-style CVAE (``configs/grabnet.py`` sizes as the demo trains
them: one decoder pass, no sampler steps). The first call
compiles and runs; ``compile_s`` is its time minus one steady call; grasps/s is the batch size
over the median of ``--repeats`` further calls.
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


def random_generator(name: str):
    """A ``Generator`` with random parameters at the shapes of config ``name``."""
    import jax
    import jax.numpy as jnp

    from configs import demo, full
    from configs import point_vae as point_vae_configs
    from mgd_jax import hand
    from mgd_jax.generator import Generator
    from mgd_jax.models import point_vae
    from mgd_jax.models.mgd import MGD
    from mgd_jax.trained import FrozenPointVAE

    if name == "demo":
        top = demo.get_config()
        config, pv = top.runs.mgd, top.runs.point_vae.model
    elif name == "full":
        config, pv = full.get_config(), point_vae_configs.get_config("").model
    else:
        raise ValueError(f"--configs: unknown '{name}' (demo or full)")
    key = jax.random.PRNGKey(0)
    n = int(config.model.num_points)
    vae_model = point_vae.from_config(pv)
    vae_params = vae_model.init({"params": key, "latent": key}, jnp.zeros((1, n, 3)))
    vae = FrozenPointVAE(vae_model, vae_params, float(pv.input_scale), "random")
    model = MGD.from_config(config.model)
    params = model.init(key, jnp.zeros((1, 16, 3)), jnp.zeros((1, 3)), vae.encode(jnp.zeros((1, n, 3))))
    return Generator(config, {"params": params["params"]}, vae, hand.load(None), 0)


def random_grabnet(name: str):
    """A ``GrabNetSampler`` with random parameters at the demo's (or paper's) CoarseNet shapes."""
    import jax
    import jax.numpy as jnp

    from configs import demo
    from configs import grabnet as grabnet_configs
    from mgd_jax import hand
    from mgd_jax.baselines.grabnet import CoarseNet, GrabNetSampler

    config = demo.get_config().runs.grabnet if name == "demo" else grabnet_configs.get_config()
    model = CoarseNet.from_config(config.model)
    key = jax.random.PRNGKey(0)
    dists = jnp.zeros((1, int(config.model.bps_size)))
    params = model.init(key, dists, jnp.zeros((1, 16, 3)), jnp.zeros((1, 3)), key)
    return GrabNetSampler(config, params, hand.load(None), 0)


def test_objects(num_points: int):
    """Four small meshes (meters) and (4, num_points, 3) surface points of each."""
    import numpy as np
    import trimesh

    meshes = [trimesh.creation.icosphere(3, radius=r) for r in (0.03, 0.04)]
    meshes += [trimesh.creation.box(extents=e) for e in ((0.05, 0.04, 0.03), (0.08, 0.04, 0.04))]
    points = np.stack([np.asarray(trimesh.sample.sample_surface(m, num_points, seed=0)[0])
                       for m in meshes]).astype(np.float32)  # fmt: skip
    return meshes, points


def _time(fn, repeats: int) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    steady = statistics.median(times)
    return max(first - steady, 0.0), steady


def main() -> None:
    import jax
    import numpy as np

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["demo"])
    p.add_argument("--modes", nargs="+", default=["conditional", "guided", "joint", "grabnet"],
                   help="conditional, guided (physics guidance), joint, grabnet (the CVAE)")  # fmt: skip
    p.add_argument("--physics_steps", type=int, default=20, help="guided steps of 'guided'")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 64, 512])
    p.add_argument("--samplers", nargs="+", default=["ddpm", "ddim50", "ddim100"],
                   help="ddpm (all T steps) or ddim<steps>")  # fmt: skip
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "sample.json"))
    args = p.parse_args()

    from mgd_jax import physics_guidance

    rows = []
    for name in args.configs:
        gen = random_generator(name)
        n, T = gen.num_points, int(gen.config.diffusion.num_timesteps)
        meshes, object_points = test_objects(n)
        grids = physics_guidance.object_grids(meshes) if "guided" in args.modes else None
        guide = physics_guidance.PhysicsGuidance(0.05, args.physics_steps)
        cvae = random_grabnet(name) if "grabnet" in args.modes else None
        for mode in args.modes:
            if mode not in ("conditional", "guided", "joint", "grabnet"):
                raise SystemExit(f"--modes: unknown '{mode}'")
            for sampler in args.samplers if mode != "grabnet" else ["cvae"]:
                method = "ddpm" if sampler == "ddpm" else "ddim"
                steps = T if method == "ddpm" else int(sampler[4:]) if method == "ddim" else 1
                if mode == "grabnet":
                    method = "cvae"
                for b in args.batches:
                    index = np.arange(b) % len(meshes)
                    pts = object_points[index]
                    if mode == "conditional":
                        fn = lambda: gen.conditional(pts, 0, method, steps, None, b)  # noqa: E731
                    elif mode == "guided":
                        fn = lambda: gen.conditional(pts, 0, method, steps, None, b, physics=guide,  # noqa: E731
                                                     grids=grids, grid_rows=index)  # fmt: skip
                    elif mode == "grabnet":
                        fn = lambda: cvae.conditional(pts, 0, b)  # noqa: E731
                    else:
                        fn = lambda: gen.joint(b, 0, method, steps, b)  # noqa: E731
                    compile_s, sec = _time(fn, args.repeats)
                    rows.append({"config": name, "mode": mode, "sampler": method, "steps": steps,
                                 "batch": b, "compile_s": compile_s, "batch_s": sec,
                                 "grasps_per_s": b / sec})  # fmt: skip
                    print(f"{name} {mode:>11} {method} {steps:>4} steps  batch {b:>4}: "
                          f"{b / sec:9.1f} grasps/s  ({sec:.2f} s/batch, compile {compile_s:.1f} s)",
                          flush=True)  # fmt: skip
    print()
    print("| config | mode | sampler | steps | batch | grasps/s | s per batch | compile s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['mode']} | {r['sampler']} | {r['steps']} | {r['batch']} | "
              f"{r['grasps_per_s']:.1f} | {r['batch_s']:.3f} | {r['compile_s']:.1f} |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "backend": jax.default_backend(),
                               "device": str(jax.devices()[0])},
                   "rows": rows}, f, indent=2)  # fmt: skip
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
