"""The 32 geometric (Müller-style boolean) motion features, vectorised over frames.

Same numbers as AIST++'s `manual.py` / Bailando's `manual_new.py`
(docs/bailando.md §6): each frame t = 1..T-1 gets 32 booleans and the feature is
the fraction of frames where each holds. Velocity tests assume 1/120 s per
frame, as the reference does, although the data is 60 FPS. Quirk kept: the
"move" features test the velocity of their *third* joint (the fourth is
ignored by the reference).
"""

from __future__ import annotations

import numpy as np

from ..data.skeleton import SMPL24

REFERENCE_FRAME_TIME = 1.0 / 120
J = {
    "root": 0, "lhip": 1, "rhip": 2, "belly": 3, "lknee": 4, "rknee": 5, "spine": 6, "lankle": 7,
    "rankle": 8, "chest": 9, "ltoes": 10, "rtoes": 11, "neck": 12, "linshoulder": 13,
    "rinshoulder": 14, "head": 15, "lshoulder": 16, "rshoulder": 17, "lelbow": 18, "relbow": 19,
    "lwrist": 20, "rwrist": 21, "lhand": 22, "rhand": 23,
}  # fmt: skip
assert len(J) == SMPL24.num_joints

# Template joint positions the reference measures its length units from.
_LSHOULDER = np.array([1.99113488e-01, 2.36807942e-01, -1.80702247e-02])
_LELBOW = np.array([4.54445392e-01, 2.21158922e-01, -4.10167128e-02])
_RSHOULDER = np.array([-1.91692337e-01, 2.36928746e-01, -1.23055102e-02])
_LHIP = np.array([5.64076714e-02, -3.23069185e-01, 1.09197125e-02])
_RHIP = np.array([-6.24834076e-02, -3.31302464e-01, 1.50412619e-02])
HUMERUS = float(np.linalg.norm(_LSHOULDER - _LELBOW))
SHOULDER_WIDTH = float(np.linalg.norm(_LSHOULDER - _RSHOULDER))
HIP_WIDTH = float(np.linalg.norm(_LHIP - _RHIP))

# (kind, joints, threshold or angle range), in the reference's order.
FEATURES: tuple[tuple[str, tuple[str, ...], object], ...] = (
    ("nmove", ("neck", "rhip", "lhip", "rwrist"), 1.8 * HUMERUS),
    ("nmove", ("neck", "lhip", "rhip", "lwrist"), 1.8 * HUMERUS),
    ("nplane", ("chest", "neck", "neck", "rwrist"), 0.2 * HUMERUS),
    ("nplane", ("chest", "neck", "neck", "lwrist"), 0.2 * HUMERUS),
    ("move", ("belly", "chest", "chest", "rwrist"), 1.8 * HUMERUS),
    ("move", ("belly", "chest", "chest", "lwrist"), 1.8 * HUMERUS),
    ("angle", ("relbow", "rshoulder", "relbow", "rwrist"), (0, 110)),
    ("angle", ("lelbow", "lshoulder", "lelbow", "lwrist"), (0, 110)),
    ("nplane", ("lshoulder", "rshoulder", "lwrist", "rwrist"), 2.5 * SHOULDER_WIDTH),
    ("move", ("lwrist", "rwrist", "rwrist", "lwrist"), 1.4 * HUMERUS),
    ("move", ("rwrist", "root", "lwrist", "root"), 1.4 * HUMERUS),
    ("move", ("lwrist", "root", "rwrist", "root"), 1.4 * HUMERUS),
    ("fast", ("rwrist",), 2.5 * HUMERUS),
    ("fast", ("lwrist",), 2.5 * HUMERUS),
    ("plane", ("root", "lhip", "ltoes", "rankle"), 0.38 * HUMERUS),
    ("plane", ("root", "rhip", "rtoes", "lankle"), 0.38 * HUMERUS),
    ("nplane", ("zero", "y_unit", "y_min", "rankle"), 1.2 * HUMERUS),
    ("nplane", ("zero", "y_unit", "y_min", "lankle"), 1.2 * HUMERUS),
    ("nplane", ("lhip", "rhip", "lankle", "rankle"), 2.1 * HIP_WIDTH),
    ("angle", ("rknee", "rhip", "rknee", "rankle"), (0, 110)),
    ("angle", ("lknee", "lhip", "lknee", "lankle"), (0, 110)),
    ("fast", ("rankle",), 2.5 * HUMERUS),
    ("fast", ("lankle",), 2.5 * HUMERUS),
    ("angle", ("neck", "root", "rshoulder", "relbow"), (25, 180)),
    ("angle", ("neck", "root", "lshoulder", "lelbow"), (25, 180)),
    ("angle", ("neck", "root", "rhip", "rknee"), (50, 180)),
    ("angle", ("neck", "root", "lhip", "lknee"), (50, 180)),
    ("plane", ("rankle", "neck", "lankle", "root"), 0.5 * HUMERUS),
    ("angle", ("neck", "root", "zero", "y_unit"), (70, 110)),
    ("nplane", ("zero", "minus_y_unit", "y_min", "rwrist"), -1.2 * HUMERUS),
    ("nplane", ("zero", "minus_y_unit", "y_min", "lwrist"), -1.2 * HUMERUS),
    ("fast", ("root",), 2.3 * HUMERUS),
)


