"""The demo's report: metric tables, sample renders, training summaries, as Markdown and HTML.

Lengths in the tables are cm, volumes cm³, Frechet distances cm² (``mgd_jax.evaluators``); hand
parameters read from the sample sets are MANO axis-angle (radians) and meters.
"""

from __future__ import annotations

import html
import os

import numpy as np
import trimesh

from mgd_jax import contact_render, evaluators, hand, images, objects, render


SET_TITLES = {
    "mgd_conditional": "MGD, conditional (unseen test objects)",
    "mgd_refined": "MGD + refine (the grasp optimiser, `sample --refine`'s defaults)",
    "mgd_physics": "MGD + physics guidance (the sampler's last steps, `sample --physics_guidance`)",
    "grabnet_conditional": "GrabNet-style (CVAE)",
    "grabnet_refined": "GrabNet-style + refine (the grasp optimiser standing in for RefineNet)",
    "mgd_sync_schedulers_conditional": "ablation: synchronous schedulers, conditional",
    "mgd_no_object_only_conditional": "ablation: no object-only data, conditional",
    "nearest_neighbour": "baseline: nearest-neighbour retrieval",
    "ground_truth": "ground truth (synthetic test grasps)",
    "mgd_joint": "MGD, joint (generated objects, alpha shapes)",
    "mgd_sync_schedulers_joint": "ablation: synchronous schedulers, joint",
}


def metric_table(metrics: dict) -> str:
    """Markdown table: one row per set, the evaluators' columns in Table 1 order + diversity."""
    cols = [(k, t, s) for k, t, s in evaluators.COLUMNS
            if any(k in m["metrics"] for m in metrics.values())]  # fmt: skip
    head = ["set", "grasps"] + [t for _, t, _ in cols] + ["Entropy", "Cluster size",
                                                           "Frechet to GT (cm²)"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = [k for k in SET_TITLES if k in metrics] + [k for k in metrics if k not in SET_TITLES]
    for name in order:
        m = metrics[name]
        cells = [SET_TITLES.get(name, name), str(m["num_grasps"])]
        for key, _, scale in cols:
            v = m["metrics"].get(key)
            cells.append("-" if v is None else f"{scale * v['mean']:.2f} ± {scale * v['std']:.2f}")
        div = m.get("diversity", {})
        cells.append(f"{div['entropy']:.2f}" if "entropy" in div else "-")
        size = div.get("cluster_size_whitened", div.get("cluster_size_cm"))
        cells.append(f"{size:.2f}" if size is not None else "-")
        fd = m.get("frechet_to_ground_truth")
        cells.append(f"{fd:.1f}" if fd is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def generation_table(metrics: dict) -> str:
    """Markdown table of the point-cloud generation metrics of sets with generated objects (the
    ``"generation"`` entries, ``evaluators.generation_metrics``); '' when no set has them."""
    rows = []
    order = [k for k in SET_TITLES if k in metrics] + [k for k in metrics if k not in SET_TITLES]
    for name in order:
        g = metrics[name].get("generation")
        if g is None:
            continue
        if "mmd_cd_mm" not in g:  # every generated cloud was non-finite
            cells = [f"0 ({g.get('num_nonfinite', '?')} non-finite)", "-", "-", "-", "-"]
        else:
            cells = [f"{g['num_generated']} ({g.get('num_nonfinite', 0)} non-finite)",
                     str(g["num_reference"]), f"{g['mmd_cd_mm']:.2f}",
                     f"{100 * g['cov_cd']:.1f}",
                     f"{100 * g['nna_cd']:.1f} (chance {100 * g['nna_cd_chance']:.1f})"]  # fmt: skip
        rows.append("| " + " | ".join([SET_TITLES.get(name, name)] + cells) + " |")
    if not rows:
        return ""
    head = ["set", "generated objects", "reference objects", "MMD-CD (mm)", "COV (%)", "1-NNA (%)"]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + rows) + "\n"


LATENT_COLUMNS = (  # (eval.json key after the split prefix, column title, format)
    ("latent/hand_cos_mean", "hand cos mean", "{:.3f}"),
    ("latent/hand_cos_min", "hand cos min", "{:.3f}"),
    ("latent/hand_std", "hand std", "{:.3f}"),
    ("latent/hand_rank", "hand rank", "{:.1f}"),
    ("latent/object_cos_mean", "object cos mean", "{:.3f}"),
    ("latent/object_cos_min", "object cos min", "{:.3f}"),
    ("latent/object_std", "object std", "{:.3f}"),
    ("latent/object_rank", "object rank", "{:.1f}"),
    ("autoenc/pose_component_deg", "AE pose (°/component)", "{:.2f}"),
    ("autoenc/trans_mm", "AE trans (mm)", "{:.1f}"),
    ("autoenc/joints_mm", "AE joints (mm)", "{:.1f}"),
    ("autoenc/object_chamfer_mm", "AE object Chamfer (mm)", "{:.2f}"),
)
LATENT_SPLITS = {"trainset": "training", "heldout": "held-out"}


def latent_table(trained: dict) -> str:
    """Markdown table of the latent-collapse diagnostics (``mgd_jax.latent_stats``) in each MGD
    run's eval.json: one row per run and split; '' when no run has them."""
    rows = []
    for run, res in trained.items():
        for split, title in LATENT_SPLITS.items():
            if f"{split}/latent/object_cos_mean" not in res:
                continue
            cells = [run, f"{title} ({res.get(f'{split}/latent_examples', '?')})"]
            for key, _, fmt in LATENT_COLUMNS:
                v = res.get(f"{split}/{key}")
                cells.append("-" if v is None or not np.isfinite(v) else fmt.format(v))
            rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return ""
    head = ["run", "examples"] + [t for _, t, _ in LATENT_COLUMNS]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + rows) + "\n"


