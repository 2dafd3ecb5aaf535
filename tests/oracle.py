"""A slow, loop-by-loop transcription of the reference feature code (docs/bailando.md §6).

Written from the fact sheet's description of the AIST++/Bailando loops, frame by
frame and joint by joint, as an independent oracle for the vectorised features.
"""

from __future__ import annotations

import numpy as np

FT_KINETIC = 1.0 / 60
FT_MANUAL = 1.0 / 120
WINDOW = 2


def _avg_velocity(p, i, j, up="y", part="all"):
    total, count = np.zeros(3), 0
    for w in range(-WINDOW, WINDOW + 1):
        if i + w - 1 < 0 or i + w >= len(p):
            continue
        total += p[i + w][j] - p[i + w - 1][j]
        count += 1
    if part == "horizontal":
        v = np.array([total[0], total[2]]) / (count * FT_KINETIC)
    elif part == "vertical":
        v = np.array([total[1]]) / (count * FT_KINETIC)
    else:
        v = total / (count * FT_KINETIC)
    return np.linalg.norm(v)


def _avg_acceleration(p, i, j, bug=True):
    total, count = np.zeros(3), 0
    for w in range(-WINDOW, WINDOW + 1):
        if i + w - 1 < 0 or i + w + 1 >= len(p):
            continue
        v2 = (p[i + w + 1][j] - p[i + w][j]) / FT_KINETIC
        if bug:
            v1 = p[i + w][j] - p[i + w - 1][j] / FT_KINETIC
        else:
            v1 = (p[i + w][j] - p[i + w - 1][j]) / FT_KINETIC
        total += (v2 - v1) / FT_KINETIC
        count += 1
    return np.linalg.norm(total / count)


def kinetic_oracle(p, bug=True):
    p = np.asarray(p, dtype=np.float64)
    out = []
    for j in range(p.shape[1]):
        h = v = e = 0.0
        for i in range(1, len(p)):
            h += _avg_velocity(p, i, j, part="horizontal") ** 2
            v += _avg_velocity(p, i, j, part="vertical") ** 2
            e += _avg_acceleration(p, i, j, bug)
        n = len(p) - 1.0
        out.extend([h / n, v / n, e / n])
    return np.array(out, dtype=np.float32)


NAMES = [
    "root", "lhip", "rhip", "belly", "lknee", "rknee", "spine", "lankle", "rankle", "chest",
    "ltoes", "rtoes", "neck", "linshoulder", "rinshoulder", "head", "lshoulder", "rshoulder",
    "lelbow", "relbow", "lwrist", "rwrist", "lhand", "rhand",
]  # fmt: skip


