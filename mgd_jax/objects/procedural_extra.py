"""Parameter sampling and bounds of the families appended after the first 11 (pan, jug, plate,
hammer, screwdriver, knife, rounded_box, banana, bumpy_blob); parameter layouts as in
``procedural._sdf_local``. Meters. ``procedural`` dispatches to ``NEW_SAMPLERS`` / ``NEW_BOUNDS``.
"""

from __future__ import annotations

import numpy as np

from mgd_jax.objects.sdf_primitives import _BLEND, _BLOB_BUMPS, _banana_nodes


def _boxes(*boxes, margin: float = 0.0):
    """Union (lo, hi) of boxes (lo (3,), hi (3,)), grown by margin on every side."""
    lo = np.min([np.asarray(b[0], np.float64) for b in boxes], 0)
    hi = np.max([np.asarray(b[1], np.float64) for b in boxes], 0)
    return lo - margin, hi + margin


# A smooth minimum lowers the field by at most k / 4, so each one grows the bounds by _BLEND / 4.
def _pan_bounds(p):
    big_r, h, t, flare, length, w, th, tilt, zh = p[:9]
    r = big_r + flare + 0.5 * t
    rc = big_r + flare * (zh + h) / (2.0 * h)
    hx, hz = np.meshgrid([-(th + t), length], [-th, th])
    x = rc + hx * np.cos(tilt) - hz * np.sin(tilt)
    z = zh + hx * np.sin(tilt) + hz * np.cos(tilt)
    return _boxes(([-r, -r, -h - 0.5 * t], [r, r, h + 0.5 * t]),
                  ([x.min(), -w, z.min()], [x.max(), w, z.max()]), margin=0.25 * _BLEND)


def _jug_bounds(p):
    rb, h, t, r1, z1, rn, zn, rl, sp, rho, a, b = p[:12]
    top, bottom = p[12:14], p[14:16]
    r = max(rb, r1, rn, rl) + 0.5 * t
    d = np.array([rl - rn, h - zn]) / np.hypot(rl - rn, h - zn)
    tip_z = h + sp * d[1] + 0.5 * t  # the spout: within t / 2 of its band and of its disc
    e = a + b
    return _boxes(([-r, -r, -h - 0.5 * t], [r, r, h + 0.5 * t]),
                  ([min(top[0], bottom[0]) - e, -b, min(top[1], bottom[1]) - e],
                   [max(top[0], bottom[0]) + e, b, max(top[1], bottom[1]) + e]),
                  ([-rl - rho - 0.5 * t, -rho - 0.5 * t, -h], [0.0, rho + 0.5 * t, tip_z]),
                  margin=0.25 * _BLEND)


def _plate_bounds(p):
    rf, big_r, lift, t = p[:4]
    r = big_r + 0.5 * t
    return np.array([-r, -r, -0.5 * t]), np.array([r, r, lift + 0.5 * t])


def _hammer_bounds(p):
    ls, sx, sy, rs, lf, lp, rh, rp, rr, zc = p[:10]
    return _boxes(([-sx, -sy, -ls], [sx, sy, ls]),
                  ([-lp - rr, -rh, zc - rh], [max(lf, 2 * rr), rh, zc + rh]),
                  margin=0.25 * _BLEND)


def _screwdriver_bounds(p):
    lh, rb, rf, rrh, ls, rs, rfe, lfe = p[:8]
    r = max(rb, rf) + rrh
    return _boxes(([-r, -r, -lh - rrh], [r, r, lh + rrh]),
                  ([-rfe, -rfe, lh], [rfe, rfe, lh + rrh + lfe]),
                  ([-rs, -rs, lh - rs], [rs, rs, lh + rrh + ls + rs]), margin=0.5 * _BLEND)


def _knife_bounds(p):
    lb, hb, hbl, lh, wh, th, yc = p[:7]
    x0 = -0.5 * lh + 0.5 * th
    return _boxes(([-hbl, -hb - hbl, -hbl], [lb + hbl, hbl, hbl]),
                  ([x0 - 0.5 * lh, yc - wh, -th], [x0 + 0.5 * lh, yc + wh, th]),
                  margin=0.25 * _BLEND)