def feature_name(index: int) -> str:
    """Feature `index` (0-based, as in `FEATURES`) as its test and joints, e.g.
    'move belly-chest-rwrist'."""
    kind, joints, _ = FEATURES[index]
    return f"{kind} {'-'.join(dict.fromkeys(joints))}"


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1)


def _norm(a: np.ndarray) -> np.ndarray:
    return np.sqrt((a * a).sum(-1))


def geometric_features(joints: np.ndarray) -> np.ndarray:
    """(T, 24, 3) y-up positions -> (32,) float32 fractions of frames 1..T-1."""
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (24, 3) or len(p) < 2:
        raise ValueError(f"joints must be (T >= 2, 24, 3) SMPL-24 positions, got {p.shape}")
    cur, prev = p[1:], p[:-1]
    n = len(cur)
    y_min = np.zeros((n, 3))
    y_min[:, 1] = cur[:, :, 1].min(axis=1)
    constants = {
        "zero": np.zeros((n, 3)),
        "y_unit": np.tile([0.0, 1.0, 0.0], (n, 1)),
        "minus_y_unit": np.tile([0.0, -1.0, 0.0], (n, 1)),
        "y_min": y_min,
    }

    def at(name: str) -> np.ndarray:
        return constants[name] if name in constants else cur[:, J[name]]

    def before(name: str) -> np.ndarray:
        return prev[:, J[name]]

    out = np.zeros((n, len(FEATURES)), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for f, (kind, names, arg) in enumerate(FEATURES):
            if kind == "move":
                j1, j2, p_ = names[0], names[1], names[2]
                velocity = at(p_) - at(j1) - (before(p_) - before(j1))
                direction = at(j2) - at(j1)
                along = _dot(velocity, direction) / _norm(direction) / REFERENCE_FRAME_TIME
                out[:, f] = along > arg
            elif kind == "nmove":
                j1, j2, j3, p_ = names
                velocity = at(p_) - at(j1) - (before(p_) - before(j1))
                direction = np.cross(at(j3) - at(j1), at(j2) - at(j1))
                along = _dot(velocity, direction) / _norm(direction) / REFERENCE_FRAME_TIME
                out[:, f] = along > arg
            elif kind == "plane":
                a, b, c, p_ = (at(x) for x in names)
                cross = np.cross(c - a, b - a)
                out[:, f] = _dot(cross, p_ - a) / _norm(cross) > arg
            elif kind == "nplane":
                n1, n2, a, p_ = (at(x) for x in names)
                normal = n2 - n1
                out[:, f] = _dot(normal, p_ - a) / _norm(normal) > arg
            elif kind == "angle":
                j1, j2, k1, k2 = (at(x) for x in names)
                u, w = j2 - j1, k2 - k1
                angle = np.degrees(np.arccos(_dot(u, w) / (_norm(u) * _norm(w))))
                lo, hi = arg
                out[:, f] = (angle > lo) & (angle < hi)
            elif kind == "fast":
                speed = _norm(at(names[0]) - before(names[0])) / REFERENCE_FRAME_TIME
                out[:, f] = speed > arg
    return out.astype(np.float32).mean(axis=0)
