"""Image maps derived from renders, and image utilities: normals and edges from depth, viewable
depth/normal images, PNG writing, labelled contact sheets.

Camera space is OpenGL's (x right, y up, z towards the viewer); depth is meters along the view
axis with 0 on background. Used by ``mgd_jax.render`` and by anything that writes figures.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

def _intrinsics(fovy_deg: float, height: int, width: int) -> np.ndarray:
    """(3,3) pinhole matrix [px]: focal length and principal point."""
    focal = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def _backproject(depth: np.ndarray, fovy_deg: float) -> np.ndarray:
    """(H,W) z-depth [m] -> (H,W,3) camera-space points [m], OpenGL axes."""
    height, width = depth.shape
    k = _intrinsics(fovy_deg, height, width)
    cols = (np.arange(width) + 0.5 - k[0, 2]) / k[0, 0]
    rows = (np.arange(height) + 0.5 - k[1, 2]) / k[1, 1]
    x = cols[None, :] * depth
    y = -rows[:, None] * depth
    return np.stack([x, y, -depth], axis=-1)


def _one_sided_diff(points: np.ndarray, valid: np.ndarray, axis: int) -> np.ndarray:
    """Finite difference along ``axis`` choosing, per pixel, the neighbour
    (forward or backward) with the smaller depth jump, so tangents do not
    straddle depth discontinuities.  (H,W,3) -> (H,W,3); zero where no valid
    neighbour exists."""
    fwd = np.zeros_like(points)
    bwd = np.zeros_like(points)
    fwd_ok = np.zeros(valid.shape, bool)
    bwd_ok = np.zeros(valid.shape, bool)
    head = [slice(None)] * 2
    tail = [slice(None)] * 2
    head[axis], tail[axis] = slice(None, -1), slice(1, None)
    head, tail = tuple(head), tuple(tail)
    fwd[head] = points[tail] - points[head]
    bwd[tail] = points[tail] - points[head]
    fwd_ok[head] = valid[tail] & valid[head]
    bwd_ok[tail] = valid[tail] & valid[head]
    fwd_jump = np.where(fwd_ok, np.abs(fwd[..., 2]), np.inf)
    bwd_jump = np.where(bwd_ok, np.abs(bwd[..., 2]), np.inf)
    use_fwd = fwd_jump <= bwd_jump
    diff = np.where(use_fwd[..., None], fwd, bwd)
    return np.where((fwd_ok | bwd_ok)[..., None], diff, 0.0)


def normals_from_depth(depth: np.ndarray, fovy_deg: float) -> np.ndarray:
    """Camera-space unit normals from a z-depth map.

    Args:
      depth: (H, W) distance along the optical axis [m]; 0 marks background.
      fovy_deg: vertical field of view of the rendering camera [deg].

    Returns:
      (H, W, 3) float32 unit normals in OpenGL camera axes (x right, y up,
      z towards the viewer), oriented towards the camera; 0 on background and
      on isolated pixels.
    """
    depth = np.asarray(depth, dtype=np.float64)
    valid = depth > 0
    points = _backproject(depth, fovy_deg)
    d_col = _one_sided_diff(points, valid, axis=1)  # along +x in the image
    d_row = _one_sided_diff(points, valid, axis=0)  # along -y in the image
    normal = np.cross(d_row, d_col)
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    ok = valid & (norm[..., 0] > 0)
    normal = np.where(ok[..., None], normal / np.maximum(norm, 1e-30), 0.0)
    # Face the camera: the ray to the camera is -points.
    facing = np.sum(normal * points, axis=-1) > 0
    normal[facing] *= -1
    return normal.astype(np.float32)


def _sobel_magnitude(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of (H,W) or (H,W,C) (summed over C), edge-padded,
    normalised so a unit-per-pixel ramp gives 1."""
    img = image if image.ndim == 3 else image[..., None]
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return np.sqrt(np.sum(gx**2 + gy**2, axis=-1)) / 8.0


def _label_boundary(labels: np.ndarray) -> np.ndarray:
    """(H,W) bool: pixels whose 4-neighbourhood holds a different label."""
    edge = np.zeros(labels.shape, bool)
    diff_r = labels[:, 1:] != labels[:, :-1]
    diff_d = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= diff_r
    edge[:, :-1] |= diff_r
    edge[1:, :] |= diff_d
    edge[:-1, :] |= diff_d
    return edge