def _banana_bounds(p):
    ra, th, r_max, r_end, sl, sr = p[:6]
    nodes, radii = _banana_nodes(ra, th, r_max, r_end, xp=np)
    tangent = np.array([np.cos(th), -np.sin(th), 0.0])
    stem = nodes[-1] + sl * tangent
    return _boxes((np.min(nodes - radii[:, None], 0), np.max(nodes + radii[:, None], 0)),
                  (stem - sr, stem + sr), margin=0.25 * _BLEND)


def _bumpy_blob_bounds(p):
    radii, k = p[:3], p[3]
    bumps = p[4:].reshape(-1, 4)
    # n smooth minima lower the field by at most m = n k / 4; the base field
    # (|q / radii| - 1) min(radii) is <= m only within radii (1 + m / min(radii)).
    m = 0.25 * k * len(bumps)
    base = radii * (1.0 + m / radii.min())
    return _boxes((-base, base), (np.min(bumps[:, :3] - bumps[:, 3:] - m, 0),
                                  np.max(bumps[:, :3] + bumps[:, 3:] + m, 0)))


NEW_BOUNDS = {
    "pan": _pan_bounds, "jug": _jug_bounds, "plate": _plate_bounds, "hammer": _hammer_bounds,
    "screwdriver": _screwdriver_bounds, "knife": _knife_bounds,
    "rounded_box": lambda p: (-p[:3], p[:3]), "banana": _banana_bounds,
    "bumpy_blob": _bumpy_blob_bounds,
}


# Samplers of the appended families (parameter layouts as in ``_sdf_local``): every thin part
# stays >= 4 mm thick and every member fits its extent range as drawn, so ``sample_spec`` never
# rescales them (rescaling would thin them).
def _sample_pan(u, rng):
    # Body: bottom radius 4-6 cm, wall 2.4-5.6 cm high and 5-7 mm thick, flaring out by 4-15 mm;
    # handle: 7-11 cm long, 16-26 mm wide, 9-14 mm thick, tilted up 5-20 deg, near the rim.
    big_r, h, t, flare = u(0.04, 0.06), u(0.012, 0.028), u(0.005, 0.007), u(0.004, 0.015)
    w, th, tilt = u(0.008, 0.013), u(0.0045, 0.007), np.deg2rad(u(5.0, 20.0))
    length = min(u(0.07, 0.11), 0.235 - 2.0 * (big_r + flare) - t)  # largest extent < 25 cm
    return [big_r, h, t, flare, length, w, th, tilt, h - 1.2 * th]


def _sample_jug(u, rng):
    # A pitcher 11-15 cm tall (midline), walls 5-7 mm: belly radius 3.5-5 cm in the lower half,
    # narrower bottom and neck, lip flaring 45-60 deg from the vertical, continued on -x into a
    # round spout (tongue radius 1-1.6 cm); a D-shaped handle (loop 2-3 cm out, tube radius
    # 4.5-7 mm) on the straight belly-neck wall.
    r1, h, t = u(0.035, 0.05), u(0.055, 0.075), u(0.005, 0.007)
    rb, z1 = r1 * u(0.75, 0.95), -h + 2.0 * h * u(0.2, 0.4)
    rn, rl = r1 * u(0.7, 0.8), r1 * u(0.9, 1.0)
    flare = np.deg2rad(u(45.0, 60.0))
    zn = h - (rl - rn) / np.tan(flare)
    rho, b, a = u(0.01, 0.016), u(0.0045, 0.007), u(0.02, 0.03)
    belly, neck = np.array([r1, z1]), np.array([rn, zn])
    wall = np.linalg.norm(neck - belly)
    a = min(a, 0.45 * wall - b - 0.002)  # the loop, tube included, stays between belly and neck
    e = (neck - belly) / wall
    spout = (rho + 0.002) / np.sin(flare)  # the spout band reaches past the tongue
    return np.concatenate([[rb, h, t, r1, z1, rn, zn, rl, spout, rho, a, b],
                           neck - (a + b + 0.002) * e, belly + (a + b + 0.002) * e])


