"""The demo experiment over several seeds (``configs/study.py``): intervals and paired claims.

    python launch.py --config=configs/study.py --workdir=runs/study

Each seed ``s`` in ``config.study.seeds`` is one whole demo (``mgd_jax.experiment``) in
``<workdir>/seed_<s>`` (:func:`seed_config`); the datasets are built once into the study's data
dir. Then, from the seeds' ``metrics.json``:

  study.json   per sample set and metric: the values per seed, their mean and the half-width of
               the 95% Student-t interval (n - 1 degrees of freedom); the claims below
  study.md     the same as tables

The paper's claims are checked as paired differences across seeds (an ablation and the main model
of the same seed share data, point VAE and initialisation), ``ablation - main model`` on metrics
where lower is better, so a positive difference favours the claim:

  T2/T3  object-only data helps unseen objects: no_object_only - mgd, conditional sets
  T4     asynchronous schedulers help joint generation: sync_schedulers - mgd, joint sets

A claim's metric is "supported" when its interval lies above 0, "contradicted" below 0 and "not
resolved" when it contains 0; with one seed there is no interval. Units as in ``metrics.json``
(``mgd_jax.evaluators``): lengths cm, volumes cm³, MMD-CD mm, rates as fractions.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence

import ml_collections

from mgd_jax import checkpoint, evaluators, experiment, report

logger = logging.getLogger(__name__)

# Two-sided 95% Student-t quantiles t_{0.975, dof}, dof = 1..30 (standard tables).
T_975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
         2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
         2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
         2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)  # fmt: skip


def t_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (>= 1): the table up to
    30, beyond it the Cornish-Fisher expansion about the normal quantile (error < 1e-5)."""
    if dof < 1:
        raise ValueError(f"dof must be >= 1, got {dof}")
    if dof <= len(T_975):
        return T_975[dof - 1]
    z = 1.959963985
    g = ((z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96,
         (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
         (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160)  # fmt: skip
    return z + sum(gi / dof ** (i + 1) for i, gi in enumerate(g))


def mean_interval(values: Sequence[float]) -> dict:
    """``{"n", "mean", "std", "half_width"}`` of ``values`` (one per seed): the sample std
    (n - 1) and the 95% t-interval half-width ``t_975(n - 1) * std / sqrt(n)``; with n = 1 the
    std and half-width are None (no interval)."""
    v = [float(x) for x in values]
    n = len(v)
    if n == 0:
        raise ValueError("no values")
    mean = sum(v) / n
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "half_width": None}
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    return {"n": n, "mean": mean, "std": std, "half_width": t_975(n - 1) * std / math.sqrt(n)}


# --------------------------------------------------------------------------------------------
# Metrics of one set, flattened


GROUPED = {  # metrics.json entry field -> keys kept from it (the rest are counts)
    "diversity": ("entropy", "cluster_size_whitened", "cluster_size_cm"),
    "generation": ("mmd_cd_mm", "cov_cd", "nna_cd"),
}
TITLES = {  # flat key -> (title, display scale); evaluator columns from evaluators.COLUMNS
    **{k: (t, s) for k, t, s in evaluators.COLUMNS},
    "num_fingers_in_contact": ("Fingers in contact", 1.0),
    "contact_vertex_count": ("Contact vertices", 1.0),
    "diversity/entropy": ("Entropy", 1.0),
    "diversity/cluster_size_whitened": ("Cluster size", 1.0),
    "diversity/cluster_size_cm": ("Cluster size (cm)", 1.0),
    "frechet_to_ground_truth": ("Frechet to GT (cm²)", 1.0),
    "generation/mmd_cd_mm": ("MMD-CD (mm)", 1.0),
    "generation/cov_cd": ("COV-CD (%)", 100.0),
    "generation/nna_cd": ("1-NNA-CD (%)", 100.0),
}


def set_metrics(entry: Mapping) -> dict[str, float]:
    """One set's entry of ``metrics.json`` as flat finite scalars: every evaluator metric's mean
    over grasps (``penetration_depth_cm``, ``contact``, ...), ``diversity/<key>``,
    ``frechet_to_ground_truth`` and ``generation/<key>``."""
    out = {k: v["mean"] for k, v in entry.get("metrics", {}).items()}
    for group, keys in GROUPED.items():
        out.update({f"{group}/{k}": entry[group][k] for k in keys if k in entry.get(group, {})})
    if "frechet_to_ground_truth" in entry:
        out["frechet_to_ground_truth"] = entry["frechet_to_ground_truth"]
    return {k: float(v) for k, v in out.items()
            if isinstance(v, (int, float)) and math.isfinite(v)}  # fmt: skip


def _order(keys) -> list[str]:
    """Known titles first, in their order, then the rest as they came."""
    keys = list(dict.fromkeys(keys))
    return [k for k in TITLES if k in keys] + [k for k in keys if k not in TITLES]


# --------------------------------------------------------------------------------------------
# Claims


@dataclasses.dataclass(frozen=True)
class Claim:
    name: str  # the paper's table
    text: str  # what it says
    ablation: str  # sample set of the ablation (minuend)
    main: str  # sample set of the main model (subtrahend)
    metrics: tuple[str, ...]  # flat keys, each lower-is-better


CLAIMS = (
    Claim("T2/T3", "object-only data helps unseen objects", "mgd_no_object_only_conditional",
          "mgd_conditional", ("penetration_depth_cm", "sim_displacement_cm")),
    Claim("T4", "asynchronous schedulers help joint generation", "mgd_sync_schedulers_joint",
          "mgd_joint", ("generation/mmd_cd_mm", "generation/nna_cd", "penetration_depth_cm")),
)  # fmt: skip


def paired_difference(ablation: Mapping[int, float], main: Mapping[int, float]) -> dict | None:
    """``ablation[s] - main[s]`` over the seeds both have, as :func:`mean_interval` plus
    ``seeds`` and ``verdict``; None when no seed has both. For lower-is-better metrics a positive
    difference favours the main model: "supported" (interval above 0), "contradicted" (below 0),
    "not resolved" (contains 0) or "n=1, no interval"."""
    seeds = sorted(set(ablation) & set(main))
    if not seeds:
        return None
    out = mean_interval([ablation[s] - main[s] for s in seeds])
    out["seeds"] = seeds
    if out["half_width"] is None:
        out["verdict"] = "n=1, no interval"
    elif out["mean"] - out["half_width"] > 0:
        out["verdict"] = "supported"
    elif out["mean"] + out["half_width"] < 0:
        out["verdict"] = "contradicted"
    else:
        out["verdict"] = "not resolved"
    out["direction"] = ("favours the claim" if out["mean"] > 0 else
                        "against the claim" if out["mean"] < 0 else "zero")  # fmt: skip
    return out


def aggregate(per_seed: Mapping[int, Mapping]) -> dict:
    """The study from ``{seed: metrics.json}``: ``{"seeds", "sets": {set: {metric: values per
    seed + mean_interval}}, "claims": [...]}``; a metric missing or non-finite in a seed is left
    out of that seed (its n says so)."""
    values: dict[str, dict[str, dict[int, float]]] = {}
    for seed, metrics in per_seed.items():
        for name, entry in metrics.items():
            for key, v in set_metrics(entry).items():
                values.setdefault(name, {}).setdefault(key, {})[seed] = v
    sets = {name: {key: {**mean_interval(list(vals[key].values())),
                         "values": {str(s): v for s, v in vals[key].items()}}
                   for key in _order(vals)}
            for name, vals in values.items()}  # fmt: skip
    claims = []
    for c in CLAIMS:
        for key in c.metrics:
            a, m = values.get(c.ablation, {}).get(key, {}), values.get(c.main, {}).get(key, {})
            claims.append({"claim": c.name, "text": c.text, "metric": key,
                           "difference": f"{c.ablation} - {c.main}",
                           "result": paired_difference(a, m)})  # fmt: skip
    return {"seeds": sorted(per_seed), "sets": sets, "claims": claims}


def _num(x: float, sign: bool = False) -> str:
    text = f"{x:.1f}" if abs(x) >= 100 else f"{x:.3g}"
    return f"+{text}" if sign and x > 0 else text


def _cell(stats: dict, scale: float, n_all: int, sign: bool = False) -> str:
    """``mean ± half-width`` (scaled), ``(n=k)`` when fewer seeds than the study has."""
    mean = _num(scale * stats["mean"], sign)
    if stats["half_width"] is None:
        return f"{mean} (n=1, no interval)"
    text = f"{mean} ± {_num(scale * stats['half_width'])}"
    return text if stats["n"] == n_all else f"{text} (n={stats['n']})"


def study_markdown(study: dict) -> str:
    """``study.md``: seeds, per-set tables of every metric (grasps, generated objects), claims."""
    n = len(study["seeds"])
    sets = study["sets"]
    titles = report.SET_TITLES
    order = [k for k in titles if k in sets] + [k for k in sets if k not in titles]
    keys = _order(k for s in sets.values() for k in s)
    lines = ["# mgd_jax study: the demo over seeds", "",
             f"Seeds {', '.join(map(str, study['seeds']))} (n={n}), each a whole demo in "
             "`seed_<s>/` (its `report.md` has the single-seed tables). Each cell is the mean over "
             "seeds ± the half-width of the 95% Student-t interval (n - 1 degrees of freedom) of "
             "the seeds' values; (n=k) where a seed lacks the value. Units as in the demo "
             "report: cm, cm³, cm², mm; rates in %.", "",
             "## Metrics", ""]  # fmt: skip
    generation = [k for k in keys if k.startswith("generation/")]
    for title, cols in (("Grasps", [k for k in keys if k not in generation]),
                        ("Generated objects", generation)):  # fmt: skip
        rows = [s for s in order if any(k in sets[s] for k in cols)]
        if not rows:
            continue
        head = ["set"] + [TITLES.get(k, (k, 1.0))[0] for k in cols]
        lines += [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for s in rows:
            cells = [titles.get(s, s)]
            cells += [_cell(sets[s][k], TITLES.get(k, (k, 1.0))[1], n) if k in sets[s] else "-"
                      for k in cols]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## The paper's claims as paired differences", "",
              "Per seed, the ablation's value minus the main model's (lower is better for each "
              "metric, so a positive difference favours the claim), then the mean ± 95% "
              "t-interval over seeds. Supported: the interval lies above 0; contradicted: below "
              "0; not resolved: it contains 0. 1-NNA is better lower down to its chance level.",
              "", "| claim | metric | difference | mean ± 95% interval | seeds | verdict |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for c in study["claims"]:
        r = c["result"]
        title, scale = TITLES.get(c["metric"], (c["metric"], 1.0))
        if r is None:
            cells = ["-", "-", "not measured (a set or metric is missing)"]
        else:
            cells = [_cell(r, scale, r["n"], sign=True), str(r["n"]),
                     r["verdict"] if r["n"] == 1 else f"{r['verdict']} ({r['direction']})"]
        lines.append(f"| {c['claim']}: {c['text']} | {title} | `{c['difference']}` | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------


def seed_config(config: ml_collections.ConfigDict, seed: int,
                data_dir: str | None) -> ml_collections.ConfigDict:  # fmt: skip
    """The demo config of one seed: ``config.seed = seed``, the point VAE's, MGD's and the
    learned baselines' training seeds offset by it (ablations copy MGD's), the study's
    ``data_dir`` shared."""
    c = copy.deepcopy(config)
    with c.unlocked():
        c.experiment = "demo"
        del c["study"]
        c.seed = int(seed)
        c.runs.point_vae.seed = int(config.runs.point_vae.seed) + int(seed)
        c.runs.mgd.seed = int(config.runs.mgd.seed) + int(seed)
        for name in config.get("baselines", ()):
            c.runs[name].seed = int(config.runs[name].seed) + int(seed)
        c.data_in_workdir = False
        c.data_dir = data_dir
    return c


def run(config: ml_collections.ConfigDict, workdir: str) -> str:
    """Run (or resume) every seed's demo, then write study.json and study.md; returns the path
    of study.md. A seed whose demo finished with the same config is not run again."""
    start = time.time()
    seeds = [int(s) for s in config.study.seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"config.study.seeds must be distinct and non-empty, got {seeds}")
    os.makedirs(workdir, exist_ok=True)
    stages = experiment.Stages(workdir)
    data_dir = experiment._data_dir(config, workdir)
    per_seed = {}
    for i, seed in enumerate(seeds):
        seed_dir = os.path.join(workdir, f"seed_{seed}")
        c = seed_config(config, seed, data_dir)
        key = experiment._key(c)
        path = os.path.join(seed_dir, "metrics.json")
        if not (stages.finished(f"seed_{seed}", key) and os.path.exists(path)):
            logger.info("study: seed %d (%d of %d) in %s", seed, i + 1, len(seeds), seed_dir)
            experiment.run(c, seed_dir)
            stages.mark(f"seed_{seed}", key)
        with open(path) as f:
            per_seed[seed] = json.load(f)
    study = aggregate(per_seed)
    study["seconds_this_call"] = time.time() - start
    checkpoint.write_json(os.path.join(workdir, "study.json"), study)
    md = os.path.join(workdir, "study.md")
    with open(md, "w") as f:
        f.write(study_markdown(study))
    for c in study["claims"]:
        r = c["result"]
        logger.info("study: %s %s: %s", c["claim"], c["metric"],
                    "not measured" if r is None
                    else f"{r['mean']:+.4g} ({r['verdict']})")  # fmt: skip
    logger.info("wrote %s (%.1f min this call)", md, (time.time() - start) / 60)
    return md
