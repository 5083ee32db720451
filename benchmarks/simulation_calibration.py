"""Simulation displacement: MuJoCo (ours) against PyBullet (the published ObMan/GraspTTA test).

    .venv/bin/pip install -e .[pybullet]
    .venv/bin/python benchmarks/simulation_calibration.py grasps     # synthesise the grasp set
    .venv/bin/python benchmarks/simulation_calibration.py compare    # simulate it every way

``grasps`` synthesises grasps on procedural objects (``grasps.synthesize``, one random-rotated
object per seed, ``--objects_per_family`` per family) and sorts them into three sets:

- ``ground_truth``: optimiser outputs the quality filter's *geometric* tests accept
  (penetration < 0.5 cm, thumb + two fingers in contact; ``grasps.filter_grasps`` with
  ``simulate=False``: the filter's simulation test is one of the things being compared);
- ``generated``: raw optimiser outputs, not filtered: the outputs of the run above that those
  tests reject, plus ``--generated_per_object`` grasps per object from a short run
  (``--generated_steps`` Adam steps instead of ``--steps``), which, like a generative model's
  samples, are near the object but not converged;
- ``perturbed``: one random perturbation of each accepted grasp, alternately a translation of
  0.5-2 cm in a random direction or a rotation of 5-20 degrees about a random axis through the
  wrist (the global orientation).

It stores the poses, translations and object seeds in ``--grasps_file`` (an .npz).

``compare`` evaluates ``sim_displacement_cm`` of ``--max_per_set`` grasps of each set (a fixed
random subset; 100 -> 300 grasps) with PyBullet (the reference, the published protocol) and each
MuJoCo variant (``variants()``), plus checks (``DIAGNOSTIC``: MuJoCo on PyBullet's object hulls;
``JITTER``: the hand moved 0.1 mm), and prints per variant the mean and median displacement,
the stable rate (< 2 cm), Pearson and Spearman correlation with PyBullet over grasps, the
agreement of the stable/unstable call with PyBullet's, the mean absolute difference and the
seconds per grasp; overall and per set; and which row is ``SimulationParams()``, the default.
JSON (with every grasp's numbers) to ``--out`` (default
``benchmarks/results/simulation_calibration.json``). On the 2-core machine: ``grasps`` ~8 min,
``compare`` ~10-13 min with 2 workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FAMILIES = ("box", "cylinder", "sphere", "capsule", "ellipsoid", "cone", "torus", "mug", "bottle",
            "bowl", "union")  # fmt: skip
DEFAULT_GRASPS = os.path.join(ROOT, "benchmarks", "out", "simulation_calibration_grasps.npz")
SETS = ("ground_truth", "generated", "perturbed")


def _object(family: str, seed: int):
    from mgd_jax.objects import sdf_mesh

    return sdf_mesh.sample_object(family, seed, random_rotation=True)


def make_grasps(families, objects_per_family: int, grasps_per_object: int, steps: int,
                generated_per_object: int, generated_steps: int, seed: int, path: str) -> dict:
    from scipy.spatial.transform import Rotation

    from mgd_jax import grasps, hand

    model = hand.load(None)
    proxies = grasps.build_proxies(model)
    config = grasps.GraspConfig(steps=steps)
    short = grasps.GraspConfig(steps=generated_steps)
    rng = np.random.default_rng(seed)
    pose, trans, obj_family, obj_seed, kind = [], [], [], [], []
    t0 = time.perf_counter()
    for f_i, family in enumerate(families):
        for k in range(objects_per_family):
            oseed = 1000 * f_i + k
            spec, mesh = _object(family, oseed)
            p, t, _ = grasps.synthesize(proxies, spec, grasps_per_object, seed=oseed, config=config)
            keep, _ = grasps.filter_grasps(model, p, t, mesh, simulate=False)
            for i in range(len(p)):
                pose.append(p[i]), trans.append(t[i])
                obj_family.append(family), obj_seed.append(oseed)
                kind.append("ground_truth" if keep[i] else "generated")
            for i in np.flatnonzero(keep):  # one perturbation of each accepted grasp
                q, u = p[i].copy(), t[i].copy()
                if len(kind) % 2:
                    d = rng.normal(size=3)
                    u = u + rng.uniform(0.005, 0.02) * d / np.linalg.norm(d)
                else:
                    axis = rng.normal(size=3)
                    angle = np.deg2rad(rng.uniform(5.0, 20.0))
                    r = Rotation.from_rotvec(angle * axis / np.linalg.norm(axis))
                    q[0] = (r * Rotation.from_rotvec(q[0])).as_rotvec()
                pose.append(q), trans.append(u)
                obj_family.append(family), obj_seed.append(oseed)
                kind.append("perturbed")
            p, t, _ = grasps.synthesize(proxies, spec, generated_per_object, seed=oseed + 500,
                                        config=short)  # fmt: skip
            for i in range(len(p)):
                pose.append(p[i]), trans.append(t[i])
                obj_family.append(family), obj_seed.append(oseed)
                kind.append("generated")
            print(f"{family} seed {oseed}: {int(keep.sum())}/{grasps_per_object} accepted "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez(path, pose=np.asarray(pose, np.float32), trans=np.asarray(trans, np.float32),
             family=np.asarray(obj_family), seed=np.asarray(obj_seed),
             kind=np.asarray(kind))  # fmt: skip
    counts = {s: int(np.sum(np.asarray(kind) == s)) for s in SETS}
    print(f"wrote {path}: {counts} ({time.perf_counter() - t0:.0f} s)")
    return counts


def variants() -> dict:
    """name -> SimulationParams. "pybullet" is the reference (the published test); "mujoco
    part_hulls" and "mujoco vhacd" are what the entry points used before this calibration (bone
    hulls with part labels, V-HACD without); the rest are candidates: the hand as a thin shell
    of triangle prisms, Bullet's friction rule (3 * 3 = 9), 1-2 mm contact margins, an elliptic
    cone, softer contacts, Bullet's mass properties of the object ("bullet inertia")."""
    from mgd_jax.evaluators import SimulationParams

    old = SimulationParams(hand_shape="part_hulls", friction_combine="max", contact_margin_m=0.0,
                           friction_cone="pyramidal", object_inertia="uniform")  # before
    rep = dataclasses.replace
    out = {"pybullet": SimulationParams(simulator="pybullet")}
    for shape in ("part_hulls", "vhacd", "shell"):
        base = rep(old, hand_shape=shape)
        out[f"mujoco {shape}"] = base
        out[f"mujoco {shape}, friction 9"] = rep(base, friction_combine="product")
        out[f"mujoco {shape}, margin 1 mm"] = rep(base, contact_margin_m=0.001)
        out[f"mujoco {shape}, friction 9, margin 1 mm"] = rep(base, friction_combine="product",
                                                              contact_margin_m=0.001)  # fmt: skip
    shell9 = rep(old, hand_shape="shell", friction_combine="product")
    soft = dict(contact_timeconst_steps=4.8, contact_solimp=(0.9, 0.95, 0.001))
    out["mujoco shell, friction 9, margin 2 mm"] = rep(shell9, contact_margin_m=0.002)
    out["mujoco shell, friction 9, elliptic"] = rep(shell9, friction_cone="elliptic")
    out["mujoco shell, friction 9, soft"] = rep(shell9, **soft)
    # Bullet's mass properties of the object.
    for shape in ("part_hulls", "vhacd", "shell"):
        base = rep(old, hand_shape=shape, object_inertia="bullet")
        out[f"mujoco {shape}, bullet inertia"] = base
        out[f"mujoco {shape}, friction 9, bullet inertia"] = rep(base, friction_combine="product")
    out["mujoco part_hulls, soft, bullet inertia"] = rep(old, object_inertia="bullet", **soft)
    out["mujoco shell, soft, bullet inertia"] = rep(old, hand_shape="shell",
                                                    object_inertia="bullet", **soft)  # fmt: skip
    out["mujoco shell, friction 9, soft, bullet inertia"] = rep(shell9, object_inertia="bullet",
                                                                **soft)  # fmt: skip
    out["mujoco shell, friction 9, margin 1 mm, bullet inertia"] = rep(
        shell9, contact_margin_m=0.001, object_inertia="bullet")
    return out


