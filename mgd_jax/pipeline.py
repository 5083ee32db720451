"""The demo pipeline (``configs/demo.py``): every stage of MGD on the embedded default.

    python launch.py --config=configs/demo.py --workdir=runs/demo

Stages, in order, each cached (a finished stage is reused; an interrupted training resumes):

  datasets     mgd_objects and mgd_synthetic at ``config.datasets.config`` (built or reused)
  point_vae    stage-1 point VAE            -> <workdir>/point_vae (checkpoints, eval.json)
  mgd          MGD                          -> <workdir>/mgd
  ablations    MGD variants                 -> <workdir>/mgd_<name>
  samples      conditional grasps on the held-out test objects (every model), joint samples
               (the main model), the ground truth and a nearest-neighbour baseline
                                            -> <workdir>/samples/<set>.npz
  evaluation   evaluators on every set      -> <workdir>/metrics.json
  report       renders + tables             -> <workdir>/report.md, report.html, *.png

All hand parameters are MANO axis-angle (radians) and translations in meters, in the
object-centric frame of each object (bounding-box centre at the origin).
"""

from __future__ import annotations

import copy
import html
import json
import logging
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import trimesh

from mgd_jax import build_dataset, evaluators, hand, images, objects, render, train
from mgd_jax.evaluate import COLUMNS
from mgd_jax.objects import sdf_mesh

logger = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABLATIONS = {
    "sync_schedulers": "async_schedulers=False (t_o = t_h in the joint branch)",
    "no_object_only": "HOI data only (no object-only sources)",
}


# --------------------------------------------------------------------------------------------
# Stage bookkeeping


class Stages:
    """``stages.json`` in the workdir: which stages finished, with the inputs they used."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "stages.json")
        self.done: dict[str, Any] = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.done = json.load(f)

    def finished(self, name: str, key: Any) -> bool:
        if self.done.get(name) == key:
            logger.info("%s: reusing finished stage", name)
            return True
        return False

    def mark(self, name: str, key: Any) -> None:
        self.done[name] = key
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.done, f, indent=1)
        os.replace(tmp, self.path)


def _key(section: Any) -> Any:
    """A JSON-able fingerprint of a config section (stage cache key)."""
    if isinstance(section, ml_collections.ConfigDict):
        return json.loads(section.to_json_best_effort())
    return json.loads(json.dumps(section, default=str))


def _data_dir(config, workdir: str) -> str | None:
    if config.data_in_workdir:
        return os.path.join(os.path.abspath(workdir), "data")
    return config.data_dir


# --------------------------------------------------------------------------------------------
# Data of the held-out objects


def _tfds(name: str, split: str, data_dir: str | None):
    import tensorflow_datasets as tfds

    return tfds.data_source(name, split=split, data_dir=data_dir)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def object_mesh(object_id: str, source: str, points: np.ndarray) -> trimesh.Trimesh:
    """The object's mesh in its centric frame, meters: regenerated exactly for mgd_synthetic and
    mgd_objects ids (``family/seed``), else the alpha shape of its points."""
    if source.startswith("mgd_synthetic/"):
        family, _, seed = object_id.partition("/")
        _, mesh = sdf_mesh.sample_object(family, int(seed), random_rotation=True)
        return objects.normalize(mesh)[0]
    return objects.alpha_shape(points)


def grouped_grasps(data, num_points: int) -> dict[str, dict]:
    """Examples of an HOI split grouped by object: id -> points, source, pose (k,16,3), trans."""
    out: dict[str, dict] = {}
    for i in range(len(data)):
        ex = data[i]
        if "has_hand" in ex and not bool(ex["has_hand"]):
            continue
        oid = _text(ex["object_id"])
        g = out.setdefault(oid, {"points": np.asarray(ex["points"], np.float32)[:num_points],
                                 "source": _text(ex["source"]), "pose": [], "trans": []})  # fmt: skip
        g["pose"].append(np.asarray(ex["pose"], np.float32))
        g["trans"].append(np.asarray(ex["trans"], np.float32))
    for g in out.values():
        g["pose"], g["trans"] = np.stack(g["pose"]), np.stack(g["trans"])
    return out


def _chamfer(a: np.ndarray, b: np.ndarray) -> float:
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    return float(d.min(1).mean() + d.min(0).mean())


def nearest_neighbour_grasps(test: dict[str, dict], train_set: dict[str, dict], per_object: int,
                             seed: int) -> dict[str, dict]:  # fmt: skip
    """The trivial baseline: for each test object, grasps of the training object nearest in
    Chamfer distance (256-point subsets), copied into the test object's centric frame."""
    rng = np.random.default_rng(seed)
    ids = list(train_set)
    sub = {k: v["points"][:256] for k, v in train_set.items()}
    out = {}
    for oid, g in test.items():
        q = g["points"][:256]
        best = ids[int(np.argmin([_chamfer(q, sub[k]) for k in ids]))]
        src = train_set[best]
        pick = rng.choice(len(src["pose"]), per_object, replace=len(src["pose"]) < per_object)
        out[oid] = {"pose": src["pose"][pick], "trans": src["trans"][pick], "retrieved": best}
    return out


