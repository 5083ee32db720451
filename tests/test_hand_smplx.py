"""Conformance of ``mgd_jax.hand.forward`` with the reference layer ``smplx.MANO`` (smplx 0.1.28).

Both layers read the same MANO-format pickle: random values with MANO's sizes (778 vertices, 1538
faces, 16 joints, 10 betas, posedirs (778, 3, 135), CSC ``J_regressor`` (16, 778), weights
(778, 16), kintree_table, hands_components (45, 45), hands_mean (45,)), written as
``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` with plain numpy arrays (the official file's chumpy
``shapedirs`` would need chumpy in smplx, so it is a plain array here; ``test_hand_io`` covers the
chumpy form for our reader).

Input mapping, smplx -> ours (``model = hand.load(path)``):

  smplx.MANO(use_pca=True, num_pca_comps=n, flat_hand_mean=f)(
      global_orient=g (B, 3), hand_pose=c (B, n), betas=b (B, 10), transl=t (B, 3))
  == hand.forward(model, hand.full_pose(g, hand.pca_to_pose(model, c, flat_hand_mean=f)), t, b)

  smplx.MANO(use_pca=False, flat_hand_mean=f)(global_orient=g, hand_pose=h (B, 45), betas=b,
      transl=t)
  == hand.forward(model, hand.full_pose(g, h + (0 if f else model.hands_mean)), t, b)

smplx builds ``full_pose = [g, h or c @ hands_components[:n]] + [0, 0, 0, hands_mean or 0]``: with
``flat_hand_mean=False`` (smplx's default) it adds ``hands_mean`` to an explicit 45-D hand pose
too, not only to PCA poses. Our ``pose`` is that full pose, absolute (mean already added).

Joints: smplx 0.1.28's ``MANO.forward`` returns the 16 kinematic joints only (its fingertip
``VertexJointSelector`` call is commented out); those are compared with our joints 0-15. Our
joints 16-20 are the vertices ``model.tip_vertex_ids`` (745, 317, 444, 556, 673), compared with
smplx's vertices at the same ids. Should a smplx release append its own tips (vertex ids
``smplx.vertex_ids.vertex_ids['mano']``: 744, 320, 443, 554, 671, not ours), those are compared
with our vertices at smplx's ids.

smplx runs in float64 (its buffers are rounded to float32 on load, like ours); our layer runs in
float32. Tolerance: 1e-5 m on every coordinate.
"""

import contextlib
import io
import pickle

import numpy as np
import pytest
import smplx
import torch

from mgd_jax import hand
from mgd_jax.hand import fixtures

TOL_M = 1e-5
BATCH = 16
NUM_PCA = 12


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    """A folder with MANO_RIGHT.pkl and MANO_LEFT.pkl (random MANO-format models)."""
    root = tmp_path_factory.mktemp("mano_models")
    for name, seed in (("MANO_RIGHT.pkl", 0), ("MANO_LEFT.pkl", 1)):
        arrays = fixtures.random_mano_arrays(seed)  # plain numpy, J_regressor scipy CSC
        with open(root / name, "wb") as f:
            pickle.dump(arrays, f, protocol=2)  # the official file is a Python 2 pickle
    return root


def _smplx_mano(mano_dir, side, use_pca, flat_hand_mean):
    with contextlib.redirect_stdout(io.StringIO()):  # "only 10 shape coefficients" notice
        return smplx.MANO(
            model_path=str(mano_dir),
            is_rhand=side == "right",
            use_pca=use_pca,
            num_pca_comps=NUM_PCA,
            flat_hand_mean=flat_hand_mean,
            batch_size=BATCH,
            dtype=torch.float64,
        )


def _inputs(seed, use_pca):
    rng = np.random.default_rng(seed)
    inputs = {
        "global_orient": rng.normal(0.0, 1.0, size=(BATCH, 3)),
        "hand_pose": rng.normal(
            0.0, 1.0 if use_pca else 0.4, size=(BATCH, NUM_PCA if use_pca else 45)
        ),
        "betas": rng.normal(0.0, 1.0, size=(BATCH, 10)),
        "transl": rng.normal(0.0, 0.1, size=(BATCH, 3)),
    }
    for value in inputs.values():  # one hand at zero input: the rest pose, mean shape
        value[0] = 0.0
    return inputs