def write_report(workdir: str, config, sizes: dict, trained: dict, metrics: dict,
                 renders: dict, seconds: float, run_titles: dict[str, str]) -> tuple[str, str]:  # fmt: skip
    """``report.md`` and ``report.html`` in the workdir; ``run_titles`` says what each training
    run (other than the main model) changes."""
    lines = ["# mgd_jax demo report", "",
             f"Datasets (`{config.datasets.config}`): "
             + "; ".join(f"{k}: " + ", ".join(f"{s}={n}" for s, n in v.items())
                         for k, v in sizes.items()), "",
             "## Metrics", "",
             "Penetration, intersection, simulation and contact follow `mgd_jax.evaluators` (lengths "
             "in cm, volumes in cm³). Diversity: k-means entropy and cluster size on whitened "
             "joints; Frechet distance between Gaussians fitted to the 21 joint positions (cm), "
             "in cm² as Frechet distances are, to the ground-truth test grasps.", "",
             metric_table(metrics)]  # fmt: skip
    generation = generation_table(metrics)
    if generation:
        lines += ["### Generated objects", "",
                  "Point-cloud generation metrics of the jointly generated objects against the "
                  "held-out test objects (PointFlow / LION definitions, `mgd_jax/evaluators/"
                  "generation.py`): MMD-CD, the mean over test objects of the Chamfer distance "
                  "to the nearest generated object (lower is better); COV, the share of test "
                  "objects that are the nearest of some generated object (higher is better); "
                  "1-NNA, the leave-one-out 1-nearest-neighbour accuracy on both sets together "
                  "(the chance level of indistinguishable sets, 50% for equal sizes, is ideal; 100% "
                  "means the sets are told apart, e.g. collapse). Chamfer "
                  "here is unsquared, in mm, on metric-scale objects; LION reports squared "
                  "distances on normalised shapes, so MMD values do not compare.", "",
                  generation]  # fmt: skip
    lines += ["## Training", "",
              "| run | what | held-out loss | held-out joint error (mm) |", "|---|---|---|---|"]  # fmt: skip
    for run, res in trained.items():
        if run == "point_vae":
            continue
        what = run_titles.get(run, "main model")
        loss = res.get("heldout/loss")
        err = res.get("heldout/cond/joints_mm", res.get("heldout/joints_error_mm"))
        lines.append(f"| {run} | {what} | {loss:.4f} | {err:.1f} |" if loss is not None
                     else f"| {run} | {what} | - | - |")  # fmt: skip
    latent = latent_table(trained)
    if latent:
        lines += ["", "### Latent spread and tokenizer autoencoding", "",
                  "Clean latents (no diffusion) of examples spread over each split: pairwise "
                  "cosine (1 = every example maps to the same direction), mean per-channel std "
                  "across examples (~1 for a spread unit-RMS latent, ~0 when collapsed), "
                  "effective rank; decode(encode(x)) errors of the tokenizers (AE). See "
                  "`mgd_jax/latent_stats.py`.",
                  "", latent.rstrip("\n")]  # fmt: skip
    pv = trained.get("point_vae", {})
    if "chamfer_mm_mean" in pv:
        lines += ["", f"Point VAE: Chamfer distance of held-out reconstructions "
                  f"{pv['chamfer_mm_mean']:.2f} mm (posterior mean), "
                  f"{pv['chamfer_mm_sampled_mean']:.2f} mm (sampled latent)."]  # fmt: skip
    lines += ["", "## Samples", ""]
    for title, png in renders.items():
        lines += [f"### {title}", "", f"![{title}]({png})", ""]
    lines += [f"Total time of this call: {seconds / 60:.1f} min."]
    md = "\n".join(lines) + "\n"
    md_path = os.path.join(workdir, "report.md")
    with open(md_path, "w") as f:
        f.write(md)
    html_path = os.path.join(workdir, "report.html")
    with open(html_path, "w") as f:
        f.write(markdown_to_html(md))
    return md_path, html_path


