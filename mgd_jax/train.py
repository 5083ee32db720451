"""The one trainer: ``train_and_evaluate(config, workdir)``, shared by every model.

Jitted, donated train step sharded over ``Mesh(('data',))``; EMA parameters in the state; orbax
checkpoints with exact resume (step, params, EMA, optimizer, data position) from the same workdir;
save on SIGTERM then exit; host-0 ``config.json`` + ``metrics.jsonl``; a progress line with steps/s,
ETA and losses; a non-finite loss stops the run naming the step (the last good checkpoint stays).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.experimental.multihost_utils import sync_global_devices

from mgd_jax import checkpoint, sharding, tasks
from mgd_jax.data import input_pipeline

logger = logging.getLogger(__name__)


@flax.struct.dataclass
class TrainState:
    step: jnp.ndarray  # () int32
    params: Any
    ema_params: Any
    opt_state: Any


class NonFiniteLossError(FloatingPointError):
    pass


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    o = config.optim
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, o.learning_rate, max(1, o.warmup_steps), max(o.warmup_steps + 1, config.total_steps)
    )
    return optax.chain(
        optax.clip_by_global_norm(o.grad_clip),
        optax.adamw(schedule, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay),
    )


def train_step(state: TrainState, batch, rng, *, task, optimizer, ema_decay: float):
    """One optimisation step; pure. Returns (new_state, flat metrics dict of scalars)."""
    rng = jax.random.fold_in(rng, state.step)

    def loss_fn(params):
        return task.loss(params, batch, rng, state.step)

    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = jax.tree_util.tree_map(
        lambda e, p: ema_decay * e + (1.0 - ema_decay) * p, state.ema_params, params
    )
    metrics = dict(metrics)
    metrics.update(
        loss=loss,
        grad_norm=optax.tree.norm(grads),
        param_norm=optax.tree.norm(params),
        update_norm=optax.tree.norm(updates),
    )
    new_state = TrainState(step=state.step + 1, params=params, ema_params=ema, opt_state=opt_state)
    return new_state, metrics


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, stop_at_step: int | None = None,
    fresh: bool = False,
) -> TrainState:
    """Train ``config.task.name`` for ``config.total_steps``, resuming from ``workdir`` if possible.

    Args:
      config: the run's config (``configs/*.py``).
      workdir: run folder; the same folder always resumes.
      stop_at_step: end this call early at that step (saving a checkpoint), e.g. to train in
        slices on time-limited jobs; the schedule still follows ``config.total_steps``.
      fresh: move the workdir's checkpoints aside (``checkpoints.replaced-N``) and start at step
        0; without it, a workdir whose checkpoints cannot be restored with ``config`` is an error.

    Returns:
      The final TrainState (replicated arrays).

    Raises:
      checkpoint.CheckpointMismatchError naming the workdir and the config fields that differ,
      when it holds checkpoints and none can be restored (nothing is deleted).
    """
    tasks.validate(config)
    os.makedirs(workdir, exist_ok=True)
    is_host0 = jax.process_index() == 0
    task = tasks.get_task(config)
    mesh = sharding.make_mesh(config.get("num_devices", None))
    per_process_batch = sharding.check_batch_size(config.data.batch_size, mesh)
    dataset = input_pipeline.make_dataset(
        task.train_sources(), per_process_batch, config.seed, transform=task.transform
    )
    data_iter = input_pipeline.DeviceIterator(dataset, sharding.data_sharding(mesh),
                                              prefetch=config.data.get("prefetch", 2))
    optimizer = make_optimizer(config)

    rng = jax.random.PRNGKey(config.seed)
    init_rng, train_rng = jax.random.split(rng)
    first = next(iter(input_pipeline.make_dataset(task.train_sources(), per_process_batch,
                                                  config.seed, transform=task.transform)))  # fmt: skip

    def init_state(key):
        params = task.init(key, {k: jnp.asarray(v) for k, v in first.items()})
        return TrainState(jnp.zeros((), jnp.int32), params, params, optimizer.init(params))

    repl = sharding.replicated(mesh)
    state = jax.jit(init_state, out_shardings=repl)(init_rng)
    if fresh and os.path.isdir(os.path.join(workdir, "checkpoints")):
        if is_host0:
            logger.warning("--fresh: moved the old checkpoints to %s", checkpoint.move_aside(workdir))
        sync_global_devices("mgd_jax: checkpoints moved aside")
    ckpt = checkpoint.Checkpointer(workdir, max_to_keep=config.ckpt.max_to_keep,
                                   async_save=config.ckpt.async_save)  # fmt: skip
    restored = ckpt.restore_latest(state)
    if restored is None and ckpt.all_steps():
        saved = ckpt.saved_config()
        steps = ckpt.all_steps()
        ckpt.close()
        data_iter.close()
        diffs = checkpoint.config_differences(saved or {}, config.to_dict())
        raise checkpoint.CheckpointMismatchError(
            f"{workdir} holds checkpoints (steps {steps}) but none can be restored with this "
            "config; " + (f"the fields that differ from the checkpoint's config: {'; '.join(diffs)}"
                          if diffs else "their files are unreadable")
            + ". Resume with the config it was trained with, choose another --workdir, or pass "
            "--fresh to move the old checkpoints aside (nothing is deleted) and start afresh"
        )  # fmt: skip
    if is_host0:  # after the check above: a refused config never overwrites the run's own
        checkpoint.write_json(os.path.join(workdir, "config.json"), json.loads(config.to_json_best_effort()))
        if task.run_info:  # e.g. the hand model MGD trained with (read by trained.load_mgd)
            checkpoint.write_json(os.path.join(workdir, "run.json"), task.run_info)
    if restored is not None:
        step0, state, data_state = restored
        data_iter.set_state(data_state)
        logger.info("resumed from %s at step %d", ckpt.directory, step0)
    else:
        logger.info("no checkpoint in %s: starting from scratch", ckpt.directory)

    step_fn = jax.jit(
        functools.partial(train_step, task=task, optimizer=optimizer,
                          ema_decay=config.optim.ema_decay),  # fmt: skip
        donate_argnums=(0,),
        in_shardings=(repl, sharding.data_sharding(mesh), repl),
        out_shardings=(repl, repl),
    )
    preempt = checkpoint.PreemptionFlag()
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    step = int(state.step)
    start_step, t0, timing_started = step, time.time(), False
    try:
        end = config.total_steps if stop_at_step is None else min(stop_at_step, config.total_steps)
        while step < end:
            batch = next(data_iter)
            state, metrics = step_fn(state, batch, train_rng)
            step += 1
            if not timing_started:  # rates exclude the first step (compilation)
                jax.block_until_ready(state.step)
                start_step, t0, timing_started = step, time.time(), True
            last = step == end
            stop = preempt.is_set()  # read once: a signal landing mid-iteration waits a step
            log_now = step % config.log_every_steps == 0 or last
            save_now = step % config.ckpt.every_steps == 0 or last or stop
            if log_now or save_now:  # never checkpoint a state whose loss went non-finite
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                if not np.isfinite(metrics["loss"]):
                    raise NonFiniteLossError(
                        f"non-finite loss {metrics['loss']} at step {step}; the last good "
                        f"checkpoint in {ckpt.directory} is kept. Lower config.optim.learning_rate "
                        "or check the data."
                    )
            if log_now:
                rate = (step - start_step) / max(time.time() - t0, 1e-9) if step > start_step else 0.0
                if is_host0:
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps({"step": step, **metrics}) + "\n")
                logger.info(
                    "step %d/%d  %.2f steps/s  ETA %s  %s", step, config.total_steps, rate,
                    _fmt_eta((config.total_steps - step) / max(rate, 1e-9)),
                    "  ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())),
                )  # fmt: skip
            if save_now:
                ckpt.save(step, state, data_iter.get_state(), config.to_dict(), force=True)
            if stop:
                logger.warning("stopped at step %d after the preemption signal", step)
                break
    finally:
        data_iter.close()
        ckpt.close()
        preempt.restore_handlers()
    if step >= config.total_steps and task.evaluate is not None:
        if is_host0:  # on this host's copy of the (replicated) EMA parameters
            results = task.evaluate(sharding.local_copy(state.ema_params), workdir)
            checkpoint.write_json(os.path.join(workdir, "eval.json"), results)
            logger.info("evaluation: %s", results)
        if jax.process_count() > 1:
            sync_global_devices("mgd_jax: evaluation written")
    return state