def _ours(model, inputs, use_pca, flat_hand_mean):
    """The mapping in the module docstring."""
    if use_pca:
        finger = hand.pca_to_pose(model, inputs["hand_pose"], flat_hand_mean=flat_hand_mean)
    else:
        finger = inputs["hand_pose"] + (0.0 if flat_hand_mean else np.asarray(model.hands_mean))
    pose = hand.full_pose(inputs["global_orient"], finger)
    out = hand.forward(model, pose, inputs["transl"], inputs["betas"])
    return np.asarray(out.vertices, np.float64), np.asarray(out.joints, np.float64)


def _reference(layer, inputs):
    with torch.no_grad():
        out = layer(**{k: torch.as_tensor(v, dtype=torch.float64) for k, v in inputs.items()})
    return out.vertices.numpy(), out.joints.numpy()


def compare(mano_dir, side, use_pca, flat_hand_mean, seed=0):
    """Max |ours - smplx| (meters) over vertices, the 16 joints and the 5 tips."""
    model = hand.load(mano_dir / f"MANO_{side.upper()}.pkl")
    assert model.side == side
    layer = _smplx_mano(mano_dir, side, use_pca, flat_hand_mean)
    inputs = _inputs(seed, use_pca)
    verts, joints = _ours(model, inputs, use_pca, flat_hand_mean)
    ref_verts, ref_joints = _reference(layer, inputs)
    assert verts.shape == ref_verts.shape == (BATCH, 778, 3)
    assert ref_joints.shape[1] >= 16 and joints.shape[1] == 21
    tips = list(model.tip_vertex_ids)
    errors = {
        "vertices": np.abs(verts - ref_verts).max(),
        "joints": np.abs(joints[:, :16] - ref_joints[:, :16]).max(),
        "tips": np.abs(joints[:, 16:21] - ref_verts[:, tips]).max(),
    }
    if ref_joints.shape[1] > 16:  # a smplx that appends its own fingertip vertices
        ids = list(smplx.vertex_ids.vertex_ids["mano"].values())
        errors["smplx_tips"] = np.abs(verts[:, ids] - ref_joints[:, 16:]).max()
    # The comparison means something: posed hands move well away from the rest mesh.
    rest = np.asarray(model.v_template, np.float64)
    assert np.abs(ref_verts[1:] - rest).max() > 0.01
    return {k: float(v) for k, v in errors.items()}


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("use_pca", [True, False], ids=["pca12", "full45"])
@pytest.mark.parametrize("flat_hand_mean", [True, False], ids=["flat", "mean"])
def test_forward_matches_smplx_mano(mano_dir, side, use_pca, flat_hand_mean):
    errors = compare(mano_dir, side, use_pca, flat_hand_mean)
    print(f"{side} use_pca={use_pca} flat_hand_mean={flat_hand_mean}: max error (m) {errors}")
    for name, err in errors.items():
        assert err < TOL_M, f"{name}: max |ours - smplx.MANO| = {err:.3g} m"


def test_rest_pose_matches_smplx_and_mean_is_applied(mano_dir):
    """Zero inputs: smplx's default (flat_hand_mean=False) poses the mean hand, as ours does."""
    model = hand.load(mano_dir / "MANO_RIGHT.pkl")
    layer = _smplx_mano(mano_dir, "right", use_pca=True, flat_hand_mean=False)
    zeros = {"global_orient": np.zeros((BATCH, 3)), "hand_pose": np.zeros((BATCH, NUM_PCA)),
             "betas": np.zeros((BATCH, 10)), "transl": np.zeros((BATCH, 3))}  # fmt: skip
    ref_verts, _ = _reference(layer, zeros)
    mean_pose = hand.full_pose(np.zeros(3), np.asarray(model.hands_mean))
    ours = np.asarray(hand.forward(model, mean_pose, np.zeros(3)).vertices, np.float64)
    assert np.abs(ours - ref_verts[0]).max() < TOL_M
    flat = np.asarray(hand.forward(model, np.zeros((16, 3)), np.zeros(3)).vertices, np.float64)
    assert np.abs(flat - ref_verts[0]).max() > 1e-3  # the mean is not the flat hand