# --------------------------------------------------------------------------------------------
# Stages


def build_datasets(config, data_dir: str | None, stages: Stages) -> dict:
    """Build (or reuse) the datasets the config's sources name; returns split sizes."""
    key = {"config": config.datasets.config, "data_dir": data_dir, "mano": config.mano_path}
    sizes = {}
    for name in ("mgd_objects", "mgd_synthetic"):
        needed = any(f"tfds:{name}/" in s for s in config.point_vae.data.sources
                     + config.mgd_train.data.sources)  # fmt: skip
        if not needed:
            continue
        t0 = time.time()
        builder = build_dataset.build(os.path.join(ROOT, "datasets", name), config.datasets.config,
                                      data_dir=data_dir,
                                      mano_path=config.mano_path or None if name == "mgd_synthetic"
                                      else None)  # fmt: skip
        sizes[name] = {k: v.num_examples for k, v in builder.info.splits.items()}
        logger.info("datasets: %s/%s ready (%.0f s): %s", name, config.datasets.config,
                    time.time() - t0, sizes[name])  # fmt: skip
    stages.mark("datasets", key)
    return sizes


def _train(name: str, run_config: ml_collections.ConfigDict, run_dir: str, stages: Stages) -> dict:
    """Train (or resume, or reuse) one run; returns its eval.json."""
    key = _key(run_config)
    eval_path = os.path.join(run_dir, "eval.json")
    if stages.finished(name, key) and os.path.exists(eval_path):
        with open(eval_path) as f:
            return json.load(f)
    t0 = time.time()
    state = train.train_and_evaluate(run_config, run_dir)
    step = int(jax.device_get(state.step))
    if step < run_config.total_steps:  # SIGTERM: the trainer saved a checkpoint and stopped
        logger.warning("demo interrupted during %s at step %d of %d; the same command resumes it",
                       name, step, run_config.total_steps)  # fmt: skip
        raise SystemExit(143)
    with open(eval_path) as f:
        results = json.load(f)
    results["train_seconds_this_call"] = time.time() - t0
    stages.mark(name, key)
    return results


def mgd_run_configs(config, workdir: str, data_dir: str | None) -> dict[str, ml_collections.ConfigDict]:
    """The main MGD run and each ablation, as trainer configs."""
    base = copy.deepcopy(config.mgd_train)
    with base.unlocked():
        base.point_vae.init = os.path.join(os.path.abspath(workdir), "point_vae")
        base.data.data_dir = data_dir
        base.mano_path = config.mano_path
    runs = {"mgd": base}
    for name in config.ablations:
        if name not in ABLATIONS:
            raise ValueError(f"config.ablations: unknown '{name}'; known: {sorted(ABLATIONS)}")
        run = copy.deepcopy(base)
        with run.unlocked():
            if name == "sync_schedulers":
                run.diffusion.async_schedulers = False
            elif name == "no_object_only":
                hoi = [(s, w) for s, w in zip(run.data.sources, run.data.weights)
                       if "@train_objects" not in s and "mgd_objects" not in s]  # fmt: skip
                run.data.sources = tuple(s for s, _ in hoi)
                run.data.weights = tuple(w for _, w in hoi)
        runs[f"mgd_{name}"] = run
    return runs


