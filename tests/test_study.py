"""The seed study (configs/study.py, mgd_jax/study.py): t-intervals, paired claims, resume."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import study as study_configs
from mgd_jax import study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_t_quantiles_match_the_tables():
    # t_{0.975, dof} from printed tables (dof 40, 60, 120 exercise the expansion beyond 30).
    for dof, t in ((1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042), (40, 2.021),
                   (60, 2.000), (120, 1.980), (10_000, 1.960)):  # fmt: skip
        assert study.t_975(dof) == pytest.approx(t, abs=6e-4), dof
    with pytest.raises(ValueError, match="dof"):
        study.t_975(0)


def test_mean_interval_against_numpy():
    assert study.mean_interval([1.0, 2.0, 3.0]) == pytest.approx(
        {"n": 3, "mean": 2.0, "std": 1.0, "half_width": 4.303 / math.sqrt(3)}, abs=1e-3)
    rng = np.random.default_rng(7)
    for n in (2, 5, 12):
        v = rng.normal(3.0, 2.0, n)
        got = study.mean_interval(v)
        se = np.std(v, ddof=1) / np.sqrt(n)
        assert got["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert got["half_width"] == pytest.approx(study.T_975[n - 2] * se, rel=1e-12)
    one = study.mean_interval([0.5])
    assert one == {"n": 1, "mean": 0.5, "std": None, "half_width": None}


def test_paired_differences_verdicts():
    main = {0: 1.0, 1: 2.0, 2: 3.0}
    up = study.paired_difference({0: 1.5, 1: 2.6, 2: 3.4}, main)  # +0.5, +0.6, +0.4
    assert up["mean"] == pytest.approx(0.5)
    assert up["half_width"] == pytest.approx(4.303 * 0.1 / math.sqrt(3), abs=1e-4)
    assert (up["verdict"], up["direction"]) == ("supported", "favours the claim")
    down = study.paired_difference({0: 0.5, 1: 1.4, 2: 2.6}, main)
    assert (down["verdict"], down["direction"]) == ("contradicted", "against the claim")
    # Paired, not pooled: the seed-to-seed spread of the levels cancels.
    assert study.paired_difference({s: v + 0.1 for s, v in main.items()}, main)["half_width"] < 1e-9
    mixed = study.paired_difference({0: 1.5, 1: 1.8, 2: 3.2}, main)
    assert mixed["verdict"] == "not resolved"
    only = study.paired_difference({0: 2.0, 5: 9.0}, main)  # seeds both have: 0
    assert (only["n"], only["seeds"], only["verdict"]) == (1, [0], "n=1, no interval")
    assert study.paired_difference({}, main) is None


def _metrics(rng, sim=True):
    """A metrics.json like the demo's: conditional, joint, baseline and ground-truth sets."""
    def entry(pen, gen=False):
        m = {"penetration_depth_cm": {"mean": pen, "std": 0.1},
             "contact": {"mean": 0.8, "std": 0.4},
             "intersection_volume_cm3": {"mean": 2 * pen, "std": 0.2}}  # fmt: skip
        if sim:
            m["sim_displacement_cm"] = {"mean": 3 * pen, "std": 1.0}
        e = {"num_grasps": 8, "metrics": m,
             "diversity": {"entropy": 2.0, "cluster_size_whitened": 1.1}}  # fmt: skip
        if gen:
            e["generation"] = {"mmd_cd_mm": 10 * pen, "cov_cd": 0.5, "nna_cd": 0.7 + 0.1 * pen,
                               "nna_cd_chance": 0.5, "num_generated": 8,
                               "num_reference": 4}  # fmt: skip
        return e

    base = rng.uniform(0.5, 1.0)  # the seed's level, shared by its runs
    return {"mgd_conditional": entry(base), "mgd_no_object_only_conditional": entry(base + 0.3),
            "mgd_sync_schedulers_conditional": entry(base + 0.1),
            "mgd_joint": entry(base, gen=True),
            "mgd_sync_schedulers_joint": entry(base + rng.normal(0, 0.5), gen=True),
            "nearest_neighbour": entry(0.4), "ground_truth": entry(0.2)}  # fmt: skip


