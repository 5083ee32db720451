"""Orbax checkpoints for training: async saves, keep-last-N, save on SIGTERM, exact resume.

Each checkpoint step holds three items: ``state`` (TrainState: step, params, EMA params,
optimizer state), ``data`` (the grain iterator position, JSON) and ``config`` (JSON). A step that
cannot be read (truncated, half-written) is skipped with a warning and the previous one is used.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

logger = logging.getLogger(__name__)


def _jsonable(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {str(k): _jsonable(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_jsonable(v) for v in tree]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` (numpy scalars allowed) as indented JSON atomically: a reader sees the old
    file or the new one, never half of one."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(_jsonable(obj), f, indent=1)
    os.replace(tmp, path)


class PreemptionFlag:
    """Set by SIGTERM (or SIGINT): the loop saves and exits cleanly at the next step boundary."""

    def __init__(self, signals=(signal.SIGTERM,)):
        self._event = threading.Event()
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        logger.warning("received signal %d: saving a checkpoint and stopping", signum)
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def restore_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Checkpointer:
    """A thin wrapper over one ``ocp.CheckpointManager`` rooted at ``<workdir>/checkpoints``."""

    def __init__(self, workdir: str, max_to_keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=True
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "data", "config")
        )

    def save(self, step: int, state: Any, data_state: dict, config: dict, force: bool = False):
        """Start saving (asynchronously); ``force`` saves even off the save interval."""
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state),
            config=ocp.args.JsonSave(config),
        )
        return self._manager.save(step, args=args, force=force)

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any, dict] | None:
        """Restore the newest readable step as (step, state, data_state); None if there is none.

        Args:
          abstract_state: a TrainState (or its ``jax.ShapeDtypeStruct`` tree) giving structure,
            shapes and shardings.
        """
        self._manager.reload()
        target = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, abstract_state)
        for step in reversed(self.all_steps()):
            try:
                restored = self._manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()
                    ),
                )
                return step, restored.state, restored.data
            except Exception as e:  # orbax raises many types for damaged files
                logger.warning(
                    "checkpoint step %d in %s is unreadable (%s: %s); trying the previous one",
                    step, self.directory, type(e).__name__, str(e)[:300],
                )  # fmt: skip
        return None

    def saved_config(self) -> dict | None:
        """The config stored with the newest step whose config item reads, or None."""
        for step in reversed(self.all_steps()):
            try:
                restored = self._manager.restore(
                    step, args=ocp.args.Composite(config=ocp.args.JsonRestore())
                )
                return dict(restored.config)
            except Exception:  # a damaged step: try the one before
                continue
        return None

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def config_differences(saved: dict, current: dict, limit: int = 12) -> list[str]:
    """``config.<field>: saved -> current`` for every leaf field that differs (at most ``limit``)."""

    def flat(tree, prefix="config"):
        if isinstance(tree, dict):
            out = {}
            for k, v in tree.items():
                out.update(flat(v, f"{prefix}.{k}"))
            return out
        return {prefix: list(tree) if isinstance(tree, tuple) else tree}

    a, b = flat(saved), flat(json.loads(json.dumps(current, default=str)))
    diffs = [f"{k}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}"
             for k in sorted(set(a) | set(b)) if a.get(k, "(absent)") != b.get(k, "(absent)")]  # fmt: skip
    return diffs[:limit] + ([f"... and {len(diffs) - limit} more"] if len(diffs) > limit else [])


def move_aside(workdir: str) -> str:
    """Rename ``<workdir>/checkpoints`` to ``checkpoints.replaced-N`` (nothing is deleted);
    returns the new path."""
    directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    n = 1
    while os.path.exists(f"{directory}.replaced-{n}"):
        n += 1
    os.rename(directory, f"{directory}.replaced-{n}")
    return f"{directory}.replaced-{n}"


class CheckpointMismatchError(ValueError):
    """The workdir holds checkpoints, but none can be restored with the given config."""


def load_trained(workdir: str, which: str = "ema_params") -> tuple[Any, dict, int]:
    """Parameters of the newest readable checkpoint of a training workdir, without a template.

    Args:
      workdir: a folder written by ``train.train_and_evaluate`` (holds ``checkpoints/``).
      which: ``"ema_params"`` (for sampling and frozen use) or ``"params"``.

    Returns:
      ``(params, config, step)``: the parameter tree (numpy arrays), the run's config as a plain
      dict (from the checkpoint), and its step.

    Raises:
      FileNotFoundError naming the folder when it holds no checkpoint; ValueError when none of
      its checkpoints can be read.
    """
    directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"{workdir}: no checkpoints/ folder; train it first with "
            f"`python launch.py --config=<config> --workdir={workdir}`"
        )
    manager = ocp.CheckpointManager(directory, item_names=("state", "data", "config"))
    try:
        steps = sorted(manager.all_steps())
        if not steps:
            raise FileNotFoundError(f"{directory} holds no checkpoint; train or resume that run")
        errors = []
        for step in reversed(steps):
            try:
                restored = manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(), config=ocp.args.JsonRestore()
                    ),
                )
                state = restored.state
                params = state[which] if isinstance(state, dict) else getattr(state, which)
                return params, dict(restored.config), int(step)
            except Exception as e:  # damaged step: try the one before
                errors.append(f"step {step}: {type(e).__name__}: {str(e)[:200]}")
                logger.warning("checkpoint %s step %d unreadable; trying the previous one", directory, step)
        raise ValueError(f"no readable checkpoint in {directory}: " + "; ".join(errors))
    finally:
        manager.close()