def _geometry_key(p) -> tuple:
    """Settings that change the MuJoCo model's geometry (the rest is set per run)."""
    return (p.hand_shape, p.hand_shell_thickness_m, p.hand_vhacd_resolution,
            p.hand_vhacd_max_hulls, p.vhacd_max_vertices_per_hull, p.object_vhacd_resolution,
            p.vhacd_max_hulls, p.condim, p.object_mass_kg, p.object_inertia)  # fmt: skip


DIAGNOSTIC = {  # MuJoCo runs on PyBullet's object hulls (V-HACD 2.2 at 1000): which part of the
    # difference comes from the object's decomposition
    "mujoco part_hulls, PyBullet's object hulls": "mujoco part_hulls",
    "mujoco shell, friction 9, PyBullet's object hulls": "mujoco shell, friction 9",
    "mujoco shell, friction 9, bullet inertia, PyBullet's object hulls":
        "mujoco shell, friction 9, bullet inertia",
    "mujoco part_hulls, bullet inertia, PyBullet's object hulls":
        "mujoco part_hulls, bullet inertia",
}  # fmt: skip


JITTER = {  # the same test with the hand moved 0.1 mm: how reproducible one grasp's number is
    "pybullet, hand moved 0.1 mm": "pybullet",
    "mujoco part_hulls, friction 9, bullet inertia, hand moved 0.1 mm":
        "mujoco part_hulls, friction 9, bullet inertia",
    "mujoco shell, friction 9, soft, bullet inertia, hand moved 0.1 mm":
        "mujoco shell, friction 9, soft, bullet inertia",
}  # fmt: skip
_JITTER_M = 1e-4 * np.ones(3) / np.sqrt(3.0)


