"""The demo experiment repeated over seeds, reported as mean ± 95% interval and paired differences.

    python launch.py --config=configs/study.py --workdir=runs/study
    python launch.py --config=configs/study.py:tiny --workdir=/tmp/st --config.study.seeds="(0,1)"

In the background (the demo size is hours on CPU; the log says which seed and stage it is in):

    nohup python launch.py --config=configs/study.py --workdir=runs/study > runs/study.log 2>&1 &

Run time at demo size: not measured yet (to be measured; roughly the seeds count times one
``configs/demo.py`` run, as each seed is a whole demo). Result: not measured yet.

``mgd_jax.study`` runs one complete demo experiment (``configs/demo.py``, ablations included) per
seed in ``<workdir>/seed_<s>``, with ``config.seed = s`` and the point VAE's and MGD's training
seeds offset by ``s`` (so seed 0 is exactly the demo); the ablations of a seed share its MGD
seed, which pairs them with the main model. The datasets are built once into the study's data
dir (``data_dir``, or ``<workdir>/data`` for ``tiny``) and read by every seed. Each seed trains
its own point VAE: the spread over seeds then covers the whole pipeline a reader repeating the
demo would run (the paired differences share it within a seed anyway); at demo size this costs
one point-VAE run (``configs/point_vae.py:cpu``) per seed.

After every seed, ``study.json`` and ``study.md`` in the workdir: for each sample set and
metric of the seeds' ``metrics.json``, the mean over seeds ± the half-width of the 95% Student-t
interval (n - 1 degrees of freedom), and the paper's claims as paired differences across seeds
(T2/T3 object-only data, T4 asynchronous schedulers) with their interval and direction.
The same command resumes: finished seeds are reused, an interrupted one resumes from its stages.

Arguments: '' is the demo size; ``tiny`` the toy size for tests (the tiny demo with both
ablations, so that every claim has its sets).
"""

import ml_collections

from configs import demo


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    if arg not in (None, "", "tiny"):
        raise ValueError(f"configs/study.py: unknown argument '{arg}' (use '' or 'tiny')")
    config = demo.get_config(arg)
    config.experiment = "study"
    config.ablations = ("sync_schedulers", "no_object_only")  # the claims compare against them
    config.study = ml_collections.ConfigDict()
    config.study.seeds = (0, 1, 2)  # one whole demo experiment each
    return config