def test_aggregate_and_markdown_on_synthetic_seeds():
    rng = np.random.default_rng(0)
    per_seed = {s: _metrics(rng) for s in (0, 1, 2)}
    out = study.aggregate(per_seed)
    pen = out["sets"]["mgd_conditional"]["penetration_depth_cm"]
    values = [per_seed[s]["mgd_conditional"]["metrics"]["penetration_depth_cm"]["mean"]
              for s in range(3)]  # fmt: skip
    assert pen["n"] == 3 and pen["mean"] == pytest.approx(np.mean(values))
    assert pen["half_width"] == pytest.approx(4.302653 * np.std(values, ddof=1) / math.sqrt(3))
    assert out["sets"]["mgd_joint"]["generation/mmd_cd_mm"]["n"] == 3
    assert "diversity/entropy" in out["sets"]["ground_truth"]
    claims = {(c["claim"], c["metric"]): c["result"] for c in out["claims"]}
    t23 = claims[("T2/T3", "penetration_depth_cm")]
    assert t23["mean"] == pytest.approx(0.3) and t23["verdict"] == "supported"
    assert claims[("T2/T3", "sim_displacement_cm")]["mean"] == pytest.approx(0.9)
    assert set(claims) >= {("T4", "generation/mmd_cd_mm"), ("T4", "generation/nna_cd"),
                           ("T4", "penetration_depth_cm")}  # fmt: skip
    md = study.study_markdown(out)
    assert "Seeds 0, 1, 2 (n=3)" in md and "Penetration depth (cm)" in md and "MMD-CD (mm)" in md
    assert f"{pen['mean']:.3g} ± {pen['half_width']:.3g}" in md
    assert "+0.3 ± " in md and "supported (favours the claim)" in md
    json.dumps(out)  # study.json is plain JSON

    one = study.aggregate({4: _metrics(rng, sim=False)})
    md1 = study.study_markdown(one)
    assert "(n=1, no interval)" in md1 and "not measured" in md1  # no simulation in this seed
    assert "n=1, no interval" in {c["result"]["verdict"] for c in one["claims"] if c["result"]}


def test_seed_configs_share_data_and_derive_seeds():
    config = study_configs.get_config("tiny")
    assert config.experiment == "study" and tuple(config.study.seeds) == (0, 1, 2)
    assert tuple(config.ablations) == ("sync_schedulers", "no_object_only")
    c = study.seed_config(config, 2, "/data")
    assert (c.experiment, c.seed, c.data_dir, c.data_in_workdir) == ("demo", 2, "/data", False)
    assert c.runs.point_vae.seed == config.runs.point_vae.seed + 2
    assert c.runs.mgd.seed == config.runs.mgd.seed + 2 and "study" not in c
    assert c.runs.grabnet.seed == config.runs.grabnet.seed + 2  # the learned baseline too
    assert config.seed == 0 and config.runs.mgd.seed == 0  # the study's config is untouched
    with pytest.raises(ValueError, match="unknown argument"):
        study_configs.get_config("huge")


def test_study_reuses_finished_seeds(tmp_path, monkeypatch):
    calls = []

    def fake_run(config, workdir):
        calls.append((config.seed, config.data_dir))
        os.makedirs(workdir, exist_ok=True)
        metrics = _metrics(np.random.default_rng(config.seed))
        with open(os.path.join(workdir, "metrics.json"), "w") as f:
            json.dump(metrics, f)

    monkeypatch.setattr(study.experiment, "run", fake_run)
    config = study_configs.get_config("tiny")
    with config.unlocked():
        config.study.seeds = (0, 1)
    md = study.run(config, str(tmp_path))
    data = str(tmp_path / "data")
    assert calls == [(0, data), (1, data)]
    assert "Seeds 0, 1 (n=2)" in open(md).read()
    assert json.load(open(tmp_path / "study.json"))["seeds"] == [0, 1]
    with config.unlocked():
        config.study.seeds = (0, 1, 2)
    study.run(config, str(tmp_path))
    assert calls[2:] == [(2, data)]  # seeds 0 and 1 reused


@pytest.mark.slow
def test_study_tiny_end_to_end(tmp_path):
    """launch.py --config=configs/study.py:tiny with two seeds writes study.md with intervals."""
    workdir = tmp_path / "study"
    cmd = [sys.executable, "launch.py", "--config=configs/study.py:tiny", f"--workdir={workdir}",
           "--config.study.seeds=(0,1)"]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    md = (workdir / "study.md").read_text()
    assert "Seeds 0, 1 (n=2)" in md and " ± " in md
    assert "T2/T3: object-only data helps unseen objects" in md
    assert "T4: asynchronous schedulers help joint generation" in md
    for seed in (0, 1):
        assert (workdir / f"seed_{seed}" / "report.md").exists()
        assert not (workdir / f"seed_{seed}" / "data").exists()  # shared: <workdir>/data
    metrics = json.loads((workdir / "seed_1" / "metrics.json").read_text())
    assert {"mgd_conditional", "mgd_joint", "mgd_sync_schedulers_joint",
            "mgd_no_object_only_conditional", "nearest_neighbour", "ground_truth"} <= set(metrics)
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "seed_0: reusing finished stage" in again.stderr
    assert "seed_1: reusing finished stage" in again.stderr
