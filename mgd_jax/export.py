"""Export a trained MGD run as an inference-only checkpoint that sampling loads on its own.

    python -m mgd_jax.export --workdir=runs/demo/mgd --out=exports/mgd_demo

The export folder holds

  params/        orbax checkpoint of ``{"mgd": EMA parameters, "point_vae": point-VAE EMA
                 parameters}`` (the frozen stage-1 VAE travels with the model)
  export.json    format version, the MGD run's config, the point VAE's architecture and
                 input scale, the hand model's name and fingerprint, the training step

``python -m mgd_jax.sample --checkpoint=exports/mgd_demo`` (or ``generate.Generator.load``) reads
it without the training workdir or the point-VAE workdir. Loading refuses a hand model whose
fingerprint differs from the one the model was trained with, and parameters whose shapes do not
match the stored config.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from mgd_jax import checkpoint, hand
from mgd_jax.mgd_task import FrozenPointVAE, load_point_vae, point_vae_from_section

logger = logging.getLogger(__name__)

FORMAT = "mgd_jax-export"
VERSION = 1
META = "export.json"
PARAMS = "params"


def _jsonable(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {str(k): _jsonable(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_jsonable(v) for v in tree]
    if isinstance(tree, (np.generic,)):
        return tree.item()
    return tree


def is_export(path: str) -> bool:
    """True when ``path`` is a folder written by :func:`export`."""
    return os.path.isfile(os.path.join(path, META))


def export(workdir: str, out: str, point_vae_workdir: str | None = None,
           mano_path: str | None = None, overwrite: bool = False) -> dict:  # fmt: skip
    """Write the inference checkpoint of the MGD run in ``workdir`` to ``out``.

    Args:
      workdir: an MGD training folder (``launch.py --workdir``), newest readable checkpoint used.
      out: the export folder (created; must not exist unless ``overwrite``).
      point_vae_workdir: overrides the run's ``config.point_vae.init``.
      mano_path: overrides the run's ``config.mano_path`` (must be the hand it trained with).
      overwrite: replace an existing export at ``out``.

    Returns:
      The metadata written to ``out/export.json``.

    Raises:
      FileNotFoundError / ValueError naming the folder when the run or its point VAE is missing
      or is not an MGD run; FileExistsError when ``out`` exists and ``overwrite`` is False.
    """
    params, run_config, step = checkpoint.load_trained(workdir)
    if run_config.get("model", {}).get("name") != "mgd":
        raise ValueError(f"{workdir} is not an MGD run (model.name="
                         f"'{run_config.get('model', {}).get('name')}'); export an MGD workdir")  # fmt: skip
    vae = load_point_vae(point_vae_workdir or run_config["point_vae"]["init"])
    mano = mano_path or run_config.get("mano_path") or None
    hand_model = hand.load(mano)
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not overwrite:
            raise FileExistsError(f"{out} exists; choose another --out or pass --overwrite")
        shutil.rmtree(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tree = {"mgd": params, "point_vae": jax.device_get(vae.params["params"])}
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.join(tmp, PARAMS), tree)
        ckptr.wait_until_finished()
    pv = vae.model
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "source_workdir": os.path.abspath(workdir),
        "config": _jsonable(run_config),
        "point_vae": {
            "channels": list(pv.channels),
            "resolutions": list(pv.resolutions),
            "latent_features": int(pv.latent_features),
            "backbone": pv.backbone,
            "conv_impl": pv.conv_impl,
            "input_scale": float(vae.input_scale),
            "source_workdir": os.path.abspath(vae.workdir),
        },
        "hand": {"name": hand_model.name, "fingerprint": hand.fingerprint(hand_model),
                 "mano_path": mano or ""},  # fmt: skip
        "units": "meters, object-centric frame (bounding-box centre at the origin)",
    }
    with open(os.path.join(tmp, META), "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, out)  # the export appears whole or not at all
    logger.info("exported %s (step %d) to %s", workdir, step, out)
    return meta


def read_meta(path: str) -> dict:
    """The metadata of an export folder, checked for format and version."""
    file = os.path.join(path, META)
    if not os.path.isfile(file):
        raise FileNotFoundError(
            f"{path} is not an mgd_jax export (no {META}); write one with "
            f"`python -m mgd_jax.export --workdir=<MGD run> --out={path}`"
        )
    try:
        with open(file) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{file} is unreadable ({e}); export the run again") from e
    if meta.get("format") != FORMAT:
        raise ValueError(f"{file}: format '{meta.get('format')}' is not '{FORMAT}'")
    if int(meta.get("version", -1)) > VERSION:
        raise ValueError(f"{file}: export version {meta.get('version')} is newer than this "
                         f"mgd_jax reads ({VERSION}); update mgd_jax")  # fmt: skip
    return meta


def _check_shapes(path: str, what: str, params: Any, expected: Any) -> None:
    got = {jax.tree_util.keystr(k): np.shape(v)
           for k, v in jax.tree_util.tree_leaves_with_path(params)}  # fmt: skip
    want = {jax.tree_util.keystr(k): tuple(v.shape)
            for k, v in jax.tree_util.tree_leaves_with_path(expected)}  # fmt: skip
    if got != want:
        missing = sorted(set(want) - set(got))[:3]
        extra = sorted(set(got) - set(want))[:3]
        shape = [f"{k}: {got[k]} vs config {want[k]}" for k in sorted(set(got) & set(want))
                 if got[k] != want[k]][:3]  # fmt: skip
        raise ValueError(
            f"{path}: the {what} parameters do not match the stored config (missing {missing}, "
            f"unexpected {extra}, shapes {shape}); the export and its export.json disagree, "
            "export the run again"
        )


def load(path: str, mano_path: str | None = None) -> tuple[dict, Any, FrozenPointVAE, hand.HandModel]:
    """Read an export: ``(meta, MGD variables {"params": ...}, frozen point VAE, hand model)``.

    Args:
      path: the export folder.
      mano_path: the MANO file to use; default the procedural hand when the model was trained
        with it, else the path recorded at export time.

    Raises:
      FileNotFoundError / ValueError naming the folder: not an export, unreadable or truncated
      parameters, a hand model other than the one trained with, parameters not matching the
      stored config.
    """
    from mgd_jax.models.mgd import MGD  # local: keeps `python -m mgd_jax.export --help` light

    import ml_collections

    meta = read_meta(path)
    recorded = meta["hand"]
    mano = mano_path or recorded.get("mano_path") or None
    if mano and not os.path.exists(mano):
        raise FileNotFoundError(
            f"{path} was trained with hand '{recorded['name']}' read from {mano}, which is not "
            "here; pass the same MANO file with --mano_path"
        )
    hand_model = hand.load(mano)
    if hand.fingerprint(hand_model) != recorded["fingerprint"]:
        raise ValueError(
            f"{path} was trained with hand '{recorded['name']}' (fingerprint "
            f"{recorded['fingerprint'][:12]}), but the hand given ('{hand_model.name}', "
            f"{hand.fingerprint(hand_model)[:12]}) differs; pass the MANO file it was trained "
            "with (--mano_path)"
        )
    try:
        with ocp.StandardCheckpointer() as ckptr:
            tree = ckptr.restore(os.path.abspath(os.path.join(path, PARAMS)))
    except Exception as e:  # orbax raises several types for missing/torn files
        raise ValueError(f"{path}: the parameters in {PARAMS}/ cannot be read "
                         f"({type(e).__name__}: {str(e)[:200]}); export the run again") from e  # fmt: skip
    config = ml_collections.ConfigDict(meta["config"])
    pv = meta["point_vae"]
    vae_model = point_vae_from_section(pv)
    vae = FrozenPointVAE(vae_model, {"params": jax.tree_util.tree_map(jnp.asarray, tree["point_vae"])},
                         float(pv["input_scale"]), path)  # fmt: skip
    n = int(config.mgd.num_points)
    pts = jax.ShapeDtypeStruct((1, n, 3), jnp.float32)
    key = jax.random.PRNGKey(0)
    vae_shapes = jax.eval_shape(lambda p: vae_model.init({"params": key, "latent": key}, p), pts)["params"]
    _check_shapes(path, "point VAE", tree["point_vae"], vae_shapes)
    model = MGD.from_config(config.mgd)
    mgd_shapes = jax.eval_shape(
        lambda: model.init(key, jnp.zeros((1, 16, 3)), jnp.zeros((1, 3)),
                           jnp.zeros((1, n, vae.point_dim)))  # fmt: skip
    )["params"]
    _check_shapes(path, "MGD", tree["mgd"], mgd_shapes)
    params = {"params": jax.tree_util.tree_map(jnp.asarray, tree["mgd"])}
    return meta, params, vae, hand_model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mgd_jax.export",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("--workdir", required=True, help="MGD training folder (launch.py --workdir)")
    p.add_argument("--out", required=True, help="export folder to write")
    p.add_argument("--point_vae", default=None, help="point-VAE workdir (default: the run's)")
    p.add_argument("--mano_path", default=None, help="MANO file (default: the run's hand)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    meta = export(args.workdir, args.out, args.point_vae, args.mano_path, args.overwrite)
    print(f"exported step {meta['step']} of {args.workdir} to {os.path.abspath(args.out)} "
          f"(hand {meta['hand']['name']}); sample with "
          f"`python -m mgd_jax.sample --checkpoint={args.out} --objects=<mesh> --out=<folder>`")  # fmt: skip
    return meta


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    logger.setLevel(logging.INFO)  # ours at INFO; orbax/absl chatter stays at WARNING
    try:
        main()
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
