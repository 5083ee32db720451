"""Metric names as users read them: Table-1 column order and titles, the ``--metrics`` list,
summaries as JSON and Markdown.

Results keep their units in their keys (``*_cm``, ``*_cm3``); ratios are fractions in the JSON
and percentages in the tables.
"""

from __future__ import annotations

import numpy as np

from mgd_jax.evaluators.api import METRICS, summarize
from mgd_jax.evaluators.contact import finger_contact_rates

# (result key, column title, scale for display) in the paper's Table 1 order, then the extras.
COLUMNS = (
    ("penetration_depth_cm", "Penetration depth (cm)", 1.0),
    ("intersection_volume_cm3", "Intersection volume (cm^3)", 1.0),
    ("sim_displacement_cm", "Simulation displacement (cm)", 1.0),
    ("contact", "Contact ratio (%)", 100.0),
    ("sim_stable", "Stable ratio (%)", 100.0),
)
# Metrics shown on best/worst contact sheets: metric name -> (result key, short label, unit).
SHEET_METRICS = {
    "penetration": ("penetration_depth_cm", "pen", "cm"),
    "intersection": ("intersection_volume_cm3", "vol", "cm3"),
    "simulation": ("sim_displacement_cm", "sim", "cm"),
}


def parse_metrics(text: str) -> tuple[str, ...]:
    """A comma list of metric names (``""`` or ``"all"``: every metric), checked.

    Raises:
      ValueError listing the unknown names and the known ones.
    """
    if text.strip().lower() in ("", "all"):
        return tuple(METRICS)
    metrics = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise ValueError(f"--metrics: unknown {unknown}; choose from {list(METRICS)}")
    return metrics


def jsonable(value) -> bool | int | float | list:
    """One per-grasp result (scalar or array) as plain JSON values (floats as float64)."""
    v = np.asarray(value)
    if v.dtype == bool or np.issubdtype(v.dtype, np.integer):
        return v.tolist()
    return np.asarray(v, np.float64).tolist()


def summary_table(results: dict, num_grasps: int, num_skipped: int) -> tuple[dict, str]:
    """(summary dict, one-row Markdown table) of the available columns, in Table 1 order."""
    stats = summarize(results)
    summary = {"num_grasps": num_grasps, "num_skipped": num_skipped, "metrics": {}}
    titles, cells = [], []
    for key, title, scale in COLUMNS:
        if key not in stats:
            continue
        mean, std = stats[key]["mean"], stats[key]["std"]
        summary["metrics"][key] = {"title": title, "mean": mean, "std": std}
        titles.append(title)
        cells.append(f"{scale * mean:.2f} ± {scale * std:.2f}")
    for key, st in stats.items():  # the rest (counts etc.) go to the JSON only
        if key not in summary["metrics"]:
            summary["metrics"][key] = {"mean": st["mean"], "std": st["std"]}
    md = ("| " + " | ".join(titles) + " |\n| " + " | ".join("---" for _ in titles) + " |\n| "
          + " | ".join(cells) + " |\n")  # fmt: skip
    if "finger_contact" in results and len(np.asarray(results["finger_contact"])):
        rates = finger_contact_rates(results["finger_contact"])
        summary["finger_contact_rate"] = rates
        md += ("\nContact per hand part (% of grasps):\n\n| " + " | ".join(rates) + " |\n| "
               + " | ".join("---" for _ in rates) + " |\n| "
               + " | ".join(f"{100 * r:.1f}" for r in rates.values()) + " |\n")  # fmt: skip
    return summary, md


def per_object_table(results: dict, names: list[str]) -> tuple[dict, str]:
    """Each object's mean of every Table-1 column over its grasps.

    Args:
      results: per-grasp metrics (``evaluate_meshes``), each (N,).
      names: (N,) the object of each grasp.

    Returns:
      ({object: {"num_grasps", result key: mean (NaN-free; None if none is finite)}},
      Markdown table with one row per object in first-seen order, displayed as in
      :func:`summary_table`).
    """
    cols = [(k, t, s) for k, t, s in COLUMNS if k in results]
    names = [str(n) for n in names]
    table: dict[str, dict] = {}
    lines = ["| object | grasps | " + " | ".join(t for _, t, _ in cols) + " |",
             "|" + "---|" * (len(cols) + 2)]  # fmt: skip
    for name in dict.fromkeys(names):
        idx = [i for i, n in enumerate(names) if n == name]
        row: dict = {"num_grasps": len(idx)}
        cells = []
        for key, _, scale in cols:
            v = np.asarray(results[key], np.float64)[idx]
            v = v[np.isfinite(v)]
            row[key] = float(v.mean()) if len(v) else None
            cells.append(f"{scale * row[key]:.2f}" if len(v) else "-")
        table[name] = row
        lines.append(f"| {name} | {len(idx)} | " + " | ".join(cells) + " |")
    return table, "\n".join(lines) + "\n"