def markdown_to_html(md: str) -> str:
    """The report's small Markdown subset (headings, tables, images, paragraphs) as HTML."""
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>mgd_jax demo report</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
           "collapse}td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}</style>",
           "</head><body>"]  # fmt: skip
    rows: list[list[str]] = []

    def flush():
        if rows:
            out.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if i == 0 else 'td'}>{html.escape(c)}</{'th' if i == 0 else 'td'}>"
                                 for c in r) + "</tr>" for i, r in enumerate(rows)) + "</table>")  # fmt: skip
            rows.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                rows.append(cells)
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            alt, _, rest = line[2:].partition("](")
            out.append(f"<p><img alt='{html.escape(alt)}' src='{html.escape(rest.rstrip(')'))}'></p>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    out.append("</body></html>")
    return "\n".join(out)


def render_sets(config, workdir: str, hand_model, ids: list[str],
                meshes: list[trimesh.Trimesh]) -> dict[str, str]:  # fmt: skip
    """Contact sheets (``<workdir>/<set>.png``) of conditional (main model, as sampled and
    refined) and joint samples (``report.num_joint_renders``) and the ground truth;
    ``ids``/``meshes`` are the test objects (meters). Returns {title: file}."""
    size, n = int(config.report.render_size), int(config.report.num_renders)
    n_joint = int(config.report.get("num_joint_renders", n))
    out = {}
    for name, title in (("mgd_conditional", "conditional"), ("mgd_refined", "conditional, refined"),
                        ("mgd_physics", "conditional, physics-guided"),
                        ("grabnet_conditional", "GrabNet-style (CVAE)"), ("mgd_joint", "joint"),
                        ("ground_truth", "ground truth")):  # fmt: skip
        path = os.path.join(workdir, "samples", f"{name}.npz")
        if not os.path.exists(path):
            continue
        data = np.load(path)
        count = n_joint if "points" in data else n
        if "object_index" in data:  # one grasp per object first, then the next one
            order = np.lexsort((np.arange(len(data["pose"])), _rank_within(data["object_index"])))
        else:
            order = np.arange(len(data["pose"]))
        tiles, labels = [], []
        for i in order[:count]:
            verts = np.asarray(hand.forward(hand_model, data["pose"][i], data["trans"][i]).vertices)
            hand_mesh = hand.to_trimesh(verts, hand_model)
            if "points" in data:
                obj = objects.alpha_shape_or_none(data["points"][i])
                items, pts = ([hand_mesh, obj] if obj is not None else [hand_mesh]), None
                if obj is None:
                    pts = [data["points"][i]]
                view = render.render_views(items, points=pts, views=["three_quarter"],
                                           size=(size, size))[0]  # fmt: skip
                labels.append(f"joint #{i}")
            else:
                j = int(data["object_index"][i])
                view = render.render_views([hand_mesh, meshes[j]], views=["three_quarter"],
                                           size=(size, size))[0]  # fmt: skip
                labels.append(f"{ids[j]}")
            tiles.append(view["color"])
        if tiles:
            png = os.path.join(workdir, f"{name}.png")
            images.save_png(png, images.contact_sheet(tiles, ncols=min(4, len(tiles)),
                                                      labels=labels))  # fmt: skip
            out[title] = os.path.basename(png)
    heat = _contact_heatmaps(workdir, hand_model, ids, meshes, size, min(n, 4))
    if heat:
        out["conditional, contact maps (red: touching, pale: 2 cm or more away)"] = heat
    return out


def _contact_heatmaps(workdir: str, hand_model, ids: list[str], meshes: list, size: int,
                      count: int) -> str | None:  # fmt: skip
    """``<workdir>/mgd_contact.png``: the contact heat maps (``contact_render``) of the main
    model's first conditional grasps, one per object; returns its file name (None without
    samples)."""
    path = os.path.join(workdir, "samples", "mgd_conditional.npz")
    points_path = os.path.join(workdir, "samples", "object_points.npy")
    if count < 1 or not os.path.exists(path) or not os.path.exists(points_path):
        return None
    data, points = np.load(path), np.load(points_path)
    labels = evaluators.finger_labels_from_weights(np.asarray(hand_model.weights))
    order = np.lexsort((np.arange(len(data["pose"])), _rank_within(data["object_index"])))
    tiles, names = [], []
    for i in order[:count]:
        j = int(data["object_index"][i])
        verts = np.asarray(hand.forward(hand_model, data["pose"][i], data["trans"][i]).vertices)
        if not np.isfinite(verts).all():
            continue
        hand_mesh = hand.to_trimesh(verts, hand_model)
        c = evaluators.hand_object_contact(hand_mesh, meshes[j], points[j], labels)
        tiles.append(contact_render.heatmap_views(hand_mesh.vertices, hand_mesh.faces,
                                                  c["hand_distance_m"], points[j],
                                                  c["object_distance_m"], size))  # fmt: skip
        names.append(ids[j])
    if not tiles:
        return None
    png = os.path.join(workdir, "mgd_contact.png")
    images.save_png(png, images.contact_sheet(tiles, ncols=min(2, len(tiles)), labels=names))
    return os.path.basename(png)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """For each element, how many earlier elements share its group (0, 1, 2, ...)."""
    rank = np.zeros(len(groups), int)
    seen: dict[int, int] = {}
    for i, g in enumerate(groups):
        rank[i] = seen.get(int(g), 0)
        seen[int(g)] = rank[i] + 1
    return rank
