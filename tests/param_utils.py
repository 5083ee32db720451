"""Test helper: model variables drawn with numpy, so tests compile no random initialisers."""

import jax
import jax.numpy as jnp
import numpy as np


def random_params(module, *args, seed=0):
    """Variables for ``module.init(..., *args)`` drawn with numpy: kernels ~ N(0, 1/n_in)
    (n_in the longest input axis), biases 0, LayerNorm scales 1, other parameters (embeddings)
    ~ N(0, 0.02^2). The structure comes from ``eval_shape`` of the real ``init``, so nothing is
    compiled (XLA compiles of random initialisers dominate small-model tests on a small CPU)."""
    shapes = jax.eval_shape(lambda k: module.init({"params": k}, *args), jax.random.PRNGKey(0))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = path[-1].key
        if name == "scale":
            return jnp.ones(leaf.shape, leaf.dtype)
        if name == "bias":
            return jnp.zeros(leaf.shape, leaf.dtype)
        std = 1.0 / np.sqrt(max(leaf.shape[:-1])) if name == "kernel" else 0.02
        return jnp.asarray(rng.normal(0.0, std, leaf.shape), leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, shapes)
