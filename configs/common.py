"""Config sections every training config shares (optimizer, checkpoints)."""

import ml_collections


def optim(learning_rate: float, warmup_steps: int, ema_decay: float) -> ml_collections.ConfigDict:
    """AdamW with warmup + cosine decay, global-norm clipping, EMA of the parameters."""
    return ml_collections.ConfigDict({
        "learning_rate": learning_rate, "warmup_steps": warmup_steps, "b1": 0.9, "b2": 0.999,
        "weight_decay": 0.0, "grad_clip": 1.0, "ema_decay": ema_decay,
    })  # fmt: skip


def ckpt(every_steps: int, max_to_keep: int = 3) -> ml_collections.ConfigDict:
    """Orbax checkpoints every ``every_steps`` (and at the end / on SIGTERM), async."""
    return ml_collections.ConfigDict(
        {"every_steps": every_steps, "max_to_keep": max_to_keep, "async_save": True}
    )
