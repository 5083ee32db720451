"""Several hosts: two processes on CPU with a local coordinator train exactly like one process
with the same global batch, end with identical parameters, and resume together."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs launch.main in this process and prints the step and a digest of its EMA parameters.
SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    import launch
    from mgd_jax import sharding
    state = launch.main(sys.argv[1:])
    leaves = [np.asarray(x) for x in __import__("jax").tree.leaves(sharding.local_copy(state.params))]
    digest = hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest()
    np.save(sys.argv[1].split("=")[1] + f".params{__import__('jax').process_index()}.npy",
            np.concatenate([x.ravel() for x in leaves]))
    print("RESULT", int(np.asarray(state.step.addressable_data(0))), digest, flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flags(workdir, steps):
    return [f"--workdir={workdir}", f"--config={ROOT}/configs/point_vae.py:tiny",
            f"--config.total_steps={steps}", "--config.ckpt.every_steps=2",
            "--config.ckpt.async_save=False", "--config.data.batch_size=4"]  # fmt: skip


def _run(workdir, steps, processes, devices_per_process=1):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}")
    port = _free_port()
    procs = []
    for i in range(processes):
        extra = ([f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={processes}",
                  f"--process_id={i}"] if processes > 1 else [])  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "-c", SCRIPT, *_flags(workdir, steps), *extra],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))  # fmt: skip
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-3000:]
        line = [x for x in out.splitlines() if x.startswith("RESULT")][-1].split()
        results.append((int(line[1]), line[2]))
    return results


def _params(workdir, index=0):
    return np.load(f"{workdir}.params{index}.npy")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One process with two devices: the reference for the same global batch of 4."""
    root = tmp_path_factory.mktemp("one_process")
    _run(root / "run", 4, processes=1, devices_per_process=2)
    four = _params(root / "run")
    _run(root / "run", 6, processes=1, devices_per_process=2)
    return four, _params(root / "run")


def test_two_processes_train_like_one_and_resume_together(single, tmp_path):
    workdir = tmp_path / "two"
    first = _run(workdir, 4, processes=2)
    assert [r[0] for r in first] == [4, 4] and first[0][1] == first[1][1]  # identical parameters
    np.testing.assert_allclose(_params(workdir, 0), single[0], rtol=1e-5, atol=1e-6)
    steps = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert steps[-1] == 4  # written once, readable by both
    resumed = _run(workdir, 6, processes=2)  # both restore step 4 and continue
    assert [r[0] for r in resumed] == [6, 6] and resumed[0][1] == resumed[1][1]
    np.testing.assert_allclose(_params(workdir, 1), single[1], rtol=1e-5, atol=1e-6)