def _pybullet_object_pieces(obj, cache):
    """PyBullet's V-HACD hulls of ``obj`` (in the object's frame) as MuJoCo pieces."""
    from mgd_jax.evaluators import decomposition, pybullet_sim

    blocks, verts = [], None
    for line in pybullet_sim.object_vhacd_obj(obj, cache).splitlines():
        if line.startswith("o "):
            verts = []
            blocks.append(verts)
        elif line.startswith("v ") and verts is not None:
            verts.append([float(x) for x in line.split()[1:4]])
    centre = obj.vertices.mean(axis=0)
    pieces = [decomposition.hull(np.asarray(b) + centre) for b in blocks if len(b) >= 4]
    return [p for p in pieces if p is not None]


def _simulate_chunk(task):
    """Worker: every variant on a chunk of grasps of one object (one shared object cache).

    MuJoCo variants that share their geometry share one compiled model per grasp; each runs
    with its own ``simulation.set_contact`` (``tests/test_evaluators_simulation.py`` checks that
    this equals a fresh ``simulation.displacement_m``). The objects' decompositions are built
    first and timed apart (``object_s``); seconds per grasp include building the hand pieces
    and the model (once per geometry group, counted in each of its variants).
    """
    ids, hands, obj, labels, params = task
    from mgd_jax.evaluators import Cache, as_mesh, pybullet_sim, simulation

    cache = Cache()
    obj = as_mesh(obj)
    disp = {n: [] for n in params}
    secs = {n: [] for n in params}
    groups: dict[tuple, list[str]] = {}
    for n, p in params.items():
        if p.simulator == "mujoco" and n not in JITTER:
            key = (_geometry_key(p), n in DIAGNOSTIC)
            groups.setdefault(key, []).append(n)
    t0 = time.perf_counter()
    object_pieces = {}
    for key, names in groups.items():
        p0 = params[names[0]]
        object_pieces[key] = (_pybullet_object_pieces(obj, cache) if key[1]
                              else simulation.object_pieces(obj, p0, cache))  # fmt: skip
    pybullet_sim.object_vhacd_obj(obj, cache)
    object_s = time.perf_counter() - t0
    for h in hands:
        h = as_mesh(h)
        for n, p in params.items():
            if p.simulator == "pybullet" or n in JITTER:
                moved = as_mesh((h.vertices + _JITTER_M, h.faces)) if n in JITTER else h
                t0 = time.perf_counter()
                disp[n].append(100.0 * simulation.displacement_m(moved, obj, p, labels, cache))
                secs[n].append(time.perf_counter() - t0)
        hand_pieces = {}  # per hand shape: shared by the groups (same pieces, same seconds)
        for key, names in groups.items():
            p0 = params[names[0]]
            shape = (p0.hand_shape, p0.hand_shell_thickness_m, p0.hand_vhacd_resolution,
                     p0.hand_vhacd_max_hulls, p0.vhacd_max_vertices_per_hull)  # fmt: skip
            if shape not in hand_pieces:
                t0 = time.perf_counter()
                hand_pieces[shape] = (simulation.hand_pieces(h, p0, labels),
                                      time.perf_counter() - t0)  # fmt: skip
            t0 = time.perf_counter()
            model = simulation.build_model(hand_pieces[shape][0], object_pieces[key], p0,
                                           obj.vertices.mean(axis=0))  # fmt: skip
            build = time.perf_counter() - t0 + hand_pieces[shape][1]
            for n in names:
                t0 = time.perf_counter()
                simulation.set_contact(model, params[n])
                disp[n].append(100.0 * simulation.run_model(model, params[n]))
                secs[n].append(build + time.perf_counter() - t0)
    return ids, {n: (disp[n], secs[n]) for n in params}, object_s


