"""Contact maps both ways (evaluators.hand_object_contact), per-part rates and heat-map renders."""

import numpy as np
import pytest
import trimesh

from mgd_jax import contact_render, evaluators, hand, images

RADIUS = 0.04


@pytest.fixture(scope="module")
def grasp():
    """The procedural hand's flat pose pressed into a sphere: palm inside, fingers around."""
    model = hand.load(None)
    verts = np.asarray(hand.forward(model, np.zeros((1, 16, 3)), np.zeros((1, 3))).vertices)[0]
    hand_mesh = hand.to_trimesh(verts, model)
    centre = verts.mean(axis=0) + np.array([0.0, 0.0, 0.03])
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=RADIUS)
    sphere.apply_translation(centre)
    points = np.asarray(sphere.sample(400, seed=0))
    labels = evaluators.finger_labels_from_weights(np.asarray(model.weights))
    return hand_mesh, sphere, points, labels, centre


def test_contact_map_distances_signs_and_parts(grasp):
    hand_mesh, sphere, points, labels, centre = grasp
    c = evaluators.hand_object_contact(hand_mesh, sphere, points, labels)
    v = np.asarray(hand_mesh.vertices)
    # Signed distance of the hand vertices: the analytic sphere's, up to its faceting.
    want = np.linalg.norm(v - centre, axis=1) - RADIUS
    np.testing.assert_allclose(c["hand_distance_m"], want, atol=6e-4)
    np.testing.assert_array_equal(c["hand_contact"], c["hand_distance_m"] <= 0.005)
    assert (c["hand_distance_m"] < 0).any() and (c["hand_distance_m"] > 0.005).any()
    # Object points: distance to the hand's surface (at most the nearest vertex's distance)
    # and the part of the nearest hand vertex.
    nearest_v = np.linalg.norm(points[:, None] - v[None], axis=-1)
    assert np.all(c["object_distance_m"] <= nearest_v.min(axis=1) + 1e-6)
    assert np.all(c["object_distance_m"] >= 0)
    np.testing.assert_array_equal(c["object_part"], labels[nearest_v.argmin(axis=1)])
    np.testing.assert_array_equal(c["object_contact"], c["object_distance_m"] <= 0.005)
    np.testing.assert_array_equal(c["finger_contact"],
                                  evaluators.fingers_in_contact(c["hand_contact"], labels))
    assert c["finger_contact"][0]  # the palm is pressed in


def test_bad_inputs_are_refused(grasp):
    hand_mesh, sphere, points, labels, _ = grasp
    with pytest.raises(ValueError, match="finger_labels"):
        evaluators.hand_object_contact(hand_mesh, sphere, points, labels[:10])
    bad = points.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluators.hand_object_contact(hand_mesh, sphere, bad, labels)
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        evaluators.finger_contact_rates(np.zeros((3, 5), bool))


def test_finger_contact_rates_and_the_summary_table():
    fc = np.array([[1, 1, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0]], bool)
    rates = evaluators.finger_contact_rates(fc)
    assert rates == {"palm": 0.5, "thumb": 1.0, "index": 0.5, "middle": 0.0, "ring": 0.0,
                     "pinky": 0.0}  # fmt: skip
    summary, md = evaluators.summary_table({"contact": np.array([True, True]),
                                            "finger_contact": fc}, 2, 0)  # fmt: skip
    assert summary["finger_contact_rate"]["thumb"] == 1.0
    assert "| palm | thumb | index | middle | ring | pinky |" in md
    assert "| 50.0 | 100.0 | 50.0 | 0.0 | 0.0 | 0.0 |" in md


def test_heat_map_colours_bands_from_contact_to_far(grasp, tmp_path):
    hand_mesh, sphere, points, labels, _ = grasp
    np.testing.assert_array_equal(contact_render.distance_bands([-0.01, 0.0, 0.0049, 0.019, 0.5]),
                                  [0, 0, 1, 7, 7])  # fmt: skip
    colors = contact_render.band_colors()
    assert colors[0, 0] > colors[0, 2] and colors[-1, 2] > colors[0, 2]  # red first, blue-ish last
    c = evaluators.hand_object_contact(hand_mesh, sphere, points, labels)
    image = contact_render.heatmap_views(hand_mesh.vertices, hand_mesh.faces, c["hand_distance_m"],
                                         points, c["object_distance_m"], size=96)  # fmt: skip
    assert image.dtype == np.uint8 and image.shape[1] > 2 * 96
    # Warm pixels (contact) on the hand tile and the object tile.
    red = (image[..., 0] > 150) & (image[..., 1] < 80) & (image[..., 2] < 80)
    half = image.shape[1] // 2
    assert red[:, :half].sum() > 20 and red[:, half:].sum() > 20
    images.save_png(tmp_path / "contact.png", image)
