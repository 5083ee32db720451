"""Where grasp synthesis spends its time: the optimiser's pieces (hand forward, each energy term
with its SDF queries, the Adam update) timed in isolation, the stages of one ``optimize`` call,
and the quality filter per grasp (penetration + contact, V-HACD per object, simulation).

    python benchmarks/grasps_profile.py [--family mug] [--batch 16] [--presets v1 default]

Prints the tables and writes JSON to ``--out`` (default ``benchmarks/results/grasps_profile.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from grasps import PRESETS, preset_config  # noqa: E402


def _best_time(fn, *args, repeats: int = 30) -> float:
    """Fastest wall time (s) of a jitted call after a warm-up (compile) call: the least disturbed
    by other processes on shared cores."""
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times)


def profile(batch: int, family: str, presets: list[str], seed: int, filter_grasps: int) -> dict:
    """Where the optimiser and the filter spend their time: jitted pieces timed in isolation
    (fastest of repeated calls after compilation, so other processes on the cores inflate them
    least), then the stages of one ``optimize`` call, then the filter per grasp."""

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from mgd_jax import evaluators, grasps, hand
    from mgd_jax.evaluators import cache as cache_lib
    from mgd_jax.evaluators import meshes as meshes_lib
    from mgd_jax.evaluators import simulation
    from mgd_jax.evaluators.protocol import SimulationParams
    from mgd_jax.grasps import energy as energy_lib
    from mgd_jax.objects import sampling, sdf_grid, sdf_mesh

    opt = importlib.import_module("mgd_jax.grasps.optimize")
    model = hand.load(None)
    spec, mesh = sdf_mesh.sample_object(family, seed, random_rotation=True)
    points = jnp.asarray(sampling.sample_points(mesh, 512, seed=seed), jnp.float32)
    sdf_proc = grasps.procedural_sdf(spec)
    sdf_mesh_grid = grasps.grid_sdf(sdf_grid.build_sdf_grid(mesh))
    result: dict = {"batch": batch, "family": family, "presets": {}}
    for name in presets:
        config = preset_config(name)
        proxies = grasps.proxies_for(model, config)
        key = jax.random.PRNGKey(seed)
        pose, trans = grasps.initial_grasps(proxies, points, key, batch, config, sdf_proc)
        params = opt._to_params(proxies.reduced, pose, trans)
        rows = {}

        @jax.jit
        def forward(p, proxies=proxies):
            return hand.forward(proxies.reduced, opt._to_pose(proxies.reduced, p),
                                p["trans"]).vertices  # fmt: skip

        @jax.jit
        def forward_grad(p):
            return jax.grad(lambda q: jnp.sum(forward(q) ** 2))(p)

        def term_grad(terms, proxies=proxies, config=config):
            def loss(q):
                pose_q = opt._to_pose(proxies.reduced, q)
                t = jax.vmap(energy_lib.energies, (None, 0, 0, None, None, None, None))(
                    proxies, pose_q, q["trans"], sdf_proc, points, config, terms)
                return jnp.sum(grasps.weighted_total(t, config))

            return jax.jit(jax.value_and_grad(loss))

        n_verts = int(proxies.reduced.v_template.shape[0])
        rows[f"hand forward, reduced model ({n_verts} vertices), value"] = _best_time(forward, params)
        rows[f"hand forward, reduced model ({n_verts} vertices), value + grad"] = _best_time(
            forward_grad, params)  # fmt: skip
        for term in grasps.TERMS:  # a term alone includes the forward pass it needs
            rows[f"forward + {term} (+ its SDF queries), value + grad"] = _best_time(
                term_grad((term,)), params)  # fmt: skip
        rows["forward + all terms, value + grad"] = _best_time(term_grad(grasps.TERMS), params)
        # The SDF alone at as many points as the energy queries (pads, palm, penetration set).
        n_pts = int(proxies.pad_ids.size + proxies.palm_ids.size
                    + proxies.energy_ids[: config.num_energy_vertices].size)  # fmt: skip
        query = points[jax.random.randint(jax.random.PRNGKey(1), (batch, n_pts), 0, len(points))]
        query = query + 0.01 * jax.random.normal(jax.random.PRNGKey(2), query.shape)
        for label, fn in (("procedural " + family, sdf_proc), ("mesh grid 64^3", sdf_mesh_grid)):
            rows[f"SDF {label}, {n_pts} points/grasp, value"] = _best_time(
                jax.jit(jax.vmap(fn)), query)  # fmt: skip
            rows[f"SDF {label}, {n_pts} points/grasp, value + grad"] = _best_time(
                jax.jit(jax.vmap(jax.grad(lambda q, f=fn: jnp.sum(f(q))))), query)  # fmt: skip
        adam = optax.scale_by_adam()
        rows["Adam update"] = _best_time(jax.jit(adam.update), params, adam.init(params))
        # A whole step inside the optimiser's scan (noise, clamp, best iterate included).
        single = dataclasses.replace(config, oversample=1, final_close=False)
        steps = 40
        run = lambda c=single, pr=proxies, po=pose, tr=trans: opt.run_adam(  # noqa: E731
            pr, po, tr, sdf_proc, points, key, c, steps, jnp.array(False), po.shape[0])
        rows["optimiser step (scan of the above)"] = _best_time(run, repeats=5) / steps
        # One optimize() call of `batch` grasps, stage by stage.
        k_init, k_run = jax.random.split(key)
        num_init = batch * config.oversample
        init = lambda c=config, pr=proxies: grasps.initial_grasps(  # noqa: E731
            pr, points, k_init, num_init, c, sdf_proc)
        stages = {f"pre-grasps ({num_init}{', closing in' if config.init_close else ''})":
                  _best_time(init, repeats=5)}  # fmt: skip
        pose0, trans0 = init()
        full = lambda c=config, pr=proxies: opt.run_adam(  # noqa: E731
            pr, pose0, trans0, sdf_proc, points, k_run, c, c.steps, jnp.array(False), batch)
        stages[f"optimisation ({config.steps} steps"
               + (f", best {batch} of {num_init} kept" if config.oversample > 1 else "")
               + (", final close" if config.final_close else "") + ")"] = _best_time(full, repeats=3)
        total = lambda c=config, pr=proxies: grasps.optimize(  # noqa: E731
            pr, sdf_proc, points, key, batch, c).pose
        stages["optimize() in all"] = _best_time(total, repeats=3)
        result["presets"][name] = {"per_step_ms": {k: 1e3 * v for k, v in rows.items()},
                                   "per_call_ms": {k: 1e3 * v for k, v in stages.items()},
                                   "grasps_per_s": batch / stages["optimize() in all"]}  # fmt: skip
        print(f"\n{name}: ms per optimiser step at batch {batch} ({family})")
        for k, v in rows.items():
            print(f"  {k:66s} {1e3 * v:8.2f}")
        print(f"{name}: one optimize() call of {batch} grasps, ms")
        for k, v in stages.items():
            print(f"  {k:66s} {1e3 * v:8.1f}")
    # The filter, per grasp: its three tests and the object's convex decomposition (per object).
    config = preset_config(presets[0])
    proxies = grasps.proxies_for(model, config)
    out = grasps.optimize(proxies, sdf_proc, points, jax.random.PRNGKey(seed), filter_grasps, config)
    verts = np.asarray(hand.forward(model, out.pose, out.trans).vertices)
    weights = np.asarray(model.weights)
    hands, objs = meshes_lib.validate_pairs([(v, model.faces_np) for v in verts], [mesh] * len(verts))
    fil = {}
    t0 = time.perf_counter()
    evaluators.evaluate_meshes(hands, objs, metrics=("penetration", "contact"), progress=False,
                               finger_labels=evaluators.finger_labels_from_weights(weights))  # fmt: skip
    fil["penetration + contact, per grasp"] = (time.perf_counter() - t0) / len(verts)
    params = SimulationParams()
    cache = cache_lib.Cache()
    t0 = time.perf_counter()
    pieces = simulation.object_pieces(objs[0], params, cache)
    fil["simulation: object convex decomposition (V-HACD), per object"] = time.perf_counter() - t0
    labels = evaluators.part_labels_from_weights(weights)
    for shape in dict.fromkeys([params.hand_shape, "part_hulls", "shell"]):
        p = dataclasses.replace(params, hand_shape=shape)
        t0 = time.perf_counter()
        for h in hands:
            simulation.simulate_displacement_m(simulation.hand_pieces(h, p, labels), pieces, p,
                                               objs[0].vertices.mean(axis=0))  # fmt: skip
        fil[f"simulation: hand '{shape}' + MuJoCo run, per grasp"] = (
            (time.perf_counter() - t0) / len(verts))
    result["filter_s"] = fil
    print(f"\nfilter ({family}, {len(verts)} grasps; default hand shape '{params.hand_shape}'):")
    for k, v in fil.items():
        print(f"  {k:60s} {v:8.3f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="mug")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--filter_grasps", type=int, default=8)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks/results/grasps_profile.json"))
    args = parser.parse_args()
    import jax

    result = profile(args.batch, args.family, args.presets, args.seed, args.filter_grasps)
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "backend": jax.default_backend()}  # fmt: skip
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
