"""Point-VAE training throughput and memory, and the input pipeline on its own.

    python benchmarks/point_vae.py [--configs cpu cpu_pointnet full] [--steps 5]
        [--out benchmarks/results/point_vae.json]

For each config shape (``configs/point_vae.py:<arg>``: channels, voxel resolutions, points,
batch) this times the jitted, donated training step of ``mgd_jax.train`` on random points
(median over ``--steps`` after warm-up; compile time separate) and reports steps/s, examples/s,
XLA's own memory estimate for the step (arguments + temporaries) and the process's peak RSS.
Each config runs in a fresh subprocess so peak RSS belongs to that config alone. The pipeline
benchmark reads ``mgd_objects/demo`` (build it first:
``python -m mgd_jax.build_dataset datasets/mgd_objects --config=demo``) through
``input_pipeline.make_dataset`` + ``DeviceIterator`` with the training transform, no model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def bench_train(arg: str, conv_impl: str, steps: int) -> dict:
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np

    from configs import point_vae as point_vae_config
    from mgd_jax import sharding, tasks, train

    config = point_vae_config.get_config(arg)  # the backbone and widths are the config's
    config.model.conv_impl = conv_impl
    config.data.sources = ("primitives:8",)  # the step never sees the source; keep it cheap
    task = tasks.get_task(config)
    pv = config.task
    batch_size = config.data.batch_size
    rng = np.random.default_rng(0)
    points = rng.normal(0, 0.03, size=(batch_size, pv.num_points, 3)).astype(np.float32)
    mesh = sharding.make_mesh(None)
    batch = jax.device_put({"points": jnp.asarray(points)}, sharding.data_sharding(mesh))
    optimizer = train.make_optimizer(config)
    params = task.init(jax.random.PRNGKey(0), batch)
    ema = jax.tree_util.tree_map(jnp.copy, params)  # distinct buffers: the state is donated
    state = train.TrainState(jnp.zeros((), jnp.int32), params, ema, optimizer.init(params))
    step_fn = jax.jit(
        functools.partial(train.train_step, task=task, optimizer=optimizer, ema_decay=0.999),
        donate_argnums=(0,),
    )
    key = jax.random.PRNGKey(1)
    t0 = time.perf_counter()
    compiled = step_fn.lower(state, batch, key).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    xla_bytes = None
    if mem is not None:
        xla_bytes = int(mem.argument_size_in_bytes + mem.temp_size_in_bytes
                        + mem.output_size_in_bytes - mem.alias_size_in_bytes)  # fmt: skip
    state, _ = compiled(state, batch, key)  # warm-up
    jax.block_until_ready(state.step)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        state, metrics = compiled(state, batch, key)
        jax.block_until_ready(metrics["loss"])
        times.append(time.perf_counter() - t)
    sec = statistics.median(times)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params))
    return {
        "config": arg or "full", "backbone": config.model.backbone, "conv_impl": conv_impl,
        "channels": list(config.model.channels), "resolutions": list(config.model.resolutions),
        "num_points": pv.num_points, "batch_size": batch_size, "params": n_params,
        "compile_s": compile_s, "step_s": sec, "steps_per_s": 1.0 / sec,
        "examples_per_s": batch_size / sec,
        "xla_step_memory_mib": None if xla_bytes is None else xla_bytes / 2**20,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "backend": jax.default_backend(), "devices": len(jax.devices()),
    }  # fmt: skip


def bench_pipeline(batches: int, batch_size: int) -> dict:
    import jax

    from configs import point_vae as point_vae_config
    from mgd_jax import sharding, tasks
    from mgd_jax.data import input_pipeline

    config = point_vae_config.get_config("cpu")
    task = tasks.get_task(config)
    ds = input_pipeline.make_dataset(task.train_sources(), batch_size, 0, transform=task.transform)
    it = input_pipeline.DeviceIterator(ds, sharding.data_sharding(sharding.make_mesh(None)))
    jax.block_until_ready(next(it))  # opens the array_record files
    t0 = time.perf_counter()
    for _ in range(batches):
        jax.block_until_ready(next(it))
    sec = time.perf_counter() - t0
    it.close()
    return {"source": config.data.sources[0], "batch_size": batch_size, "batches": batches,
            "examples_per_s": batches * batch_size / sec}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["cpu", "cpu_pointnet", "full"],
                        help="configs/point_vae.py arguments; 'full' means the default ''")  # fmt: skip
    parser.add_argument("--conv_impls", nargs="+", default=["auto"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--pipeline_batches", type=int, default=200)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "point_vae.json"))
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._child:  # one measurement, in its own process
        arg, impl = args._child.split(",")
        result = bench_train("" if arg == "full" else arg, impl, args.steps)
        print("RESULT " + json.dumps(result))
        return

    rows = []
    for arg in args.configs:
        for impl in args.conv_impls if "pointnet" not in arg else ["auto"]:
            cmd = [sys.executable, __file__, "--steps", str(args.steps),
                   "--_child", f"{arg},{impl}"]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True)
            lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode != 0 or not lines:
                print(f"{arg}/{impl} failed:\n{out.stderr[-2000:]}")
                continue
            rows.append(json.loads(lines[0][7:]))
            r = rows[-1]
            print(f"{r['config']:>5} {r['backbone']:>8} {r['conv_impl']:>6}  "
                  f"{r['steps_per_s']:.3f} steps/s  {r['examples_per_s']:.2f} ex/s  "
                  f"compile {r['compile_s']:.0f} s  rss {r['peak_rss_mib']:.0f} MiB", flush=True)  # fmt: skip
    pipeline = None
    try:
        pipeline = bench_pipeline(args.pipeline_batches, 8)
        print(f"pipeline {pipeline['source']}: {pipeline['examples_per_s']:.0f} examples/s")
    except FileNotFoundError as e:
        print(f"pipeline skipped: {e}")

    print()
    print("| config | backbone | 3-D conv | channels @ voxel res | points x batch | params | "
          "steps/s | examples/s | compile s | XLA step MiB | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        shape = (f"{'/'.join(map(str, r['channels']))} @ {'/'.join(map(str, r['resolutions']))}"
                 if r["backbone"] == "pvcnn" else "/".join(map(str, r["channels"])))  # fmt: skip
        mem = "-" if r["xla_step_memory_mib"] is None else f"{r['xla_step_memory_mib']:,.0f}"
        print(f"| {r['config']} | {r['backbone']} | {r['conv_impl']} | {shape} | "
              f"{r['num_points']} x {r['batch_size']} | {r['params']:,} | {r['steps_per_s']:.3f} | "
              f"{r['examples_per_s']:.2f} | {r['compile_s']:.0f} | {mem} | "
              f"{r['peak_rss_mib']:,.0f} |")  # fmt: skip
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                   "train": rows, "pipeline": pipeline}, f, indent=2)  # fmt: skip
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
