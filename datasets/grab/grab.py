"""grab: right-hand grasps from GRAB (Taheri et al. 2020), hand in the object-centric frame.

Where the files go. Extract the release with GRAB's ``grab/unzip_grab.py`` so that the GRAB root
holds ``grab/s1 .. s10/<object>_<intent>[_<n>].npz`` and ``tools/object_meshes/contact_meshes/
<object>.ply``, then:

    python -m mgd_jax.build_dataset datasets/grab --manual_dir=/path/to/GRAB \\
        --mano_path=/path/to/MANO_RIGHT.pkl            # --config=stride1 for every frame

Without ``--mano_path`` the procedural hand is used and a warning is logged: the hand translation
depends on the model's rest wrist joint J0 (see below), so a dataset built with one hand model
must be used with that model (the model's name and fingerprint are stored in the dataset
metadata, ``hand_model`` and ``hand_fingerprint``).

Layout and keys assumed (otaheri/GRAB: ``tools/utils.py`` ``parse_npz``, ``examples/
visualize_grab.py``, ``grab/grab_preprocessing.py``, ``tools/objectmodel.py``):
  - each sequence is an ``.npz`` read with ``allow_pickle=True``, every entry ``.item()``-ed; we
    read ``obj_name`` (else the file-name prefix before the first ``_``), ``rhand.params``
    (``global_orient`` (T, 3), ``transl`` (T, 3), ``fullpose`` (T, 45) finger axis-angle; with
    ``--mano_path`` and no ``fullpose``, ``hand_pose`` (T, n_comps) PCA coefficients are expanded
    with the MANO basis), ``object.params`` (``global_orient`` (T, 3), ``transl`` (T, 3)),
    ``object.object_mesh`` (path relative to the GRAB root; if it is missing we look for
    ``tools/object_meshes/contact_meshes/<object>.ply``) and ``contact.object`` (T, V_obj) int
    labels per object vertex.
  - The right-hand MANO of GRAB is created with ``flat_hand_mean=True`` (``grab_preprocessing.py``
    builds it with ``smplx.create(..., model_type='mano', flat_hand_mean=True)``), so ``fullpose``
    is already the absolute finger pose that ``mgd_jax.hand.forward`` takes. GRAB stores the
    subject's hand shape as a template mesh (``rhand.vtemp``, a path relative to the GRAB root,
    e.g. ``tools/subject_meshes/male/s1_rhand.ply``; GrabNet builds the hand with
    ``v_template=vtemp``), not as betas. We fit ``betas`` to it (least squares in the model's
    shape space) and place the hand so that its wrist is exactly the subject's
    (``J0 = J_regressor[0] vtemp``); when the file is missing, or has another vertex count than
    the hand model, the mean shape is used (``betas = 0``) with a warning.
  - Objects: ``ObjectModel.forward`` computes ``verts = v_template @ R(global_orient) + transl``
    (row vectors), i.e. x_world = R_o x_obj + t_o with R_o = R(global_orient)^T. Meshes are in
    meters.
  - Contact labels are ``contact_ids`` of ``tools/utils.py``: 0 = no contact, else the SMPL-X part
    + 1; the right hand is ``R_Hand`` = 22 and ``R_Index1`` .. ``R_Thumb3`` = 41 .. 55. A frame is
    kept when at least one object vertex carries a right-hand label (the paper drops frames whose
    right hand has no contact; GRAB's own ``only_contact`` keeps any body contact).

Hand into the object frame, per frame. A MANO hand posed with global rotation R_h and translation
t_h has its root at J0 + t_h and every point at R_h (x - J0) + J0 + t_h (x a point of the
finger-posed rest hand). The object-centric frame is x_c = R_o^T (x_world - t_o) - c, with c the
bounding-box centre of the object mesh (``mgd_jax.objects.normalize``). Hence

    global_orient' = R_o^T R_h,      transl' = R_o^T (J0 + t_h - t_o) - c - J0,

finger joints unchanged (they are relative rotations). J0 is the rest root joint of the hand model
at betas = 0, in meters.

Frames: the configs subsample frames by index (``t % stride == 0``; GRAB is 120 fps), then keep
right-hand contact frames. Splits by object, the GrabNet split as written in the default
``grab_splits`` of otaheri/GRAB ``grab/grab_preprocessing.py``: test = mug, wineglass, camera,
binoculars, fryingpan, toothpaste; validation = apple, toothbrush, elephant, hand; train = the
rest. Object points: 2048 uniform surface samples (and normals) of the contact
mesh in the object-centric frame, meters, the same for every frame of an object.

A sequence that cannot be read, lacks a key, has inconsistent frame counts or whose object mesh
fails to load is skipped with a logged reason; the number skipped is logged per split.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os

import numpy as np
import tensorflow_datasets as tfds
import trimesh
from scipy.spatial.transform import Rotation

from datasets.hoi_common import HOIBuilder, hoi_example
from mgd_jax import objects
from mgd_jax.hand import rest_root_joint
from mgd_jax.objects import examples

RIGHT_HAND_CONTACT_IDS = (22,) + tuple(range(41, 56))  # R_Hand, R_Index1 .. R_Thumb3
TEST_OBJECTS = ("mug", "wineglass", "camera", "binoculars", "fryingpan", "toothpaste")
VALIDATION_OBJECTS = ("apple", "toothbrush", "elephant", "hand")
CONTACT_MESH_DIR = os.path.join("tools", "object_meshes", "contact_meshes")


def split_of(object_name: str) -> str:
    """GrabNet's object split: 'test', 'validation' or 'train'."""
    if object_name in TEST_OBJECTS:
        return "test"
    if object_name in VALIDATION_OBJECTS:
        return "validation"
    return "train"