def manual_oracle(p):
    p = np.asarray(p, dtype=np.float64)
    hl = np.linalg.norm(
        np.array([1.99113488e-01, 2.36807942e-01, -1.80702247e-02])
        - np.array([4.54445392e-01, 2.21158922e-01, -4.10167128e-02])
    )
    sw = np.linalg.norm(
        np.array([1.99113488e-01, 2.36807942e-01, -1.80702247e-02])
        - np.array([-1.91692337e-01, 2.36928746e-01, -1.23055102e-02])
    )
    hw = np.linalg.norm(
        np.array([5.64076714e-02, -3.23069185e-01, 1.09197125e-02])
        - np.array([-6.24834076e-02, -3.31302464e-01, 1.50412619e-02])
    )
    frames = []
    for t in range(1, len(p)):

        def pos(name, t=t):
            if name == "zero":
                return np.zeros(3)
            if name == "y_unit":
                return np.array([0.0, 1.0, 0.0])
            if name == "minus_y_unit":
                return np.array([0.0, -1.0, 0.0])
            if name == "y_min":
                return np.array([0.0, min(y for (_, y, _) in p[t]), 0.0])
            return p[t][NAMES.index(name)]

        def prev(name, t=t):
            return p[t - 1][NAMES.index(name)]

        def move(j1, j2, j3, j4, thr):  # the reference tests j3's velocity; j4 is unused
            vel = pos(j3) - pos(j1) - (prev(j3) - prev(j1))
            d = pos(j2) - pos(j1)
            return np.dot(vel, d) / np.linalg.norm(d) / FT_MANUAL > thr

        def nmove(j1, j2, j3, j4, thr):
            vel = pos(j4) - pos(j1) - (prev(j4) - prev(j1))
            d = np.cross(pos(j3) - pos(j1), pos(j2) - pos(j1))
            return np.dot(vel, d) / np.linalg.norm(d) / FT_MANUAL > thr

        def plane(a, b, c, q, thr):
            cr = np.cross(pos(c) - pos(a), pos(b) - pos(a))
            return np.dot(cr, pos(q) - pos(a)) / np.linalg.norm(cr) > thr

        def nplane(n1, n2, a, q, thr):
            n = pos(n2) - pos(n1)
            return np.dot(n, pos(q) - pos(a)) / np.linalg.norm(n) > thr

        def angle(j1, j2, k1, k2, rng):
            u, w = pos(j2) - pos(j1), pos(k2) - pos(k1)
            with np.errstate(invalid="ignore"):
                a = np.degrees(np.arccos(np.dot(u, w) / (np.linalg.norm(u) * np.linalg.norm(w))))
            return rng[0] < a < rng[1]

        def fast(j, thr):
            return np.linalg.norm(pos(j) - prev(j)) / FT_MANUAL > thr

        frames.append([
            nmove("neck", "rhip", "lhip", "rwrist", 1.8 * hl),
            nmove("neck", "lhip", "rhip", "lwrist", 1.8 * hl),
            nplane("chest", "neck", "neck", "rwrist", 0.2 * hl),
            nplane("chest", "neck", "neck", "lwrist", 0.2 * hl),
            move("belly", "chest", "chest", "rwrist", 1.8 * hl),
            move("belly", "chest", "chest", "lwrist", 1.8 * hl),
            angle("relbow", "rshoulder", "relbow", "rwrist", [0, 110]),
            angle("lelbow", "lshoulder", "lelbow", "lwrist", [0, 110]),
            nplane("lshoulder", "rshoulder", "lwrist", "rwrist", 2.5 * sw),
            move("lwrist", "rwrist", "rwrist", "lwrist", 1.4 * hl),
            move("rwrist", "root", "lwrist", "root", 1.4 * hl),
            move("lwrist", "root", "rwrist", "root", 1.4 * hl),
            fast("rwrist", 2.5 * hl),
            fast("lwrist", 2.5 * hl),
            plane("root", "lhip", "ltoes", "rankle", 0.38 * hl),
            plane("root", "rhip", "rtoes", "lankle", 0.38 * hl),
            nplane("zero", "y_unit", "y_min", "rankle", 1.2 * hl),
            nplane("zero", "y_unit", "y_min", "lankle", 1.2 * hl),
            nplane("lhip", "rhip", "lankle", "rankle", 2.1 * hw),
            angle("rknee", "rhip", "rknee", "rankle", [0, 110]),
            angle("lknee", "lhip", "lknee", "lankle", [0, 110]),
            fast("rankle", 2.5 * hl),
            fast("lankle", 2.5 * hl),
            angle("neck", "root", "rshoulder", "relbow", [25, 180]),
            angle("neck", "root", "lshoulder", "lelbow", [25, 180]),
            angle("neck", "root", "rhip", "rknee", [50, 180]),
            angle("neck", "root", "lhip", "lknee", [50, 180]),
            plane("rankle", "neck", "lankle", "root", 0.5 * hl),
            angle("neck", "root", "zero", "y_unit", [70, 110]),
            nplane("zero", "minus_y_unit", "y_min", "rwrist", -1.2 * hl),
            nplane("zero", "minus_y_unit", "y_min", "lwrist", -1.2 * hl),
            fast("root", 2.3 * hl),
        ])  # fmt: skip
    return np.array(frames, dtype=np.float32).mean(axis=0)