def sample_sets(config, workdir: str, data_dir: str | None, runs: dict, stages: Stages) -> dict:
    """Write samples/<set>.npz for every set; returns {set: path}."""
    from mgd_jax.generate import Generator

    out_dir = os.path.join(workdir, "samples")
    os.makedirs(out_dir, exist_ok=True)
    s = config.sampling
    hoi_name = config.mgd_train.data.sources[0].removeprefix("tfds:").split("@")[0]
    num_points = int(config.mgd_train.mgd.num_points)
    test = grouped_grasps(_tfds(hoi_name, "test", data_dir), num_points)
    if not test:
        raise ValueError(f"{hoi_name}: the test split has no grasps to condition on")
    ids = sorted(test)
    k = int(s.num_per_object)
    paths = {}

    def save(name, **arrays):
        path = os.path.join(out_dir, f"{name}.npz")
        np.savez(path, **arrays)
        paths[name] = path

    key = {"sampling": _key(s), "runs": {n: stages.done.get(n) for n in runs}}
    if stages.finished("samples", key):
        return {f[:-4]: os.path.join(out_dir, f) for f in os.listdir(out_dir) if f.endswith(".npz")}
    object_index = np.repeat(np.arange(len(ids)), k)
    points = np.stack([test[i]["points"] for i in ids])[object_index]
    for run_name in runs:
        gen = Generator.from_workdir(os.path.join(workdir, run_name))
        t0 = time.time()
        pose, trans = gen.conditional(points, seed=config.seed, method=s.method,
                                      num_steps=s.num_steps, guidance=s.guidance,
                                      batch_size=s.batch_size)  # fmt: skip
        logger.info("samples: %s conditional, %d grasps in %.1f s", run_name, len(pose),
                    time.time() - t0)  # fmt: skip
        save(f"{run_name}_conditional", pose=pose, trans=trans, object_index=object_index)
        if run_name == "mgd":
            t0 = time.time()
            jp, jt, jpts = gen.joint(int(s.num_joint), seed=config.seed, method=s.method,
                                     num_steps=s.num_steps, batch_size=s.batch_size)  # fmt: skip
            logger.info("samples: joint, %d pairs in %.1f s", len(jp), time.time() - t0)
            save("mgd_joint", pose=jp, trans=jt, points=jpts)
    gt_pose = np.concatenate([test[i]["pose"] for i in ids])
    gt_trans = np.concatenate([test[i]["trans"] for i in ids])
    gt_index = np.concatenate([np.full(len(test[i]["pose"]), j) for j, i in enumerate(ids)])
    save("ground_truth", pose=gt_pose, trans=gt_trans, object_index=gt_index)
    train_set = grouped_grasps(_tfds(hoi_name, "train", data_dir), num_points)
    nn = nearest_neighbour_grasps(test, train_set, k, config.seed)
    save("nearest_neighbour", pose=np.concatenate([nn[i]["pose"] for i in ids]),
         trans=np.concatenate([nn[i]["trans"] for i in ids]), object_index=object_index)  # fmt: skip
    with open(os.path.join(out_dir, "objects.json"), "w") as f:
        json.dump({"dataset": hoi_name, "object_ids": ids,
                   "sources": [test[i]["source"] for i in ids]}, f, indent=1)  # fmt: skip
    np.save(os.path.join(out_dir, "object_points.npy"), np.stack([test[i]["points"] for i in ids]))
    stages.mark("samples", key)
    return paths


def _load_objects(workdir: str) -> tuple[list[str], list[trimesh.Trimesh], np.ndarray]:
    with open(os.path.join(workdir, "samples", "objects.json")) as f:
        meta = json.load(f)
    points = np.load(os.path.join(workdir, "samples", "object_points.npy"))
    meshes = [object_mesh(i, s, p) for i, s, p in zip(meta["object_ids"], meta["sources"], points)]
    return meta["object_ids"], meshes, points