def _stats(x: np.ndarray, ref: np.ndarray, threshold: float) -> dict:
    from scipy import stats

    return {
        "n": int(len(x)),
        "mean_cm": float(np.mean(x)),
        "median_cm": float(np.median(x)),
        "stable_rate": float(np.mean(x < threshold)),
        "pearson": float(stats.pearsonr(x, ref)[0]) if np.std(x) > 0 and np.std(ref) > 0 else 1.0,
        "spearman": float(stats.spearmanr(x, ref)[0]) if np.std(x) > 0 and np.std(ref) > 0
        else 1.0,
        "stable_agreement": float(np.mean((x < threshold) == (ref < threshold))),
        "mean_abs_diff_cm": float(np.mean(np.abs(x - ref))),
    }


def compare(path: str, names, workers: int, max_per_set: int, seed: int) -> dict:
    import multiprocessing

    import jax.numpy as jnp

    from mgd_jax import evaluators, hand

    data = dict(np.load(path))
    kind = data["kind"]
    rng = np.random.default_rng(seed)
    pick = []
    for s in SETS:  # at most max_per_set grasps of each set, a fixed random subset
        ids = np.flatnonzero(kind == s)
        pick += sorted(rng.permutation(ids)[:max_per_set].tolist())
    pick = np.asarray(sorted(pick))
    model = hand.load(None)
    posed = hand.forward(model, jnp.asarray(data["pose"][pick]), jnp.asarray(data["trans"][pick]))
    verts = np.asarray(posed.vertices, np.float64)
    faces = np.asarray(model.faces_np)
    labels = evaluators.part_labels_from_weights(np.asarray(model.weights))
    all_params = variants()
    all_params.update({d: all_params[base] for d, base in DIAGNOSTIC.items()})
    all_params.update({d: all_params[base] for d, base in JITTER.items()})
    params = {n: all_params[n] for n in (names or all_params)}
    params.setdefault("pybullet", all_params["pybullet"])
    objects, tasks = {}, []
    for j, i in enumerate(pick):
        key = (str(data["family"][i]), int(data["seed"][i]))
        objects.setdefault(key, []).append(j)
    chunk = max(1, -(-len(pick) // (3 * workers)))
    for (family, oseed), js in objects.items():
        mesh = _object(family, oseed)[1]
        obj = (np.asarray(mesh.vertices), np.asarray(mesh.faces))
        for s in range(0, len(js), chunk):
            part = js[s : s + chunk]
            tasks.append((part, [(verts[j], faces) for j in part], obj, labels, params))
    disp = {n: np.zeros(len(pick)) for n in params}
    secs = {n: np.zeros(len(pick)) for n in params}
    t0 = time.perf_counter()
    done = 0
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        object_s = 0.0
        for ids, out, obj_s in pool.imap_unordered(_simulate_chunk, tasks):
            object_s += obj_s
            for n, (d, t) in out.items():
                disp[n][ids], secs[n][ids] = d, t
            done += len(ids)
            print(f"  {done}/{len(pick)} grasps ({time.perf_counter() - t0:.0f} s)", flush=True)
    threshold = all_params["pybullet"].stable_threshold_cm
    ref = disp["pybullet"]
    kinds = kind[pick]
    table = {}
    for n in params:
        table[n] = {"all": _stats(disp[n], ref, threshold),
                    "seconds_per_grasp": float(np.mean(secs[n]))}  # fmt: skip
        for s in SETS:
            m = kinds == s
            table[n][s] = _stats(disp[n][m], ref[m], threshold)
    print(f"\n{len(pick)} grasps ({', '.join(f'{s} {int(np.sum(kinds == s))}' for s in SETS)}), "
          f"{len(objects)} objects; stable = displacement < {threshold} cm; r and agreement "
          "against PyBullet\n")  # fmt: skip
    print("| simulator, hand | mean cm | median cm | stable | Pearson r | Spearman r | "
          "stable call agrees | mean abs diff cm | s/grasp |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for n, row in table.items():
        a = row["all"]
        print(f"| {n} | {a['mean_cm']:.2f} | {a['median_cm']:.2f} | {100 * a['stable_rate']:.0f}% "
              f"| {a['pearson']:.3f} | {a['spearman']:.3f} | {100 * a['stable_agreement']:.1f}% "
              f"| {a['mean_abs_diff_cm']:.2f} | {row['seconds_per_grasp']:.3f} |")  # fmt: skip
    from mgd_jax.evaluators import SimulationParams

    default = [n for n, p in params.items()
               if p == SimulationParams() and n not in JITTER and n not in DIAGNOSTIC]
    print(f"\nSimulationParams() (the default) is: {', '.join(default) or 'none of these rows'}")
    for s in SETS:
        print(f"\n{s}:\n| simulator, hand | mean cm | median cm | stable | Pearson r | "
              "Spearman r | stable call agrees |\n|---|---|---|---|---|---|---|")  # fmt: skip
        for n, row in table.items():
            a = row[s]
            print(f"| {n} | {a['mean_cm']:.2f} | {a['median_cm']:.2f} | "
                  f"{100 * a['stable_rate']:.0f}% | {a['pearson']:.3f} | {a['spearman']:.3f} | "
                  f"{100 * a['stable_agreement']:.1f}% |")  # fmt: skip
    return {
        "grasps_file": os.path.relpath(path, ROOT),
        "num_grasps": int(len(pick)),
        "sets": {s: int(np.sum(kinds == s)) for s in SETS},
        "default_rows": default,
        "objects": len(objects),
        "stable_threshold_cm": threshold,
        "variants": {n: dataclasses.asdict(p) for n, p in params.items()},
        "table": table,
        "per_grasp": {"kind": kinds.tolist(), "family": data["family"][pick].tolist(),
                      "seed": data["seed"][pick].tolist(),
                      "displacement_cm": {n: d.tolist() for n, d in disp.items()}},  # fmt: skip
        "object_precomputation_s": object_s,
        "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("grasps", "compare"))
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--objects_per_family", type=int, default=2)
    parser.add_argument("--grasps_per_object", type=int, default=12)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--generated_per_object", type=int, default=6)
    parser.add_argument("--generated_steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grasps_file", default=DEFAULT_GRASPS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=None)
    parser.add_argument("--max_per_set", type=int, default=100)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.mode == "grasps":
        make_grasps(args.families, args.objects_per_family, args.grasps_per_object, args.steps,
                    args.generated_per_object, args.generated_steps, args.seed,
                    args.grasps_file)  # fmt: skip
        return
    result = compare(args.grasps_file, args.variants, args.workers, args.max_per_set, args.seed)
    import mujoco
    import pybullet

    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "mujoco": mujoco.__version__,
                         "pybullet": pybullet.getAPIVersion()}  # fmt: skip
    out = args.out or os.path.join(ROOT, "benchmarks", "results", "simulation_calibration.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
