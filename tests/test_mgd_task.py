"""The MGD task end to end at toy size: frozen point VAE -> MGD training -> sampling; configs."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from configs import demo as demo_configs
from configs import full as full_configs
from mgd_jax import experiment, report, train
from mgd_jax.generator import Generator
from mgd_jax.tasks import mgd as mgd_task
from mgd_jax.trained import load_point_vae
import toy_mgd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(trained_mgd):
    return trained_mgd


def test_mgd_example_layouts():
    pts = np.zeros((300, 3), np.float32)
    obj = mgd_task.mgd_example({"points": pts}, 256)
    assert obj["is_hoi"] == 0 and obj["points"].shape == (256, 3) and not obj["pose"].any()
    pose = np.ones((16, 3), np.float32)
    off = mgd_task.mgd_example({"points": pts, "pose": pose, "trans": np.ones(3), "has_hand": False}, 256)
    assert off["is_hoi"] == 0 and not off["pose"].any() and not off["trans"].any()
    on = mgd_task.mgd_example({"points": pts, "pose": pose, "trans": np.ones(3)}, 256)
    assert on["is_hoi"] == 1 and on["pose"].sum() == 48
    with pytest.raises(ValueError, match="num_points=512"):
        mgd_task.mgd_example({"points": pts}, 512)


def test_training_writes_heldout_metrics_and_samples_are_seeded(trained):
    root, config = trained
    import json

    with open(root / "mgd" / "eval.json") as f:
        results = json.load(f)
    assert np.isfinite(results["heldout/loss"]) and results["heldout/num_examples"] > 0
    gen = Generator.load(str(root / "mgd"))
    points = np.stack([r["points"] for r in toy_mgd.hoi_examples(2, 0, seed=1)])
    pose, trans = gen.conditional(points, seed=3, num_steps=4)
    assert pose.shape == (2, 16, 3) and trans.shape == (2, 3) and np.isfinite(pose).all()
    again, _ = gen.conditional(points, seed=3, num_steps=4)
    np.testing.assert_array_equal(pose, again)
    other, _ = gen.conditional(points, seed=4, num_steps=4)
    assert not np.allclose(pose, other)
    jp, jt, jpts = gen.joint(3, seed=0, num_steps=4)
    assert jp.shape == (3, 16, 3) and jt.shape == (3, 3)
    assert jpts.shape == (3, config.model.num_points, 3) and np.isfinite(jpts).all()
    bad = points.copy()
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match=r"objects \[1\]"):
        gen.conditional(bad)


def test_task_loss_with_every_remedy_decodes_through_the_point_vae(trained, monkeypatch):
    """All of config.loss's collapse remedies on, through the task (the frozen toy VAE decodes the
    recovered object for the distance field): finite loss, metrics and gradients."""
    import copy

    import jax
    import jax.numpy as jnp

    from mgd_jax import tasks
    from mgd_jax.data import input_pipeline, sources

    root, config = trained
    config = copy.deepcopy(config)
    config.loss.update(stop_gradient_targets=True, autoencode_hand=1.0, autoencode_object=1.0,
                       latent_variance=1.0, df_from_recovered_object=True)  # fmt: skip
    tasks.validate(config)
    rows = toy_mgd.hoi_examples(4, 0)
    monkeypatch.setattr(sources, "build_source",
                        lambda spec, split, w=1.0, *a: input_pipeline.Source(spec, rows, w))
    task = tasks.get_task(config)
    ex = [task.transform(r) for r in rows]
    batch = {k: jnp.asarray(np.stack([e[k] for e in ex])) for k in ex[0]}
    params = task.init(jax.random.PRNGKey(0), batch)
    (loss, metrics), grads = jax.jit(jax.value_and_grad(task.loss, has_aux=True))(
        params, batch, jax.random.PRNGKey(1), 0)
    assert np.isfinite(float(loss)) and all(np.isfinite(float(v)) for v in metrics.values())
    assert float(metrics["autoenc/loss"]) > 0 and float(metrics["latent/variance_hinge"]) > 0
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


def test_missing_point_vae_names_the_training_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="configs/point_vae.py"):
        load_point_vae(str(tmp_path / "nope"))


def test_full_config_names_the_build_command_when_data_is_missing(tmp_path):
    config = full_configs.get_config("tiny")
    config.data.data_dir = str(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="build_dataset datasets/grab"):
        train.train_and_evaluate(config, str(tmp_path / "run"))


def test_config_errors_name_the_field():
    config = demo_configs.get_config("tiny").runs.mgd
    with config.unlocked():
        config.loss.joint_weight = 1.0
    with pytest.raises(ValueError, match="config.loss has unknown keys"):
        mgd_task.validate(config)
    config = demo_configs.get_config("tiny").runs.mgd
    config.loss.df_from_recovered_object = True
    mgd_task.validate(config)
    config.evals.latent_examples = 1
    with pytest.raises(ValueError, match="config.evals.latent_examples"):
        mgd_task.validate(config)
    with pytest.raises(ValueError, match="unknown argument"):
        demo_configs.get_config("huge")
    with pytest.raises(ValueError, match="config.ablations"):
        bad = demo_configs.get_config("tiny")
        bad.ablations = ("no_hands",)
        experiment.mgd_run_configs(bad, "/tmp/x", None)


def test_ablation_configs_change_only_what_they_name():
    config = demo_configs.get_config("")
    runs = experiment.mgd_run_configs(config, "/tmp/w", None)
    assert set(runs) == {"mgd", "mgd_sync_schedulers", "mgd_no_object_only"}
    assert runs["mgd"].diffusion.async_schedulers and not runs["mgd_sync_schedulers"].diffusion.async_schedulers
    assert runs["mgd_no_object_only"].data.sources == ("tfds:mgd_synthetic/demo",)
    assert runs["mgd"].task.point_vae == "/tmp/w/point_vae"


def test_the_demo_baseline_trains_on_mgds_hand_object_data_with_its_budget():
    config = demo_configs.get_config("")
    runs = experiment.baseline_run_configs(config, "/data")
    g, m = runs["grabnet"], config.runs.mgd
    assert g.task.name == "grabnet" and g.data.sources == ("tfds:mgd_synthetic/demo",)
    assert (g.total_steps, g.data.batch_size, g.task.num_points) == (
        m.total_steps, m.data.batch_size, m.model.num_points)
    assert g.data.data_dir == "/data" and g.model.bps_size == 4096  # GrabNet's own sizes
    bad = demo_configs.get_config("tiny")
    bad.baselines = ("grabnet", "ganhand")
    with pytest.raises(ValueError, match="config.baselines: unknown 'ganhand'"):
        experiment.baseline_run_configs(bad, None)
    bad = demo_configs.get_config("tiny")
    bad.runs.grabnet.task.num_points = 4096
    with pytest.raises(ValueError, match="config.runs.grabnet.task.num_points=4096"):
        experiment.baseline_run_configs(bad, None)


def test_report_html_has_tables_and_images():
    page = report.markdown_to_html("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![x](x.png)\n")
    assert "<table>" in page and "<td>1</td>" in page and "src='x.png'" in page


def test_report_shows_generation_metrics_of_joint_samples(tmp_path):
    """The evaluation stage adds MMD/COV/1-NNA-CD to sets with generated objects (also to a
    metrics.json finished before they existed) and the report shows them."""
    rng = np.random.default_rng(0)
    samples = tmp_path / "samples"
    samples.mkdir()
    test_objects = rng.normal(size=(3, 64, 3)) * 0.03
    np.save(samples / "object_points.npy", test_objects)
    points = np.concatenate([test_objects[:2], rng.normal(size=(2, 64, 3)) * 0.03])
    points[3, 5] = np.nan  # a diverged sample is dropped and counted, not fatal
    np.savez(samples / "mgd_joint.npz", pose=np.zeros((4, 16, 3)), trans=np.zeros((4, 3)),
             points=points)  # fmt: skip
    np.savez(samples / "ground_truth.npz", pose=np.zeros((3, 16, 3)), trans=np.zeros((3, 3)),
             object_index=np.arange(3))  # fmt: skip
    config = demo_configs.get_config("tiny")
    metrics = {name: {"num_grasps": 3, "metrics": {}} for name in ("mgd_joint", "ground_truth")}
    assert experiment.add_generation_metrics(config, str(tmp_path), metrics)
    gen = metrics["mgd_joint"]["generation"]
    assert "generation" not in metrics["ground_truth"]
    assert gen["num_generated"] == 3 and gen["num_reference"] == 3 and gen["num_nonfinite"] == 1
    assert gen["cov_cd"] == 2 / 3 and 0.0 <= gen["nna_cd"] <= 1.0 and gen["mmd_cd_mm"] > 0
    assert not experiment.add_generation_metrics(config, str(tmp_path), metrics)  # already there
    md, _ = report.write_report(str(tmp_path), config, {}, {}, metrics, {}, 1.0, {})
    text = open(md).read()
    assert "| MMD-CD (mm) | COV (%) | 1-NNA (%) |" in text
    assert (f"| {report.SET_TITLES['mgd_joint']} | 3 (1 non-finite) | 3 | {gen['mmd_cd_mm']:.2f} "
            f"| 66.7 | {100 * gen['nna_cd']:.1f} (chance 40.0) |") in text  # fmt: skip
    assert report.generation_table({"ground_truth": metrics["ground_truth"]}) == ""


def test_two_devices_give_the_one_device_loss():
    """The MGD loss on a batch sharded over 2 simulated devices equals the 1-device loss."""
    code = textwrap.dedent(
        """
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        from mgd_jax import diffusion, hand, losses, sharding
        from mgd_jax.models import mgd
        model = mgd.MGD.from_config(mgd.tiny_config())
        rng = np.random.default_rng(0)
        B, N = 4, 64
        batch = {"points": rng.normal(0, .05, (B, N, 3)).astype(np.float32),
                 "pose": rng.normal(0, .2, (B, 16, 3)).astype(np.float32),
                 "trans": rng.normal(0, .05, (B, 3)).astype(np.float32),
                 "is_hoi": np.array([1, 0, 1, 1], np.float32)}
        latent = np.concatenate([batch["points"] * 10, rng.normal(0, 1, (B, N, 1))], -1).astype(np.float32)
        params = model.init({"params": jax.random.PRNGKey(0)}, batch["pose"], batch["trans"], latent)
        kw = dict(model=model, hand_model=hand.load(None), schedule=diffusion.make_schedule(50),
                  weights=losses.default_config(), train=False)
        def f(p, b, l):
            return losses.mgd_loss(p, b, jax.random.PRNGKey(1), object_latent_points=l, **kw)[0]
        one = float(jax.jit(f)(params, batch, latent))
        mesh = sharding.make_mesh(2)
        data = sharding.data_sharding(mesh)
        sb = jax.device_put(batch, data)
        sl = jax.device_put(latent, data)
        two = float(jax.jit(f, in_shardings=(sharding.replicated(mesh), data, data))(params, sb, sl))
        assert len(jax.devices()) == 2
        print("LOSSES", one, two)
        assert abs(one - two) <= 1e-5 * abs(one), (one, two)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "LOSSES" in out.stdout


