"""The GrabNet-style baseline's training task (``config.task.name = "grabnet"``, ``configs/grabnet.py``).

``config.model`` is CoarseNet (``mgd_jax.baselines.grabnet.default_config``); ``config.task`` holds
``num_points`` (object points per example: the BPS and the distance terms read them), ``kl_coef``
and ``contact_examples`` (training examples the per-vertex contact weights are counted on).
Examples are MGD's layout (``tasks.mgd.mgd_example``): hand-object sources only count (object-only
examples are masked out of the loss, so give this task HOI sources).

The loss is CoarseNet's, with GrabNet's weights (lengths in meters, as GrabNet computes them):

  35 (1 - kl) mean |V - V*| w_v              hand vertices, weighted by the contact prior w_v
  30 (1 - kl) mean |E(V) - E(V*)|            hand edge vectors
  35 (1 - kl) mean ||h2o| - |h2o*|| w_v^0.4  per hand vertex: distance to the nearest object point
  30 (1 - kl) mean |o2h - o2h*| w_o          per object point: signed distance to the nearest hand
                                             vertex (+ outside, by the vertex normal); w_o is 1 in
                                             the contact band (-5 mm, 10 mm) of the ground truth,
                                             0.1 elsewhere, 1.5 where the prediction penetrates
  kl mean KL(q(z | x) || N(0, I))             kl = ``kl_coef`` = 0.005

GrabNet ships its contact prior ``rhand_weight.npy`` for MANO from GRAB; here ``w_v`` is counted on
the training data itself: ``1 + 4 f_v / max f``, with ``f_v`` the share of ``contact_examples``
training grasps whose vertex v lies within 5 mm of the object.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mgd_jax import hand, losses
from mgd_jax.baselines import bps, grabnet
from mgd_jax.data import sources
from mgd_jax.tasks import Task
from mgd_jax.tasks.mgd import FIX_HAND, mgd_example

logger = logging.getLogger(__name__)

CONTACT_M = 0.005  # a hand vertex this close to the object counts as touching (contact prior)


def validate(config: ml_collections.ConfigDict) -> None:
    """GrabNet-style config checks, each naming the field."""
    t, m = config.task, config.model
    if int(t.get("num_points", 0)) < 1:
        raise ValueError("config.task.num_points must be >= 1 (object points per example)")
    if not 0.0 <= float(t.get("kl_coef", -1)) < 1.0:
        raise ValueError(f"config.task.kl_coef must be in [0, 1), got {t.get('kl_coef')}")
    for name in ("bps_size", "hidden", "latent_dim"):
        if int(m.get(name, 0)) < 1:
            raise ValueError(f"config.model.{name} must be >= 1, got {m.get(name)}")
    if not float(m.get("bps_radius", 0)) > 0 or not float(m.get("trans_scale", 0)) > 0:
        raise ValueError("config.model.bps_radius and .trans_scale must be > 0 (meters)")


def vertex_normals(vertices: jnp.ndarray, faces: jnp.ndarray) -> jnp.ndarray:
    """(B, V, 3) meters, (F, 3) int -> (B, V, 3) unit area-weighted vertex normals."""
    a, b, c = (vertices[:, faces[:, k]] for k in range(3))
    face_n = jnp.cross(b - a, c - a)  # (B, F, 3), twice the area
    normals = jnp.zeros_like(vertices)
    for k in range(3):
        normals = normals.at[:, faces[:, k]].add(face_n)
    return normals * jax.lax.rsqrt(jnp.sum(normals**2, -1, keepdims=True) + 1e-20)


def unique_edges(faces: np.ndarray) -> np.ndarray:
    """(F, 3) triangles -> (E, 2) vertex pairs, each edge once."""
    pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(pairs, axis=1), axis=0)


def _nearest(src: jnp.ndarray, dst: jnp.ndarray) -> jnp.ndarray:
    """Index (B, S) of the nearest ``dst`` (B, D, 3) point to each ``src`` (B, S, 3) point."""
    d2 = (jnp.sum(src**2, -1)[:, :, None] - 2.0 * jnp.einsum("bsk,bdk->bsd", src, dst)
          + jnp.sum(dst**2, -1)[:, None, :])  # fmt: skip
    return jnp.argmin(jax.lax.stop_gradient(d2), axis=-1)


def _gather(x: jnp.ndarray, idx: jnp.ndarray) -> jnp.ndarray:
    return jnp.take_along_axis(x, idx[..., None], axis=1)


def hand_to_object(verts: jnp.ndarray, points: jnp.ndarray) -> jnp.ndarray:
    """Per hand vertex the distance (B, V) to the nearest object point, meters."""
    return jnp.linalg.norm(verts - _gather(points, _nearest(verts, points)), axis=-1)


def object_to_hand_signed(points: jnp.ndarray, verts: jnp.ndarray,
                          normals: jnp.ndarray) -> jnp.ndarray:  # fmt: skip
    """Per object point the distance (B, P) to the nearest hand vertex, meters, negative where the
    point lies behind that vertex's normal (inside the hand)."""
    idx = _nearest(points, verts)
    delta = points - _gather(verts, idx)
    sign = jnp.sign(jnp.sum(delta * _gather(normals, idx), -1))
    return jnp.where(sign == 0, 1.0, sign) * jnp.linalg.norm(delta, axis=-1)