def sequence_paths(root: str) -> list[tuple[str, str]]:
    """(subject, npz path) for every ``<root>/grab/<subject>/*.npz``, sorted."""
    grab_dir = os.path.join(root, "grab")
    if not os.path.isdir(grab_dir):
        raise FileNotFoundError(
            f"grab: {grab_dir} not found; --manual_dir must be the GRAB root (the folder holding "
            "grab/s1..s10 and tools/object_meshes)"
        )
    out = []
    for subject in sorted(os.listdir(grab_dir)):
        for path in sorted(glob.glob(os.path.join(grab_dir, subject, "*.npz"))):
            out.append((subject, path))
    if not out:
        raise ValueError(f"grab: no sequences {grab_dir}/<subject>/*.npz")
    return out


def _get(tree: dict, dotted: str, path: str):
    node = tree
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"{path}: missing '{dotted}'")
        node = node[key]
    return node


def _frames(value, name: str, width: int | None, path: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2 or (width is not None and arr.shape[1] != width):
        want = f"(T, {width})" if width else "(T, V)"
        raise ValueError(f"{path}: '{name}' has shape {arr.shape}, expected {want}")
    return arr


def read_sequence(path: str) -> dict:
    """Read one GRAB sequence into flat arrays.

    Returns:
      Dict with obj_name (str), object_mesh (str, relative to the GRAB root), hand_orient (T, 3),
      hand_transl (T, 3) meters, finger_pose (T, 45) radians or None, hand_pca (T, n) or None,
      obj_orient (T, 3), obj_transl (T, 3) meters, contact (T, V_obj) int labels.

    Raises:
      ValueError naming the file and the key when the file is unreadable or malformed.
    """
    try:
        with np.load(path, allow_pickle=True) as npz:
            data = {k: (npz[k].item() if npz[k].ndim == 0 else npz[k]) for k in npz.files}
    except Exception as e:  # zipfile, pickle and numpy raise many types on a damaged file
        raise ValueError(f"{path}: could not read npz ({type(e).__name__}: {e})") from e
    name = data.get("obj_name")
    obj_name = str(name) if name is not None else os.path.basename(path).split("_")[0]

    def frames(dotted: str, width: int | None) -> np.ndarray:
        return _frames(_get(data, dotted, path), dotted, width, path)

    seq = {
        "obj_name": obj_name,
        "object_mesh": str(_get(data, "object.object_mesh", path)),
        "hand_orient": frames("rhand.params.global_orient", 3),
        "hand_transl": frames("rhand.params.transl", 3),
        "obj_orient": frames("object.params.global_orient", 3),
        "obj_transl": frames("object.params.transl", 3),
        "contact": frames("contact.object", None),
        "finger_pose": None,
        "hand_pca": None,
        "vtemp": str(data["rhand"].get("vtemp", "")) if isinstance(data.get("rhand"), dict) else "",
    }
    params = data["rhand"]["params"]
    if "fullpose" in params:
        full = np.asarray(params["fullpose"])
        if full.ndim != 2 or full.shape[1] not in (45, 48):
            raise ValueError(f"{path}: 'rhand.params.fullpose' has shape {full.shape}, "
                             "expected (T, 45)")  # fmt: skip
        seq["finger_pose"] = full[:, -45:]
    elif "hand_pose" in params:
        seq["hand_pca"] = frames("rhand.params.hand_pose", None)
    else:
        raise ValueError(f"{path}: 'rhand.params' has neither 'fullpose' nor 'hand_pose'")
    lengths = {k: len(v) for k, v in seq.items() if isinstance(v, np.ndarray)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{path}: per-frame arrays disagree on the frame count: {lengths}")
    for k, v in seq.items():
        if isinstance(v, np.ndarray) and k != "contact" and not np.all(np.isfinite(v)):
            raise ValueError(f"{path}: '{k}' has NaN or Inf values")
    return seq


def selected_frames(contact: np.ndarray, stride: int) -> np.ndarray:
    """Frame indices t with ``t % stride == 0`` whose object touches the right hand.

    Args:
      contact: (T, V_obj) GRAB contact labels of the object vertices.
      stride: keep every ``stride``-th frame before the contact test.

    Returns:
      (K,) int64 frame indices, increasing.
    """
    touches = np.isin(contact, RIGHT_HAND_CONTACT_IDS).any(axis=1)
    frames = np.arange(len(contact))
    return frames[(frames % stride == 0) & touches]


def hand_to_object_frame(
    hand_orient: np.ndarray,
    hand_transl: np.ndarray,
    obj_rotation: np.ndarray,
    obj_transl: np.ndarray,
    root_joint: np.ndarray,
    center: np.ndarray,
    model_root_joint: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Express MANO global parameters in the object-centric frame.

    Args:
      hand_orient: (T, 3) MANO global orientation in the world, axis-angle radians.
      hand_transl: (T, 3) MANO ``transl`` in the world, meters.
      obj_rotation: (T, 3, 3) R_o with x_world = R_o x_obj + t_o.
      obj_transl: (T, 3) t_o, meters.
      root_joint: (3,) rest root joint J0 of the recorded hand (its template), meters.
      center: (3,) object-centric offset c (x_c = x_obj - c), meters.
      model_root_joint: (3,) J0' of the hand the stored parameters are for (the model at the
        stored betas); default ``root_joint``.

    Returns:
      orient (T, 3) axis-angle of R_o^T R_h, transl (T, 3) = R_o^T (J0 + t_h - t_o) - c - J0':
      the stored hand's wrist is the recorded hand's wrist.
    """
    r_t = np.swapaxes(obj_rotation, -1, -2)
    r_h = Rotation.from_rotvec(hand_orient).as_matrix()
    orient = Rotation.from_matrix(r_t @ r_h).as_rotvec()
    root_world = root_joint + hand_transl - obj_transl
    model_root = root_joint if model_root_joint is None else model_root_joint
    transl = np.einsum("tij,tj->ti", r_t, root_world) - center - model_root
    return orient, transl


def fit_betas(model, vtemp: np.ndarray) -> np.ndarray:
    """(10,) betas whose shape-blended template is nearest (least squares) to ``vtemp`` (V, 3)."""
    dirs = np.asarray(model.shapedirs, np.float64).reshape(-1, np.shape(model.shapedirs)[-1])
    delta = (np.asarray(vtemp, np.float64) - np.asarray(model.v_template, np.float64)).reshape(-1)
    return np.linalg.lstsq(dirs, delta, rcond=None)[0]


def grab_object_rotation(global_orient: np.ndarray) -> np.ndarray:
    """(T, 3, 3) R_o of GRAB's ``ObjectModel`` (``v @ R(global_orient) + transl``): R(g)^T."""
    return np.swapaxes(Rotation.from_rotvec(global_orient).as_matrix(), -1, -2)


@dataclasses.dataclass
class GrabConfig(tfds.core.BuilderConfig):
    frame_stride: int = 4  # keep frames t with t % frame_stride == 0 (GRAB is 120 fps)


class Grab(HOIBuilder):
    """GRAB right-hand contact frames, hand and object points in the object-centric frame."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [
        GrabConfig(name="stride4", description="every 4th frame (30 fps)", frame_stride=4),
        GrabConfig(name="stride1", description="every frame (120 fps)", frame_stride=1),
        GrabConfig(name="stride12", description="every 12th frame (10 fps)", frame_stride=12),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Pass the GRAB root (holding grab/s1..s10 and tools/object_meshes) with --manual_dir, "
        "and the MANO right-hand model with --mano_path."
    )

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        sequences = sequence_paths(root)
        model = self._hand_model()
        by_split = {"train": [], "validation": [], "test": []}
        for subject, path in sequences:
            by_split[split_of(os.path.basename(path).split("_")[0])].append((subject, path))
        logging.info("grab: %d sequences, stride %d", len(sequences),
                     self.builder_config.frame_stride)  # fmt: skip
        cache: dict = {}
        return {s: self._generate_examples(root, items, model, cache)
                for s, items in by_split.items() if items}  # fmt: skip

    def _object(self, root: str, path: str, seq: dict, cache: dict):
        """(object example, centre) for the sequence's object, loaded once; raises on failure."""
        name = seq["obj_name"]

        def load():
            mesh_path = os.path.join(root, seq["object_mesh"])
            if not os.path.isfile(mesh_path):
                mesh_path = os.path.join(root, CONTACT_MESH_DIR, f"{name}.ply")
            mesh = objects.load_mesh(mesh_path, units="m")
            _, center, _ = objects.normalize(mesh)
            return examples.make_example(mesh, name, "grab", 1.0), center

        return self._cached(cache, name, load, f"{path}: object '{name}'")

    @staticmethod
    def _subject_shape(root: str, vtemp: str, model):
        """(betas (10,), recorded J0 (3,), model J0 at those betas (3,)) of a subject's template;
        the mean shape, with a warning, when the template cannot be used."""
        path = os.path.join(root, vtemp) if vtemp else ""
        try:
            if not path or not os.path.isfile(path):
                raise ValueError("file not found")
            verts = np.asarray(trimesh.load(path, process=False, force="mesh").vertices, np.float64)
            if verts.shape != np.shape(model.v_template):
                raise ValueError(f"{len(verts)} vertices, the hand model has {model.num_vertices}")
        except (ValueError, OSError) as e:
            logging.warning("grab: hand template %s unusable (%s); using the mean shape (betas 0)",
                            path or "(none given)", e)  # fmt: skip
            j0 = rest_root_joint(model)
            return np.zeros(10), j0, j0
        betas = fit_betas(model, verts)
        recorded = np.asarray(model.j_regressor, np.float64)[0] @ verts
        return betas, recorded, rest_root_joint(model, betas)

    def _generate_examples(self, root, items, model, cache):
        from mgd_jax import hand

        stride = self.builder_config.frame_stride
        shapes: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        skipped = kept = seen = 0
        for subject, path in items:
            try:
                seq = read_sequence(path)
                obj_example, center = self._object(root, path, seq, cache)
            except (ValueError, OSError) as e:  # one bad sequence never aborts the build
                skipped += 1
                logging.warning("grab: skipping sequence: %s", e)
                continue
            frames = selected_frames(seq["contact"], stride)
            seen += -(-len(seq["contact"]) // stride)
            if len(frames) == 0:
                continue
            if seq["finger_pose"] is not None:
                fingers = seq["finger_pose"][frames]
            elif self._mano_path:
                fingers = np.asarray(hand.pca_to_pose(model, seq["hand_pca"][frames],
                                                      flat_hand_mean=True))  # fmt: skip
            else:
                skipped += 1
                logging.warning("grab: skipping %s: no 'rhand.params.fullpose', and PCA "
                                "coefficients need the MANO basis (--mano_path)", path)  # fmt: skip
                continue
            if seq["vtemp"] not in shapes:
                shapes[seq["vtemp"]] = self._subject_shape(root, seq["vtemp"], model)
            betas, root_joint, model_root = shapes[seq["vtemp"]]
            orient, transl = hand_to_object_frame(
                seq["hand_orient"][frames], seq["hand_transl"][frames],
                grab_object_rotation(seq["obj_orient"][frames]), seq["obj_transl"][frames],
                root_joint, center, model_root,
            )  # fmt: skip
            pose = np.concatenate([orient[:, None], fingers.reshape(-1, 15, 3)], axis=1)
            stem = os.path.splitext(os.path.basename(path))[0]
            for i, t in enumerate(frames):
                kept += 1
                yield (
                    f"{subject}/{stem}/{t:05d}",
                    hoi_example(obj_example, pose[i], transl[i], betas),
                )
        logging.info("grab: kept %d right-hand contact frames of %d strided frames", kept, seen)
        if skipped:
            logging.warning("grab: skipped %d of %d sequences", skipped, len(items))
