"""Sampling speed: grasps/s of conditional and joint generation, compile time separate.

    python benchmarks/sample.py [--configs demo] [--batches 1 64 512] [--samplers ddpm ddim50 ddim100]
        [--out benchmarks/results/sample.json]

The models get random parameters at the shapes of the named config (``demo``: the MGD and point
VAE of ``configs/demo.py``; ``full``: ``configs/full.py`` with the paper-scale point VAE): the
speed of a jitted sampler does not depend on the weights, so no trained checkpoint is needed.
Each row samples one batch through ``generator.Generator`` (point-VAE encoding of the objects,
the sampler's ``lax`` loop, decoding; joint mode also decodes the object points). The first call
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
    p.add_argument("--modes", nargs="+", default=["conditional", "joint"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 64, 512])
    p.add_argument("--samplers", nargs="+", default=["ddpm", "ddim50", "ddim100"],
                   help="ddpm (all T steps) or ddim<steps>")  # fmt: skip
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "sample.json"))
    args = p.parse_args()

    rows = []
    for name in args.configs:
        gen = random_generator(name)
        n, T = gen.num_points, int(gen.config.diffusion.num_timesteps)
        rng = np.random.default_rng(0)
        for mode in args.modes:
            for sampler in args.samplers:
                method = "ddpm" if sampler == "ddpm" else "ddim"
                steps = T if method == "ddpm" else int(sampler[4:])
                for b in args.batches:
                    if mode == "conditional":
                        pts = rng.normal(0, 0.03, (b, n, 3)).astype(np.float32)
                        fn = lambda: gen.conditional(pts, 0, method, steps, None, b)  # noqa: E731
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