def contact_weights(hand_model: hand.HandModel, examples: list[dict]) -> np.ndarray:
    """The per-vertex contact prior ``1 + 4 f_v / max f`` (module docstring) of MGD-layout
    examples (HOI ones count); all ones when none touches. Returns (V,) float32."""
    hoi = [e for e in examples if e["is_hoi"] > 0.5]
    if not hoi:
        return np.ones(hand_model.num_vertices, np.float32)
    pose = np.stack([e["pose"] for e in hoi])
    trans = np.stack([e["trans"] - e["wrist_offset"] for e in hoi])
    betas = np.stack([e["betas"] for e in hoi])
    verts = np.asarray(hand.forward(hand_model, pose, trans, betas).vertices)
    points = jnp.asarray(np.stack([e["points"] for e in hoi]))
    near = np.asarray(hand_to_object(jnp.asarray(verts), points)) < CONTACT_M
    freq = near.mean(axis=0)
    if freq.max() <= 0:
        return np.ones(hand_model.num_vertices, np.float32)
    return (1.0 + 4.0 * freq / freq.max()).astype(np.float32)


class GrabNetTask:
    """init / loss / sources / transform / evaluate of the GrabNet-style CVAE."""

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        d = config.data
        n = max(int(config.task.num_points), 2048)
        self.sources = [sources.build_source(s, "train", w, n, d.get("data_dir"))
                        for s, w in zip(d.sources, d.weights)]  # fmt: skip
        self.hand_model = hand.load(config.get("mano_path") or None)
        for src in self.sources:
            sources.check_hand(src.metadata, src.name, self.hand_model, FIX_HAND)
        self.model = grabnet.CoarseNet.from_config(config.model)
        self.basis = jnp.asarray(grabnet.basis(config.model))
        self.faces = jnp.asarray(self.hand_model.faces)
        self.edges = jnp.asarray(unique_edges(self.hand_model.faces_np))
        self.v_weights = jnp.asarray(self._contact_prior())

    def _contact_prior(self) -> np.ndarray:
        data = self.sources[0].data if self.sources else []
        k = min(len(data), int(self.config.task.get("contact_examples", 256)))
        index = np.unique(np.linspace(0, len(data) - 1, k).round().astype(int)) if k else []
        w = contact_weights(self.hand_model, [self.transform(data[int(i)]) for i in index])
        logger.info("grabnet: contact prior from %d training examples (weights %.2f..%.2f)",
                    len(index), w.min(), w.max())  # fmt: skip
        return w

    def transform(self, example: dict) -> dict:
        return mgd_example(example, int(self.config.task.num_points), self.hand_model)

    def train_sources(self) -> list:
        return self.sources

    def init(self, rng: jax.Array, batch: dict):
        b = bps.encode(batch["points"], self.basis)
        return self.model.init({"params": rng}, b, batch["pose"], batch["trans"], rng)["params"]

    def loss(self, params, batch, rng, step, train: bool = True):
        """GrabNet's CoarseNet loss (module docstring); returns (loss, metrics)."""
        del step, train
        points = batch["points"]
        pose, trans, mean, std = self.model.apply(
            {"params": params}, bps.encode(points, self.basis), batch["pose"], batch["trans"], rng)
        betas, offset = losses.hand_shape(batch)
        posed = hand.forward(self.hand_model, pose, trans - offset, betas)
        true = jax.lax.stop_gradient(losses.ground_truth_hand(self.hand_model, batch))
        verts, target = posed.vertices, true.vertices
        w = self.v_weights
        vertex = jnp.mean(jnp.abs(verts - target) * w[None, :, None], axis=(1, 2))
        i, j = self.edges[:, 0], self.edges[:, 1]
        edge = jnp.mean(jnp.abs((verts[:, i] - verts[:, j]) - (target[:, i] - target[:, j])),
                        axis=(1, 2))  # fmt: skip
        h2o = hand_to_object(verts, points)
        h2o_true = hand_to_object(target, points)
        dist_h = jnp.mean(jnp.abs(h2o - h2o_true) * w[None] ** (1.0 / 2.5), axis=1)
        o2h = object_to_hand_signed(points, verts, vertex_normals(verts, self.faces))
        o2h_true = object_to_hand_signed(points, target, vertex_normals(target, self.faces))
        band = (o2h_true < 0.01) & (o2h_true > -0.005)
        w_o = jnp.where(o2h < 0, 1.5, jnp.where(band, 1.0, 0.1))
        dist_o = jnp.mean(jnp.abs(o2h - o2h_true) * w_o, axis=1)
        kl = grabnet.kl_to_standard_normal(mean, std)
        c = float(self.config.task.kl_coef)
        per_example = (1.0 - c) * (35 * vertex + 30 * edge + 35 * dist_h + 30 * dist_o) + c * kl
        hoi = batch["is_hoi"] > 0.5
        terms = {"vertex_l1_m": vertex, "edge_l1_m": edge, "dist_h_m": dist_h, "dist_o_m": dist_o,
                 "kl": kl,
                 "vertex_error_mm": 1000 * jnp.mean(jnp.linalg.norm(verts - target, axis=-1), 1),
                 "joints_error_mm": 1000 * jnp.mean(
                     jnp.linalg.norm(posed.joints - true.joints, axis=-1), 1)}  # fmt: skip
        metrics = {k: losses.masked_mean(v, hoi) for k, v in terms.items()}
        return losses.masked_mean(per_example, hoi), metrics

    def evaluate(self, params, workdir: str) -> dict:
        """Held-out loss terms on the first source's validation/test split (a fixed latent draw
        per batch), averaged over up to ``evals.num_batches`` batches."""
        del workdir
        source = self.config.data.sources[0]
        src = sources.held_out_source(source, max(int(self.config.task.num_points), 2048),
                                      self.config.data.get("data_dir"))  # fmt: skip
        if src is None or len(src.data) == 0:
            return {"skipped": f"no validation or test split in {source}"}
        b = int(self.config.data.batch_size)
        n = min(len(src.data), b * int(self.config.evals.get("num_batches", 4)))
        rows = [self.transform(src.data[i]) for i in range(n)]
        fn = jax.jit(lambda p, batch, key: self.loss(p, batch, key, 0, train=False))
        totals: dict[str, float] = {}
        count = 0
        for k, i in enumerate(range(0, n, b)):
            chunk = rows[i : i + b]
            batch = {key: jnp.asarray(np.stack([r[key] for r in chunk])) for key in chunk[0]}
            loss, metrics = jax.device_get(fn(params, batch, jax.random.PRNGKey(k)))
            for key, v in {"loss": loss, **metrics}.items():
                totals[key] = totals.get(key, 0.0) + float(v) * len(chunk)
            count += len(chunk)
        out = {f"heldout/{k}": v / count for k, v in totals.items()}
        out.update({"heldout/num_examples": count, "split": src.name})
        return out


def make_task(config: ml_collections.ConfigDict) -> Task:
    """The GrabNet-style ``Task`` (datasets are checked first)."""
    t = GrabNetTask(config)
    hand_info = {"name": t.hand_model.name, "fingerprint": hand.fingerprint(t.hand_model),
                 "mano_path": config.get("mano_path") or ""}  # fmt: skip
    return Task(t.init, t.loss, t.train_sources, t.transform, t.evaluate, {"hand": hand_info})