def edges_from_maps(depth: np.ndarray, normal: np.ndarray, segment: np.ndarray,
                    fovy_deg: float, max_slope_deg: float = 80.0,
                    normal_threshold: float = 0.35) -> np.ndarray:
    """Edge map from silhouettes, depth jumps and creases.

    Args:
      depth: (H, W) z-depth [m], 0 on background.
      normal: (H, W, 3) unit camera-space normals, 0 on background.
      segment: (H, W) int item ids, -1 on background.
      fovy_deg: vertical field of view [deg].
      max_slope_deg: a depth change per pixel steeper than a surface seen at
        this angle from the view direction counts as a discontinuity.
      normal_threshold: Sobel magnitude of the normal map (change of the unit
        normal per pixel) above which a crease is marked.

    Returns:
      (H, W) uint8, 255 on edges, 0 elsewhere.
    """
    fg = segment >= 0
    focal = _intrinsics(fovy_deg, *depth.shape)[0, 0]
    # Background (depth 0) would make every outline a huge jump; outlines come
    # from the label boundary instead, so give it the farthest depth.
    filled = np.where(fg, depth, np.max(depth) if fg.any() else 0.0)
    footprint = np.maximum(filled, 1e-9) / focal  # meters per pixel
    slope = _sobel_magnitude(filled) / footprint
    depth_edge = fg & (slope > math.tan(math.radians(max_slope_deg)))
    crease = fg & (_sobel_magnitude(np.where(fg[..., None], normal, 0.0)) > normal_threshold)
    # Both sides of each outline (object/background, object/object) are
    # marked, so outlines are closed and two pixels wide.
    silhouette = _label_boundary(segment)
    return ((depth_edge | crease | silhouette) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def depth_to_image(depth: np.ndarray, near: float | None = None,
                   far: float | None = None) -> np.ndarray:
    """Viewable depth: (H,W) z-depth [m] (0 = background) -> (H,W) uint8.

    Near is bright (255), far is dark (40), background is 0.  ``near``/``far``
    [m] default to the foreground's depth range; pass them to share one scale
    across views.
    """
    depth = np.asarray(depth, dtype=np.float64)
    fg = depth > 0
    if not fg.any():
        return np.zeros(depth.shape, np.uint8)
    near = float(depth[fg].min()) if near is None else near
    far = float(depth[fg].max()) if far is None else far
    t = np.clip((depth - near) / max(far - near, 1e-9), 0.0, 1.0)
    return np.where(fg, np.round(255 - 215 * t), 0).astype(np.uint8)


def normal_to_image(normal: np.ndarray) -> np.ndarray:
    """(H,W,3) unit normals -> (H,W,3) uint8 via ``(n + 1) / 2 * 255``.

    Background (zero normals) stays 0.  A surface facing the camera is
    (128, 128, 255).
    """
    normal = np.asarray(normal, dtype=np.float64)
    fg = np.any(normal != 0, axis=-1, keepdims=True)
    packed = np.round((np.clip(normal, -1, 1) + 1) * 127.5)
    return np.where(fg, packed, 0).astype(np.uint8)


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 (H,W) grey, bool mask, or (H,W,3|4) -> (H,W,3) uint8."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (or bool) image, got dtype {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return image[..., :3]
    raise ValueError(f"expected an image of shape (H,W), (H,W,3) or (H,W,4), got {image.shape}")


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Writes a uint8 (H,W) grey, (H,W,3) RGB or (H,W,4) RGBA image (or a bool
    mask) as PNG, creating parent folders.  Returns the path."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))
    ):
        raise ValueError(
            f"save_png needs uint8 (H,W), (H,W,3) or (H,W,4); got {image.dtype} {image.shape}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")
    return path


def _label_font(cell_height: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font, scaled with the tile height where FreeType allows."""
    try:
        return ImageFont.load_default(size=max(11, cell_height // 24))
    except (TypeError, ImportError, OSError):  # bitmap-only Pillow builds
        return ImageFont.load_default()


def contact_sheet(images: Sequence[np.ndarray], ncols: int,
                  labels: Sequence[str] | None = None, pad: int = 4,
                  background: int = 255) -> np.ndarray:
    """Tiles uint8 images (grey, RGB, RGBA or bool) row-major into one image.

    Each cell is as large as the largest image; smaller images are centred.
    With ``labels``, a text strip (Pillow's default font) is added above each
    image.

    Returns:
      (H', W', 3) uint8 RGB.
    """
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    tiles = [_as_rgb_uint8(im) for im in images]
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    font = _label_font(cell_h)
    label_h = 0
    if labels is not None:
        top, bottom = font.getbbox("Ag")[1::2]
        label_h = int(bottom - top) + 2 * pad
    nrows = -(-len(tiles) // ncols)
    sheet_h = nrows * (cell_h + label_h) + (nrows + 1) * pad
    sheet_w = ncols * cell_w + (ncols + 1) * pad
    sheet = Image.new("RGB", (sheet_w, sheet_h), (background,) * 3)
    draw = ImageDraw.Draw(sheet)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, ncols)
        x0 = pad + c * (cell_w + pad)
        y0 = pad + r * (cell_h + label_h + pad)
        if labels is not None:
            draw.text((x0 + pad, y0 + pad), str(labels[k]), fill=(0, 0, 0), font=font)
        off_y = y0 + label_h + (cell_h - tile.shape[0]) // 2
        off_x = x0 + (cell_w - tile.shape[1]) // 2
        sheet.paste(Image.fromarray(tile), (off_x, off_y))
    return np.asarray(sheet)
