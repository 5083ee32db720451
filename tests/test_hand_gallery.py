"""The hand gallery command and rendering of the procedural hand."""

import json
import os

import numpy as np

from mgd_jax import hand, hand_gallery, render


def test_hand_render_foreground_covers_the_hand():
    model = hand.load(None)
    mesh = hand.to_trimesh(np.asarray(model.v_template), model)
    (view,) = render.render_views([mesh], views=["top"], size=(128, 128))
    mask = view["mask"]
    assert view["color"].shape == (128, 128, 3) and view["color"].dtype == np.uint8
    # The hand is the only thing in the scene: the mask is where the image is not background,
    # and covers a hand-like fraction of the frame (framed to fit, not a dot, not everything).
    assert 0.08 < mask.mean() < 0.8
    background = view["color"][~mask].astype(float)
    foreground = view["color"][mask].astype(float)
    assert background.std() < 10 and np.abs(foreground.mean(0) - background.mean(0)).max() > 20
    assert np.all(view["depth"][mask] > 0)


def test_hand_gallery_writes_gallery_report_and_reuses_finished_stage(tmp_path, caplog):
    workdir = str(tmp_path / "gallery")
    hand_gallery.main(["--workdir", workdir, "--num_random", "1", "--size", "96"])
    for name in ("report.md", "hand_gallery.png", "condition_maps.png", "hand.npz", "hand_rest.obj"):
        assert os.path.getsize(os.path.join(workdir, name)) > 100, name
    report = open(os.path.join(workdir, "report.md")).read()
    assert "| flat | True |" in report and "| fist | True |" in report
    assert hand.fingerprint(hand.load(os.path.join(workdir, "hand.npz"))) == hand.fingerprint(
        hand.load(None)
    )
    with open(os.path.join(workdir, "stages.json")) as f:
        assert "hand_gallery" in json.load(f)
    stamp = os.path.getmtime(os.path.join(workdir, "hand_gallery.png"))
    caplog.set_level("INFO")
    hand_gallery.main(["--workdir", workdir, "--num_random", "1", "--size", "96"])
    assert os.path.getmtime(os.path.join(workdir, "hand_gallery.png")) == stamp
    assert "reusing finished stage" in caplog.text
