"""The trainer on the tiny point-VAE config: resume, SIGTERM, damaged checkpoints, 2 devices."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from configs import point_vae as point_vae_config
from mgd_jax import checkpoint, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(total_steps, **over):
    config = point_vae_config.get_config("tiny")
    config.total_steps = total_steps
    config.ckpt.async_save = False
    for k, v in over.items():
        node, _, leaf = k.rpartition(".")
        (config if not node else config[node])[leaf] = v
    return config


def _params(state):
    return jax.tree_util.tree_leaves(jax.device_get(state.params))


def test_resume_matches_uninterrupted_run(tmp_path):
    straight = train.train_and_evaluate(tiny(4), str(tmp_path / "a"))
    train.train_and_evaluate(tiny(4), str(tmp_path / "b"), stop_at_step=2)
    resumed = train.train_and_evaluate(tiny(4), str(tmp_path / "b"))
    assert int(resumed.step) == int(straight.step) == 4
    for x, y in zip(_params(straight), _params(resumed)):
        np.testing.assert_allclose(x, y, atol=1e-6)
    # The data iterator position was saved and restored: same next batch in both runs.
    states = []
    for run in ("a", "b"):
        with open(tmp_path / run / "checkpoints" / "4" / "data" / "metadata") as f:
            states.append(json.load(f))
    assert states[0] == states[1]
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
    assert {"loss", "recon_l1", "kl", "grad_norm"} <= json.loads(lines[-1]).keys()
    assert json.loads((tmp_path / "a" / "config.json").read_text())["task"]["name"] == "point_vae"
    assert "chamfer_mm_mean" in json.loads((tmp_path / "a" / "eval.json").read_text())


def test_damaged_latest_checkpoint_falls_back_to_previous(tmp_path, caplog):
    workdir = str(tmp_path / "run")
    caplog.set_level(logging.INFO)
    state = train.train_and_evaluate(tiny(4), workdir)
    rate = re.search(r"step 4/4  ([0-9.]+) steps/s", caplog.text)
    assert rate and float(rate.group(1)) > 0  # the progress line reports a real rate
    latest = tmp_path / "run" / "checkpoints" / "4" / "state"
    for root, _, files in os.walk(latest):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "r+b") as f:
                f.truncate(max(0, os.path.getsize(path) // 3))
    ckpt = checkpoint.Checkpointer(workdir, async_save=False)
    restored = ckpt.restore_latest(state)
    ckpt.close()
    assert restored is not None and restored[0] == 2
    assert "unreadable" in caplog.text


def test_sigterm_saves_a_usable_checkpoint_and_exits_cleanly(tmp_path):
    workdir = tmp_path / "run"
    cmd = [sys.executable, os.path.join(ROOT, "launch.py"), "--config",
           os.path.join(ROOT, "configs", "point_vae.py") + ":tiny", f"--workdir={workdir}",
           "--config.total_steps=100000", "--config.ckpt.every_steps=100000"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.5)
    assert metrics.exists(), proc.communicate(timeout=5)[0][-3000:]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    steps = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert steps and 0 < steps[-1] < 100000
    state = train.train_and_evaluate(tiny(steps[-1]), str(workdir))  # resumes, nothing to do
    assert int(state.step) == steps[-1]


def test_two_devices_give_the_same_loss_as_one():
    script = textwrap.dedent(
        """
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        import functools, jax, jax.numpy as jnp, numpy as np
        from configs import point_vae
        from mgd_jax import sharding, tasks, train
        from mgd_jax.data import input_pipeline
        config = point_vae.get_config("tiny")
        task = tasks.get_task(config)
        ds = input_pipeline.make_dataset(task.train_sources(), 4, 0, transform=task.transform)
        batch = {k: jnp.asarray(v) for k, v in next(iter(ds)).items()}
        opt = train.make_optimizer(config)
        params = task.init(jax.random.PRNGKey(0), batch)
        losses = []
        for n in (1, 2):
            mesh = sharding.make_mesh(n)
            state = train.TrainState(jnp.zeros((), jnp.int32), params, params, opt.init(params))
            step = jax.jit(functools.partial(train.train_step, task=task, optimizer=opt,
                                             ema_decay=0.9),
                           in_shardings=(sharding.replicated(mesh), sharding.data_sharding(mesh),
                                         sharding.replicated(mesh)))
            b = jax.device_put(batch, sharding.data_sharding(mesh))
            _, m = step(state, b, jax.random.PRNGKey(1))
            losses.append(float(m["loss"]))
        print("DEVICES", len(jax.devices()), "LOSSES", losses[0], losses[1])
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    line = [x for x in out.stdout.splitlines() if x.startswith("DEVICES")][0].split()
    assert line[1] == "2"
    assert float(line[3]) == pytest.approx(float(line[4]), rel=1e-5)


def test_config_validation_names_the_field():
    config = tiny(4)
    config.data.weights = [1.0, 2.0]
    with pytest.raises(ValueError, match="config.data.weights"):
        train.train_and_evaluate(config, "/tmp/unused-mgd-run")


def test_sections_of_the_earlier_layout_are_refused_with_their_new_place():
    config = tiny(4)
    with config.unlocked():
        config.point_vae = {"num_points": 256}
    with pytest.raises(ValueError, match=r"config.point_vae: this section moved to config.model"):
        train.train_and_evaluate(config, "/tmp/unused-run")


def test_a_changed_config_never_restarts_silently_nor_deletes_checkpoints(tmp_path):
    workdir = str(tmp_path / "run")
    train.train_and_evaluate(tiny(2), workdir)
    before = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
    config_json = open(os.path.join(workdir, "config.json")).read()
    changed = tiny(4, **{"model.channels": (8, 16)})  # other parameter shapes: not restorable
    with pytest.raises(checkpoint.CheckpointMismatchError) as err:
        train.train_and_evaluate(changed, workdir)
    assert workdir in str(err.value) and "config.model.channels: [8, 8] -> [8, 16]" in str(err.value)
    assert "--fresh" in str(err.value)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == before
    assert open(os.path.join(workdir, "config.json")).read() == config_json
    # --fresh: the old checkpoints move aside whole, the new run starts at step 0.
    state = train.train_and_evaluate(changed, workdir, fresh=True)
    assert int(state.step) == 4
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints.replaced-1"))) == before