def _sample_plate(u, rng):
    # Radius 4-10.5 cm, 5-10 mm thick, flat to 50-80 % of the radius, then a rim rising at a
    # slope of up to 0.5 (a sixth of the members are flat discs: coasters, lids).
    slope = max(u(-0.1, 0.5), 0.0)
    big_r, t = u(0.04, 0.105), u(0.005, 0.01)
    rf = big_r * u(0.5, 0.8)
    return [rf, big_r, (big_r - rf) * slope, t]


def _sample_hammer(u, rng):
    # Shaft 16-22.4 cm long, 16-26 mm by 10-22 mm (rounded); head radius 1-1.6 cm: a cylindrical
    # face 2.5-4.5 cm long and a peen tapering over 3-5.5 cm; head centred near the shaft top.
    ls, sx = u(0.08, 0.112), u(0.008, 0.013)
    sy = sx * u(0.6, 0.85)
    rh, lf, lp, rr = u(0.01, 0.016), u(0.025, 0.045), u(0.03, 0.055), u(0.002, 0.0035)
    return [ls, sx, sy, 0.8 * sy, lf, lp, rh, (rh - rr) * u(0.3, 0.6), rr, ls - 0.6 * rh]


def _sample_screwdriver(u, rng):
    # Handle 8.6-12 cm long, radius 1.2-1.8 cm at the back, tapering to 75-100 % of it; a
    # ferrule; a shaft 5-12 cm long of radius 2.5-4 mm (5-8 mm thick).
    lh, rb, rrh = u(0.04, 0.055), u(0.009, 0.013), u(0.003, 0.005)
    rs = u(0.0025, 0.004)
    return [lh, rb, rb * u(0.75, 1.0), rrh, u(0.05, 0.12), rs, rs + u(0.002, 0.004),
            u(0.006, 0.012)]


def _sample_knife(u, rng):
    # Blade 8-14 cm long, 1.6-4 cm high, 4-6 mm thick (rounded all round); handle 8-10.5 cm
    # long, 16-24 mm high, 12-18 mm thick, level with the spine or the blade's middle.
    lb, hb, hbl = u(0.08, 0.14), u(0.016, 0.04), u(0.002, 0.003)
    lh, wh, th = u(0.08, 0.105), u(0.008, 0.012), u(0.006, 0.009)
    return [lb, hb, hbl, lh, wh, th, -min(wh, 0.5 * hb)]


def _sample_rounded_box(u, rng):
    # Half extents 1.5-8, 1.5-8 and 0.3-5 cm (slabs: phones, books), edges rounded by 50-100 % of
    # the smallest half extent (soap bars, remotes, pebbles).
    half = np.array([u(0.015, 0.08), u(0.015, 0.08), u(0.003, 0.05)])
    return np.append(half, u(0.5, 1.0) * half.min())


def _sample_banana(u, rng):
    # An arc of radius 7-12 cm over 52-92 deg, 2.6-4 cm thick in the middle tapering to 30-60 %
    # of that at its ends; a stem 1-2.2 cm long, 7-10 mm thick.
    ra, theta, r_max = u(0.07, 0.12), u(0.45, 0.8), u(0.013, 0.02)
    return [ra, theta, r_max, r_max * u(0.3, 0.6), u(0.01, 0.022), u(0.0035, 0.005)]


def _sample_bumpy_blob(u, rng):
    # Semi-axes 2.1-5.5 cm (aspect <= 1 : 0.7), six bumps of radius 30-55 % of the least
    # semi-axis centred just under the surface, blended over 6-12 mm.
    radii = u(0.03, 0.055) * u(0.7, 1.0, 3)
    bumps = []
    for _ in range(_BLOB_BUMPS):
        d = rng.normal(size=3)
        bumps.append(np.append(radii * d / np.linalg.norm(d) * u(0.75, 0.95),
                               u(0.3, 0.55) * radii.min()))
    return np.concatenate([radii, [u(0.006, 0.012)], np.concatenate(bumps)])


NEW_SAMPLERS = {
    "pan": _sample_pan, "jug": _sample_jug, "plate": _sample_plate, "hammer": _sample_hammer,
    "screwdriver": _sample_screwdriver, "knife": _sample_knife,
    "rounded_box": _sample_rounded_box, "banana": _sample_banana,
    "bumpy_blob": _sample_bumpy_blob,
}