def evaluate_sets(config, workdir: str, hand_model, stages: Stages) -> dict:
    """Evaluators on every sample set -> metrics.json (per-set means/stds, diversity, Frechet)."""
    path = os.path.join(workdir, "metrics.json")
    key = {"samples": stages.done.get("samples"), "evaluation": _key(config.evaluation)}
    if stages.finished("evaluation", key) and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    _, meshes, _ = _load_objects(workdir)
    sets = sorted(f[:-4] for f in os.listdir(os.path.join(workdir, "samples"))
                  if f.endswith(".npz"))  # fmt: skip
    rng = np.random.default_rng(config.seed)
    gt = np.load(os.path.join(workdir, "samples", "ground_truth.npz"))
    gt_joints = np.asarray(hand.forward(hand_model, gt["pose"], gt["trans"]).joints)
    results: dict[str, Any] = {}
    for name in sets:
        data = np.load(os.path.join(workdir, "samples", f"{name}.npz"))
        n = len(data["pose"])
        pick = np.sort(rng.choice(n, min(n, config.evaluation.max_grasps), replace=False))
        posed = hand.forward(hand_model, data["pose"][pick], data["trans"][pick])
        verts = np.asarray(posed.vertices, np.float64)
        finite = np.isfinite(verts).all(axis=(1, 2))
        hands = [hand.to_trimesh(v, hand_model) for v in verts[finite]]
        if "points" in data:  # joint samples: their own generated objects
            objs = [objects.alpha_shape_or_none(p) for p in data["points"][pick][finite]]
            keep = [i for i, o in enumerate(objs) if o is not None]
            hands, objs = [hands[i] for i in keep], [objs[i] for i in keep]
        else:
            objs = [meshes[i] for i in data["object_index"][pick][finite]]
        t0 = time.time()
        per_grasp = evaluators.evaluate_meshes(
            hands, objs, metrics=tuple(config.evaluation.metrics),
            num_workers=int(config.evaluation.num_workers), progress=True,
            hand_part_labels=evaluators.part_labels_from_weights(np.asarray(hand_model.weights)),
            finger_labels=evaluators.finger_labels_from_weights(np.asarray(hand_model.weights)),
        )  # fmt: skip
        summary = {k: v for k, v in evaluators.summarize(per_grasp).items()}
        joints = np.asarray(posed.joints)[finite]
        entry = {"num_grasps": len(hands), "num_nonfinite": int((~finite).sum()),
                 "metrics": summary, "seconds": time.time() - t0}  # fmt: skip
        if len(joints) >= 2:
            entry["diversity"] = evaluators.diversity(joints, seed=config.seed)
            if name != "ground_truth" and "points" not in data and len(gt_joints) >= 2:
                entry["frechet_to_ground_truth"] = evaluators.frechet_distance_sets(joints, gt_joints)
        results[name] = entry
        logger.info("evaluation: %s (%d grasps): %s", name, len(hands),
                    {k: round(v["mean"], 3) for k, v in summary.items()})  # fmt: skip
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    stages.mark("evaluation", key)
    return results


def render_sets(config, workdir: str, hand_model) -> dict[str, str]:
    """Contact sheets of conditional (main model) and joint samples, and the ground truth."""
    ids, meshes, _ = _load_objects(workdir)
    size, n = int(config.report.render_size), int(config.report.num_renders)
    out = {}
    for name, title in (("mgd_conditional", "conditional"), ("mgd_joint", "joint"),
                        ("ground_truth", "ground truth")):  # fmt: skip
        path = os.path.join(workdir, "samples", f"{name}.npz")
        if not os.path.exists(path):
            continue
        data = np.load(path)
        if "object_index" in data:  # one grasp per object first, then the next one
            order = np.lexsort((np.arange(len(data["pose"])), _rank_within(data["object_index"])))
        else:
            order = np.arange(len(data["pose"]))
        tiles, labels = [], []
        for i in order[:n]:
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
    return out


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """For each element, how many earlier elements share its group (0, 1, 2, ...)."""
    rank = np.zeros(len(groups), int)
    seen: dict[int, int] = {}
    for i, g in enumerate(groups):
        rank[i] = seen.get(int(g), 0)
        seen[int(g)] = rank[i] + 1
    return rank


