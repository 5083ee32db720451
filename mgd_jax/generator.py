"""Generation with a trained MGD model: object-conditioned grasps and joint hand + object samples.

    gen = Generator.load("runs/demo/mgd")       # a training workdir or an export (mgd_jax.export)
    pose, trans = gen.conditional(points_m, seed=0)                 # grasps on given objects
    pose, trans, points = gen.joint(16, seed=0)                      # new hand-object pairs

Everything is in the object-centric frame (bounding-box centre at the origin), meters; poses are
MANO axis-angle (16, 3), radians. The same seed gives the same samples.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mgd_jax import diffusion, hand, trained
from mgd_jax.models.mgd import MGD

if TYPE_CHECKING:
    from mgd_jax import physics_guidance
    from mgd_jax.objects.sdf_grid import SdfGrid

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Generator:
    """A trained MGD model with its frozen point VAE and hand model, ready to sample."""

    config: ml_collections.ConfigDict
    params: Any  # MGD variables {"params": ...} (EMA)
    vae: trained.FrozenPointVAE
    hand_model: hand.HandModel
    step: int = 0

    def __post_init__(self):
        self.model = MGD.from_config(self.config.model)
        self.schedule = diffusion.make_schedule(int(self.config.diffusion.num_timesteps))
        model = self.model

        def apply(params, z, t):
            return model.apply(params, z, t, True, method=MGD.denoise)

        self._denoise = jax.tree_util.Partial(apply, self.params)
        self._encode = jax.jit(
            lambda params, pts: model.apply(params, self.vae.encode(pts), method=MGD.encode_object)
        )
        self._decode_hand = jax.jit(lambda params, z: model.apply(params, z, method=MGD.decode_hand))

        def decode_hand(params, z):
            return model.apply(params, z, method=MGD.decode_hand)

        self._decode_partial = jax.tree_util.Partial(decode_hand, self.params)
        self._proxies = {}  # GraspConfig -> the hand's grasp proxies (physics guidance)
        self._decode_object = jax.jit(
            lambda params, z: self.vae.decode(model.apply(params, z, method=MGD.decode_object))
        )

    @classmethod
    def load(cls, path: str, mano_path: str | None = None,
             point_vae_workdir: str | None = None) -> Generator:  # fmt: skip
        """An export folder or an MGD training workdir, whichever ``path`` is
        (``trained.load_mgd``: kind, hand fingerprint and parameter shapes checked).

        Args:
          path: the export (``python -m mgd_jax.export --out``) or ``launch.py --workdir`` folder.
          mano_path: the hand model (must be the one the model was trained with).
          point_vae_workdir: a workdir only: overrides the run's ``config.task.point_vae``.

        Raises:
          FileNotFoundError naming ``path`` when it is neither; ValueError as ``load_mgd``.
        """
        mgd = trained.load_mgd(path, mano_path, point_vae_workdir)
        return cls(mgd.config, mgd.params, mgd.vae, mgd.hand_model, mgd.step)

    @property
    def num_points(self) -> int:
        return int(self.config.model.num_points)

    def _check_points(self, points_m: np.ndarray) -> np.ndarray:
        points_m = np.asarray(points_m, np.float32)
        if points_m.ndim != 3 or points_m.shape[-1] != 3:
            raise ValueError(f"object points must be (B, N, 3) meters, got {points_m.shape}")
        if points_m.shape[1] < self.num_points:
            raise ValueError(f"object points: {points_m.shape[1]} per object, the model reads "
                             f"{self.num_points}")  # fmt: skip
        if not np.all(np.isfinite(points_m)):
            bad = np.flatnonzero(~np.isfinite(points_m).all(axis=(1, 2)))
            raise ValueError(f"object points of objects {bad.tolist()} contain NaN or inf")
        return points_m[:, : self.num_points]

    @staticmethod
    def _check_grids(grids: SdfGrid | None, grid_rows, num_rows: int) -> np.ndarray:
        if grids is None or grid_rows is None:
            raise ValueError("physics guidance needs the objects' SDF grids and each row's grid "
                             "(grids=physics_guidance.object_grids(meshes), grid_rows=...)")  # fmt: skip
        rows = np.asarray(grid_rows)
        num_grids = int(np.shape(grids.values)[0]) if np.ndim(grids.values) == 4 else 0
        if rows.shape != (num_rows,) or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"grid_rows must be ({num_rows},) integers, got {rows.shape} "
                             f"{rows.dtype}")  # fmt: skip
        if num_grids == 0 or rows.min() < 0 or rows.max() >= num_grids:
            raise ValueError(f"grid_rows must index the {num_grids} stacked grids (values "
                             f"(K, R, R, R)), got rows {rows.min()}..{rows.max()}")  # fmt: skip
        return rows

    def conditional(self, points_m: np.ndarray, seed: int = 0, method: str = "ddim",
                    num_steps: int | None = 100, guidance: float | None = None,
                    batch_size: int = 256,
                    on_batch: Callable[[int], None] | None = None,
                    physics: physics_guidance.PhysicsGuidance | None = None,
                    grids: SdfGrid | None = None,
                    grid_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """One grasp per row of ``points_m`` (repeat rows for several grasps per object).

        Args:
          points_m: (B, N >= num_points, 3) object surface points, meters, object-centric frame.
          seed: sampling seed; batch i uses ``fold_in(PRNGKey(seed), i)``.
          method: "ddpm" (all T steps) or "ddim" (``num_steps`` respaced steps).
          guidance: conditional guidance scale s (None: no guidance).
          batch_size: rows per jitted call (the same seed and batch size give the same samples).
          on_batch: called with the number of rows after each batch (progress bars).
          physics: physics guidance of the last sampler steps (:mod:`mgd_jax.physics_guidance`);
            needs ``grids`` and ``grid_rows``.
          grids: K object SDF grids stacked, meters, in the frame of ``points_m``
            (``physics_guidance.object_grids``).
          grid_rows: (B,) int, the grid of each row.

        Returns:
          pose (B, 16, 3) axis-angle radians, trans (B, 3) meters.
        """
        points_m = self._check_points(points_m)
        if physics is not None:
            from mgd_jax import physics_guidance  # the grasp energy, only when guided

            grid_rows = self._check_grids(grids, grid_rows, len(points_m))
            pairs = diffusion.sampling_timesteps(self.schedule.num_timesteps, method,
                                                 num_steps if method == "ddim" else None)  # fmt: skip
            t_from = physics_guidance.first_guided_timestep(pairs, physics.steps)
            proxies = self._proxies.get(physics.config)
            if proxies is None:
                from mgd_jax.grasps.optimize import proxies_for

                proxies = self._proxies[physics.config] = proxies_for(self.hand_model,
                                                                      physics.config)  # fmt: skip
        key = jax.random.PRNGKey(seed)
        poses, transs = [], []
        for i, start in enumerate(range(0, len(points_m), batch_size)):
            chunk = jnp.asarray(points_m[start : start + batch_size])
            z_o = self._encode(self.params, chunk)
            hook = None
            if physics is not None:
                hook = physics_guidance.make_hook(
                    self._decode_partial, proxies, grids, grid_rows[start : start + batch_size],
                    chunk, physics, t_from)  # fmt: skip
            z = diffusion.sample_conditional(
                self._denoise, self.schedule, jax.random.fold_in(key, i), z_o,
                hand_shape=int(self.config.model.latent_dim),
                method=method, num_steps=num_steps if method == "ddim" else None,
                guidance_scale=guidance, x0_hook=hook,
            )  # fmt: skip
            pose, trans = self._decode_hand(self.params, z["hand"])
            poses.append(np.asarray(pose))
            transs.append(np.asarray(trans))
            if on_batch is not None:
                on_batch(len(chunk))
        return np.concatenate(poses), np.concatenate(transs)

    def joint(self, num: int, seed: int = 0, method: str = "ddim", num_steps: int | None = 100,
              batch_size: int = 256, on_batch: Callable[[int], None] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """``num`` new hand-object pairs (arguments as in :meth:`conditional`).

        Returns:
          pose (num, 16, 3) radians, trans (num, 3) meters, object points (num, N, 3) meters,
          all in the generated object's centric frame.
        """
        key = jax.random.PRNGKey(seed)
        d = int(self.config.model.latent_dim)
        poses, transs, points = [], [], []
        for i, start in enumerate(range(0, num, batch_size)):
            b = min(batch_size, num - start)
            z = diffusion.sample_joint(
                self._denoise, self.schedule, jax.random.fold_in(key, i), batch_size=b,
                hand_shape=d, object_shape=d, method=method,
                num_steps=num_steps if method == "ddim" else None,
            )  # fmt: skip
            pose, trans = self._decode_hand(self.params, z["hand"])
            poses.append(np.asarray(pose))
            transs.append(np.asarray(trans))
            points.append(np.asarray(self._decode_object(self.params, z["object"])))
            if on_batch is not None:
                on_batch(b)
        return np.concatenate(poses), np.concatenate(transs), np.concatenate(points)
