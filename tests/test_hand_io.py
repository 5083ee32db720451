"""Reading the official MANO pickle without chumpy, and our .npz schema."""

import pickle
import sys
import types

import numpy as np
import pytest

from mgd_jax import hand
from mgd_jax.hand import fixtures


def _install_chumpy_stand_in():
    """A minimal module tree named like chumpy, so pickles reference chumpy.ch.Ch etc."""
    root = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    reordering = types.ModuleType("chumpy.reordering")

    class Ch:  # chumpy keeps a terminal node's value under 'x'
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    class Select:  # a lazy view: a.ravel()[idxs].reshape(preferred_shape)
        def __init__(self, a, idxs, preferred_shape):
            self.a = a
            self.idxs = idxs
            self.preferred_shape = preferred_shape

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    Select.__module__, Select.__qualname__ = "chumpy.reordering", "Select"
    ch.Ch = Ch
    reordering.Select = Select
    root.ch = ch
    root.reordering = reordering
    sys.modules.update({"chumpy": root, "chumpy.ch": ch, "chumpy.reordering": reordering})
    return Ch, Select


def _remove_chumpy_stand_in():
    for name in ("chumpy", "chumpy.ch", "chumpy.reordering"):
        sys.modules.pop(name, None)


def write_official_format_pickle(path, arrays):
    """Write a MANO-format pickle: chumpy objects for shapedirs (a Select over 20 components,
    as in the release), v_template/J/weights/posedirs as Ch, sparse CSC J_regressor."""
    ch_cls, select_cls = _install_chumpy_stand_in()
    try:
        v = arrays["v_template"].shape[0]
        wide = np.concatenate([arrays["shapedirs"], np.full((v, 3, 10), 99.0)], axis=2)
        idxs = np.arange(wide.size).reshape(wide.shape)[:, :, :10].ravel()
        data = dict(arrays)
        data["shapedirs"] = select_cls(ch_cls(wide), idxs, (v, 3, 10))
        for key in ("v_template", "J", "weights", "posedirs"):
            data[key] = ch_cls(arrays[key])
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=2)
    finally:
        _remove_chumpy_stand_in()


def test_reads_official_format_pickle_without_chumpy(tmp_path):
    arrays = fixtures.random_mano_arrays(seed=4)
    path = tmp_path / "MANO_RIGHT.pkl"
    write_official_format_pickle(path, arrays)
    assert "chumpy" not in sys.modules
    raw = hand.read_mano_pickle(str(path))
    np.testing.assert_array_equal(raw["shapedirs"], arrays["shapedirs"])
    np.testing.assert_array_equal(raw["J_regressor"], arrays["J_regressor"].toarray())
    model = hand.load(path)
    assert model.side == "right" and model.num_vertices == 778
    assert model.faces.shape == (1538, 3) and model.tip_vertex_ids == (745, 317, 444, 556, 673)
    np.testing.assert_allclose(model.v_template, arrays["v_template"], atol=1e-7)
    np.testing.assert_allclose(model.posedirs, arrays["posedirs"], atol=1e-7)
    expected = hand.io.from_mano_arrays(arrays, "<arrays>", "right")
    assert hand.fingerprint(model) == hand.fingerprint(expected)
    left = tmp_path / "MANO_LEFT.pkl"
    left.write_bytes(path.read_bytes())
    assert hand.load(left).side == "left"


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"v_template": np.zeros((3, 3)), "x": pickle.loads}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing to load global"):
        hand.load(path)


def test_missing_truncated_and_wrong_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="MANO_RIGHT.pkl"):
        hand.load(tmp_path / "nope" / "MANO_RIGHT.pkl")
    arrays = fixtures.random_mano_arrays(seed=1)
    good = tmp_path / "MANO_RIGHT.pkl"
    write_official_format_pickle(good, arrays)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pkl.*not a readable MANO pickle"):
        hand.load(truncated)
    wrong = tmp_path / "wrong.pkl"
    with open(wrong, "wb") as f:
        pickle.dump({"v_template": np.zeros((10, 3))}, f, protocol=2)
    with pytest.raises(ValueError, match="wrong.pkl: missing MANO fields"):
        hand.load(wrong)
    bad_shape = dict(arrays)
    bad_shape["posedirs"] = arrays["posedirs"][:, :, :100]
    odd = tmp_path / "odd.pkl"
    write_official_format_pickle(odd, bad_shape)
    with pytest.raises(ValueError, match="odd.pkl: field 'posedirs' has shape"):
        hand.load(odd)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        hand.load(text)


def test_npz_round_trip_and_errors(tmp_path):
    model = hand.load(None)
    path = tmp_path / "hand.npz"
    hand.save_npz(model, str(path))
    again = hand.load(path)
    assert hand.fingerprint(again) == hand.fingerprint(model)
    assert again.name == model.name and again.tip_vertex_ids == model.tip_vertex_ids
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cut.npz"):
        hand.load(truncated)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="not an mgd_jax hand .npz"):
        hand.load(other)


def test_fingerprint_distinguishes_models():
    a = hand.io.from_mano_arrays(fixtures.random_mano_arrays(seed=1), "a", "right")
    b = hand.io.from_mano_arrays(fixtures.random_mano_arrays(seed=2), "b", "right")
    assert hand.fingerprint(a) != hand.fingerprint(b)
    assert hand.fingerprint(a) != hand.fingerprint(hand.load(None))