# --------------------------------------------------------------------------------------------
# Report


SET_TITLES = {
    "mgd_conditional": "MGD, conditional (unseen test objects)",
    "mgd_sync_schedulers_conditional": "ablation: synchronous schedulers, conditional",
    "mgd_no_object_only_conditional": "ablation: no object-only data, conditional",
    "nearest_neighbour": "baseline: nearest-neighbour retrieval",
    "ground_truth": "ground truth (synthetic test grasps)",
    "mgd_joint": "MGD, joint (generated objects, alpha shapes)",
}


def metric_table(metrics: dict) -> str:
    """Markdown table: one row per set, the evaluators' columns in Table 1 order + diversity."""
    cols = [(k, t, s) for k, t, s in COLUMNS
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


def write_report(workdir: str, config, sizes: dict, trained: dict, metrics: dict,
                 renders: dict, seconds: float) -> tuple[str, str]:  # fmt: skip
    """report.md and report.html in the workdir."""
    lines = ["# mgd_jax demo report", "",
             f"Datasets (`{config.datasets.config}`): "
             + "; ".join(f"{k}: " + ", ".join(f"{s}={n}" for s, n in v.items())
                         for k, v in sizes.items()), "",
             "## Metrics", "",
             "Penetration, intersection, simulation and contact follow `mgd_jax.evaluators` (lengths "
             "in cm, volumes in cm³). Diversity: k-means entropy and cluster size on whitened "
             "joints; Frechet distance between Gaussians fitted to the 21 joint positions (cm), "
             "in cm² as Frechet distances are, to the ground-truth test grasps.", "",
             metric_table(metrics), "## Training", "",
             "| run | what | held-out loss | held-out joint error (mm) |", "|---|---|---|---|"]  # fmt: skip
    for run, res in trained.items():
        if run == "point_vae":
            continue
        what = ABLATIONS.get(run.removeprefix("mgd_"), "main model")
        loss = res.get("heldout/loss")
        err = res.get("heldout/cond/joints_mm")
        lines.append(f"| {run} | {what} | {loss:.4f} | {err:.1f} |" if loss is not None
                     else f"| {run} | {what} | - | - |")  # fmt: skip
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
        f.write(_markdown_to_html(md))
    return md_path, html_path


def _markdown_to_html(md: str) -> str:
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


# --------------------------------------------------------------------------------------------


def run(config: ml_collections.ConfigDict, workdir: str) -> str:
    """Run (or resume) the whole demo; returns the path of report.html."""
    start = time.time()
    os.makedirs(workdir, exist_ok=True)
    stages = Stages(workdir)
    data_dir = _data_dir(config, workdir)
    hand_model = hand.load(config.mano_path or None)
    logger.info("demo in %s (hand %s, data in %s)", workdir, hand_model.name,
                data_dir or "~/tensorflow_datasets")  # fmt: skip
    sizes = build_datasets(config, data_dir, stages)

    pv = copy.deepcopy(config.point_vae)
    with pv.unlocked():
        pv.data.data_dir = data_dir
    trained = {"point_vae": _train("point_vae", pv, os.path.join(workdir, "point_vae"), stages)}
    runs = mgd_run_configs(config, workdir, data_dir)
    for name, run_config in runs.items():
        trained[name] = _train(name, run_config, os.path.join(workdir, name), stages)

    sample_sets(config, workdir, data_dir, runs, stages)
    metrics = evaluate_sets(config, workdir, hand_model, stages)
    renders = render_sets(config, workdir, hand_model)
    md, page = write_report(workdir, config, sizes, trained, metrics, renders, time.time() - start)
    logger.info("wrote %s and %s", md, page)
    jax.clear_caches()
    return page