@pytest.mark.slow
def test_demo_tiny_pipeline_end_to_end_and_reuse(tmp_path, caplog):
    """The smoke contract: launch.py --config=configs/demo.py:tiny writes report.md/html."""
    workdir = tmp_path / "smoke"
    out = subprocess.run([sys.executable, "launch.py", "--config=configs/demo.py:tiny",
                          f"--workdir={workdir}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=1800)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = (workdir / "report.md").read_text()
    for column in ("Penetration depth (cm)", "Intersection volume (cm^3)", "Contact ratio (%)"):
        assert column in report
    assert "MMD-CD (mm)" in report  # generation metrics of the joint samples' objects
    assert "MGD + refine" in report  # the main model's grasps, refined as sample --refine does
    assert "MGD + physics guidance" in report  # and sampled again with physics guidance
    assert "contact maps" in report  # heat maps of the main model's conditional grasps
    assert "| GrabNet-style (CVAE) | 4 |" in report  # the learned baseline beside MGD
    assert "GrabNet-style + refine" in report and "| grabnet |" in report
    for name in ("report.html", "mgd_conditional.png", "mgd_refined.png", "mgd_joint.png",
                 "mgd_contact.png", "grabnet_conditional.png", "metrics.json"):
        assert (workdir / name).stat().st_size > 100, name
    again = subprocess.run([sys.executable, "launch.py", "--config=configs/demo.py:tiny",
                            f"--workdir={workdir}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=1800)  # fmt: skip
    assert again.returncode == 0 and "reusing finished stage" in again.stderr


OTHER_HAND = {"hand_model": "mano:MANO_RIGHT.pkl", "hand_fingerprint": "f" * 64}


def test_datasets_built_with_another_hand_are_refused(trained, monkeypatch):
    """Training, sampling on a dataset split and the experiment's evaluation sets all refuse a
    dataset whose hand fingerprint is not the run's, naming both and the fix."""
    from mgd_jax import tasks
    from mgd_jax.data import hoi, input_pipeline, sources

    root, config = trained
    rows = toy_mgd.hoi_examples(4, 0)
    monkeypatch.setattr(sources, "build_source", lambda spec, split, w=1.0, *a: input_pipeline.Source(
        f"{spec}:{split}", rows, w, metadata=OTHER_HAND))  # fmt: skip
    with pytest.raises(ValueError, match=r"built with hand 'mano:MANO_RIGHT.pkl' \(fingerprint "
                                         r"ffffffffffff\).*procedural-v1.*--config.mano_path"):
        tasks.get_task(config)
    from mgd_jax import sample

    with pytest.raises(ValueError, match="built with hand 'mano:MANO_RIGHT.pkl'"):
        sample.main([f"--checkpoint={root / 'mgd'}", "--objects=tfds:fake@test",
                     f"--out={root / 'refused'}", "--no_progress"])  # fmt: skip

    class Split(list):
        dataset_info = type("Info", (), {"metadata": OTHER_HAND, "full_name": "fake/1.0.0"})

    with pytest.raises(ValueError, match="fake/1.0.0 was built with hand"):
        hoi.grouped_grasps(Split(rows), 64, hand_model=__import__("mgd_jax").hand.load(None))
