"""The package layout: imports only point down the data flow, no module imports a command line,
and no module grows past 500 lines."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "mgd_jax")

# Layers in the order data flows; a module may import its own layer or lower ones.
LAYERS = (
    ("hand", "objects", "cli"),
    ("grasps", "evaluators", "models", "diffusion", "images", "render", "render_scene",
     "physics_guidance", "contact_render"),
    ("losses", "latent_stats", "data"),
    ("tasks", "train", "checkpoint", "sharding", "trained", "baselines"),
    ("generator", "report"),
    ("sample", "evaluate", "experiment", "study", "export", "build_dataset", "hand_gallery"),
)
COMMANDS = ("sample", "evaluate", "export", "build_dataset", "hand_gallery")
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                yield os.path.relpath(path, PACKAGE).split(os.sep), path


def _imports(path):
    """Top-level mgd_jax names (first component) imported anywhere in the file."""
    tree = ast.parse(open(path).read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mgd_jax"):
            parts = node.module.split(".")
            if len(parts) > 1:
                out.add(parts[1])
            else:
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "mgd_jax" and len(parts) > 1:
                    out.add(parts[1])
    return out


def test_every_top_level_module_has_a_layer():
    names = {p[0].removesuffix(".py") for p, _ in _modules()} - {"__init__"}
    assert names <= set(LAYER), f"add {sorted(names - set(LAYER))} to tests/test_layout.py LAYERS"


@pytest.mark.parametrize("parts,path", list(_modules()), ids=lambda x: "/".join(x) if isinstance(x, list) else "")
def test_imports_point_down(parts, path):
    own = parts[0].removesuffix(".py")
    if own == "__init__":
        return
    imported = _imports(path) - {own}
    up = sorted(m for m in imported if LAYER.get(m, -1) > LAYER[own])
    assert not up, f"mgd_jax/{'/'.join(parts)} imports {up}, above its layer"
    if own in ("hand", "objects"):
        assert not imported, f"mgd_jax/{'/'.join(parts)}: the floor imports {sorted(imported)}"
    if own == "evaluators":
        assert not imported & {"models", "diffusion", "losses"}, "evaluators import models"
    assert not imported & set(COMMANDS), f"mgd_jax/{'/'.join(parts)} imports a command line"


def test_no_module_over_500_lines():
    long = {"/".join(p): n for p, path in _modules() if (n := len(open(path).readlines())) > 500}
    assert not long, f"split these by topic: {long}"
