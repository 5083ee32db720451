"""Hand forward (vertices + joints) throughput: JAX (jitted) vs a straightforward PyTorch CPU layer
and vs the reference layer ``smplx.MANO``.

    python benchmarks/hand_forward.py [--batches 1 64 1024 8192] [--repeats 20]
        [--out benchmarks/results/hand_forward.json]

Two models: the procedural hand and a random MANO-format model of MANO's size (778 vertices,
1538 faces, non-zero pose correctives). Timings are the median over repeats after warm-up, with
the compile time reported separately. The PyTorch and smplx columns run only if torch / smplx are
importable (both come with the test extra, ``pip install -e ".[test]"``; neither is a runtime
dependency of mgd_jax). ``smplx.MANO`` (CPU, float32, ``use_pca=False, flat_hand_mean=True``,
``torch.no_grad``) loads each model from a MANO-format pickle written to a temporary folder; it
returns the 16 kinematic joints (no fingertips) and always applies the shape blend (betas zero).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pickle
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from mgd_jax import hand
from mgd_jax.hand import fixtures


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_jax(model, batch: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    pose = jnp.asarray(rng.normal(0, 0.5, size=(batch, 16, 3)), jnp.float32)
    trans = jnp.asarray(rng.normal(0, 0.1, size=(batch, 3)), jnp.float32)
    fwd = jax.jit(hand.forward)
    t0 = time.perf_counter()
    jax.block_until_ready(fwd(model, pose, trans))
    compile_s = time.perf_counter() - t0
    seconds = _time(lambda: jax.block_until_ready(fwd(model, pose, trans)), repeats)
    return {"compile_s": compile_s, "seconds": seconds, "hands_per_s": batch / seconds}


def _torch_layer(model):
    """The same math as specs/mano.md, written the way PyTorch MANO layers usually are."""
    import torch

    t = {k: torch.as_tensor(np.asarray(getattr(model, k)), dtype=torch.float32)
         for k in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights")}  # fmt: skip
    parents = model.parents
    tips = list(model.tip_vertex_ids)
    posedirs = t["posedirs"].reshape(-1, 135).T  # (135, V*3)

    def rodrigues(r):
        angle = torch.norm(r + 1e-8, dim=-1, keepdim=True)
        axis = r / angle
        cos, sin = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
        x, y, z = axis.unbind(-1)
        zero = torch.zeros_like(x)
        k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(r.shape[:-1] + (3, 3))
        eye = torch.eye(3).expand_as(k)
        return eye + sin * k + (1 - cos) * (k @ k)

    @torch.no_grad()
    def forward(pose, trans):
        b = pose.shape[0]
        v_shaped = t["v_template"].expand(b, -1, -1)
        joints = torch.einsum("jv,bvc->bjc", t["j_regressor"], v_shaped)
        rot = rodrigues(pose)
        feat = (rot[:, 1:] - torch.eye(3)).reshape(b, -1)
        v_posed = v_shaped + (feat @ posedirs).reshape(b, -1, 3)
        results = []
        for k in range(16):
            local = torch.cat([rot[:, k], (joints[:, k] if parents[k] < 0 else
                              joints[:, k] - joints[:, parents[k]])[..., None]], -1)  # fmt: skip
            local = torch.cat([local, torch.tensor([0, 0, 0, 1.0]).expand(b, 1, 4)], 1)
            results.append(local if parents[k] < 0 else results[parents[k]] @ local)
        glob = torch.stack(results, 1)
        posed_joints = glob[:, :, :3, 3]
        rest = torch.einsum("bjik,bjk->bji", glob[:, :, :3, :3], joints)
        rel = glob[:, :, :3].clone()
        rel[..., 3] -= rest
        blend = torch.einsum("vj,bjm->bvm", t["weights"], rel.reshape(b, 16, 12)).reshape(b, -1, 3, 4)
        verts = torch.einsum("bvik,bvk->bvi", blend[..., :3], v_posed) + blend[..., 3]
        verts = verts + trans[:, None]
        return verts, torch.cat([posed_joints + trans[:, None], verts[:, tips]], 1)

    return forward


def _bench_torch_layer(layer, batch: int, repeats: int) -> dict:
    """Hands/s of a torch layer ``(pose (B, 16, 3), trans (B, 3)) -> ...`` on random inputs."""
    import torch

    rng = np.random.default_rng(0)
    pose = torch.as_tensor(rng.normal(0, 0.5, size=(batch, 16, 3)), dtype=torch.float32)
    trans = torch.as_tensor(rng.normal(0, 0.1, size=(batch, 3)), dtype=torch.float32)
    layer(pose, trans)
    seconds = _time(lambda: layer(pose, trans), repeats)
    return {"seconds": seconds, "hands_per_s": batch / seconds}


def bench_torch(model, batch: int, repeats: int) -> dict:
    return _bench_torch_layer(_torch_layer(model), batch, repeats)


def write_mano_pickle(model, folder: str) -> str:
    """Write ``model`` as ``folder/MANO_RIGHT.pkl`` in the official field layout (plain numpy,
    CSC ``J_regressor``, uint32 kintree/faces), the file ``smplx.MANO`` reads."""
    import scipy.sparse

    parents = [p if p >= 0 else 4294967295 for p in model.parents]
    data = {
        "v_template": np.asarray(model.v_template, np.float64),
        "shapedirs": np.asarray(model.shapedirs, np.float64),
        "posedirs": np.asarray(model.posedirs, np.float64),
        "J_regressor": scipy.sparse.csc_matrix(np.asarray(model.j_regressor, np.float64)),
        "weights": np.asarray(model.weights, np.float64),
        "kintree_table": np.array([parents, list(range(len(parents)))], np.uint32),
        "f": np.asarray(model.faces).astype(np.uint32),
        "hands_components": np.asarray(model.hands_components, np.float64),
        "hands_mean": np.asarray(model.hands_mean, np.float64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    path = os.path.join(folder, "MANO_RIGHT.pkl")
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)
    return path


def _smplx_layer(mano_dir: str, batch: int):
    """``smplx.MANO`` on the pickle in ``mano_dir``: (pose (B, 16, 3), trans (B, 3)) -> vertices."""
    import contextlib
    import io

    import smplx
    import torch

    with contextlib.redirect_stdout(io.StringIO()):  # its "only 10 shape coefficients" notice
        layer = smplx.MANO(model_path=mano_dir, is_rhand=True, use_pca=False,
                           flat_hand_mean=True, batch_size=batch)  # fmt: skip
    betas = torch.zeros(batch, 10)

    @torch.no_grad()
    def forward(pose, trans):
        out = layer(global_orient=pose[:, 0], hand_pose=pose[:, 1:].reshape(-1, 45),
                    betas=betas[: pose.shape[0]], transl=trans)  # fmt: skip
        return out.vertices, out.joints

    return forward


def bench_smplx(mano_dir: str, batch: int, repeats: int) -> dict:
    return _bench_torch_layer(_smplx_layer(mano_dir, batch), batch, repeats)


def check_smplx_agrees(model, mano_dir: str) -> float:
    """Max vertex difference (meters) between ours and smplx.MANO on one random batch."""
    import torch

    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.5, size=(8, 16, 3)).astype(np.float32)
    trans = rng.normal(0, 0.1, size=(8, 3)).astype(np.float32)
    verts, _ = _smplx_layer(mano_dir, 8)(torch.as_tensor(pose), torch.as_tensor(trans))
    ours = hand.forward(model, pose, trans).vertices
    return float(np.max(np.abs(np.asarray(ours) - verts.numpy())))


def check_torch_agrees(model) -> float:
    """Max vertex difference (meters) between the two implementations on one random batch."""
    import torch

    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.5, size=(8, 16, 3)).astype(np.float32)
    trans = rng.normal(0, 0.1, size=(8, 3)).astype(np.float32)
    verts, _ = _torch_layer(model)(torch.as_tensor(pose), torch.as_tensor(trans))
    ours = hand.forward(model, pose, trans).vertices
    return float(np.max(np.abs(np.asarray(ours) - verts.numpy())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024, 8192])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/hand_forward.json")
    args = parser.parse_args()
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    try:
        import importlib.metadata

        import smplx  # noqa: F401

        smplx_version = importlib.metadata.version("smplx")
    except ImportError:
        smplx_version = None
    models = {
        "procedural": hand.load(None),
        "mano-format (random, 778 v)": hand.io.from_mano_arrays(
            fixtures.random_mano_arrays(0), "<random>", "right"
        ),
    }
    rows = []
    tmp = tempfile.TemporaryDirectory(prefix="hand_forward_")
    for i, (name, model) in enumerate(models.items()):
        agree = check_torch_agrees(model) if torch_version else None
        if smplx_version:  # smplx reads MANO_RIGHT.pkl from a folder, one folder per model
            mano_dir = os.path.join(tmp.name, f"model{i}")
            os.makedirs(mano_dir)
            write_mano_pickle(model, mano_dir)
            agree_smplx = check_smplx_agrees(model, mano_dir)
        for batch in args.batches:
            repeats = max(3, args.repeats if batch <= 1024 else args.repeats // 4)
            row = {"model": name, "vertices": model.num_vertices, "batch": batch}
            row["jax"] = bench_jax(model, batch, repeats)
            if torch_version:
                row["torch"] = bench_torch(model, batch, repeats)
                row["speedup"] = row["jax"]["hands_per_s"] / row["torch"]["hands_per_s"]
                row["max_vertex_diff_m"] = agree
            if smplx_version:
                row["smplx"] = bench_smplx(mano_dir, batch, repeats)
                row["speedup_smplx"] = row["jax"]["hands_per_s"] / row["smplx"]["hands_per_s"]
                row["max_vertex_diff_smplx_m"] = agree_smplx
            rows.append(row)
            print(f"{name:30s} batch {batch:5d}: jax {row['jax']['hands_per_s']:12,.0f} hands/s"
                  + (f"  torch {row['torch']['hands_per_s']:12,.0f} hands/s  x{row['speedup']:.1f}"
                     if torch_version else "")
                  + (f"  smplx {row['smplx']['hands_per_s']:12,.0f} hands/s  "
                     f"x{row['speedup_smplx']:.1f}" if smplx_version else ""),
                  flush=True)  # fmt: skip
    tmp.cleanup()
    meta = {
        "jax": jax.__version__,
        "torch": torch_version,
        "smplx": smplx_version,
        "device": str(jax.devices()[0]),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    print("\n| model | V | batch | JAX hands/s | JAX compile s | PyTorch hands/s | JAX / PyTorch "
          "| smplx.MANO hands/s | JAX / smplx |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        torch_cells = (f"{r['torch']['hands_per_s']:,.0f} | {r['speedup']:.1f}x" if "torch" in r
                       else "n/a | n/a")  # fmt: skip
        smplx_cells = (f"{r['smplx']['hands_per_s']:,.0f} | {r['speedup_smplx']:.1f}x"
                       if "smplx" in r else "n/a | n/a")  # fmt: skip
        print(f"| {r['model']} | {r['vertices']} | {r['batch']} | {r['jax']['hands_per_s']:,.0f} | "
              f"{r['jax']['compile_s']:.2f} | {torch_cells} | {smplx_cells} |")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"\nwrote {args.out}  ({meta})")


if __name__ == "__main__":
    main()
