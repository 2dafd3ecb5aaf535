"""Contact-aware clean-up of a decoded dance: on the floor, planted feet still, no tremor.

A VQ-VAE decode integrates the root's velocity (its height drifts: the body sinks into the
floor and floats above it in one clip) and its convolutions leave small steps where codes
meet (jitter); nothing holds a planted foot still (skating). `clean_dance` repairs the joint
positions a user receives, in three passes:

1. **Smooth** every joint with a zero-phase Gaussian (no lag, so motion beats stay on the
   music's), sigma `smoothing` seconds.
2. **Floor.** The body's lowest joint (a foot, when it stands) *supports* it on frames where
   it is near the lowest the body comes within `support_window`; the body's height offset is
   read on those frames (that joint's height minus `floor`), interpolated across the frames
   between them (a jump, with no support, stays a jump) and smoothed over `floor_smoothing`
   seconds, then taken off every joint.
3. **Lock.** A foot is in *contact* as the diagnostics define it (its lowest joint within
   `CONTACT_HEIGHT` of the floor) while it also moves slower than `lock_speed` (a deliberate
   slide is no contact). Over each run of contact frames its ankle is held at the run's mean
   position, blended in and out over `blend` seconds, the knee re-solved by analytic two-bone
   IK (hip, thigh and shin lengths kept, the knee in its own plane) and the foot's joints
   carried with the ankle.

Positions are (T, J, 3) metres in the skeleton's frame; the up axis is the skeleton's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, minimum_filter1d

from ..data.layout import MOTION_FPS
from ..data.skeleton import Skeleton
from ..evaluation.physical import CONTACT_HEIGHT, foot_contacts

POLE_MEMORY = 0.05
"""A locked knee keeps bending the way it bent the frame before unless its own bend, off the
hip-ankle line, is clearly larger than this (m): a straight leg has no bend to follow."""
POLE_TOWARDS_TOES = 0.05
"""How far (m) the knee's bend is drawn towards the toes: a straight leg has no bend of its own
to follow, and a knee bends forward."""
CLEANUPS = ("contact", "none")
"""`--cleanup` choices: the clean-up below, or the raw decode."""


@dataclass(frozen=True)
class CleanupConfig:
    """The clean-up's settings; docs/results/clean-motion.md has what the defaults measure."""

    smoothing: float = 0.025
    """Sigma of the zero-phase Gaussian on every joint (s); 0 leaves the motion unsmoothed."""
    support_window: float = 0.4
    """A foot supports the body within `support_band` of the lowest the feet come over this
    long (s); a flight shorter than it (a jump of up to ~20 cm) stays in the air, lowered by
    about the band (the take-off and landing frames below it count as support)."""
    support_band: float = CONTACT_HEIGHT
    """How far above that lowest point a foot still supports (m)."""
    floor_smoothing: float = 0.1
    """Sigma of the Gaussian on the body's height offset (s)."""
    lock_speed: float = 0.6
    """A foot on the floor moving faster than this slides on purpose and is not locked (m/s)."""
    min_contact: float = 0.05
    """Shorter runs of contact are not locked (s)."""
    blend: float = 0.1
    """The lock fades in and out over this long at each end of a contact (s)."""

    def as_dict(self) -> dict:
        return asdict(self)


def _descendants(skeleton: Skeleton, joint: int) -> list[int]:
    out = [joint]
    for j in skeleton.topological_order:
        if skeleton.parents[j] in out:
            out.append(j)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(T, 3) -> (T,) speed, the step into each frame (the first frame copies the second's)."""
    step = np.linalg.norm(np.diff(points, axis=0), axis=-1) * fps
    return np.concatenate([step[:1], step]) if len(step) else np.zeros(len(points))


def smooth(joints: np.ndarray, sigma_seconds: float, fps: float = MOTION_FPS) -> np.ndarray:
    """Zero-phase Gaussian smoothing in time; the ends are held (no pull towards zero)."""
    if sigma_seconds <= 0:
        return joints.copy()
    return gaussian_filter1d(joints, sigma_seconds * fps, axis=0, mode="nearest")


def support(
    joints: np.ndarray, skeleton: Skeleton, config: CleanupConfig, fps: float = MOTION_FPS
) -> tuple[np.ndarray, np.ndarray]:
    """(T,) height of the body's lowest joint (a foot, on its feet), and (T,) whether it
    supports the body there: it is within `support_band` of the lowest the body comes within
    `support_window` around the frame (at the top of a jump it is not)."""
    up = skeleton.up_index
    lowest = joints[..., up].min(1)
    window = max(int(round(config.support_window * fps)), 1)
    ground = minimum_filter1d(lowest, window, mode="nearest")
    return lowest, lowest < ground + config.support_band


def support_height(
    dances: list[np.ndarray],
    skeleton: Skeleton,
    floor: float,
    config: CleanupConfig | None = None,
    fps: float = MOTION_FPS,
) -> float:
    """How high above `floor` the data's supporting feet stand, on average over its support
    frames: 0 for feet on the floor; markers on real mocap feet sit higher (about 1.5 cm on
    levelled Dance with Melody; its recorded heights, `--floor recorded`, creep, and their
    supporting feet stand 3 to 29 cm above a piece's `estimate_floor`). `clean_dance(floor=floor
    + this)` puts a dance where the data stands."""
    config = config or CleanupConfig()
    heights = []
    for joints in dances:
        lowest, supported = support(np.asarray(joints, dtype=np.float64), skeleton, config, fps)
        heights.append(lowest[supported] - floor)
    heights = np.concatenate(heights) if heights else np.zeros(0)
    return float(np.mean(heights)) if heights.size else 0.0


def floor_offset(
    joints: np.ndarray,
    skeleton: Skeleton,
    floor: float,
    config: CleanupConfig,
    fps: float = MOTION_FPS,
) -> np.ndarray:
    """(T,) height by which the body stands off `floor`, read where a foot supports it,
    interpolated between (see the module docstring, pass 2)."""
    lowest, supported = support(joints, skeleton, config, fps)
    rows = np.arange(len(joints))
    offset = np.interp(rows, rows[supported], lowest[supported] - floor)
    if config.floor_smoothing > 0:
        offset = gaussian_filter1d(offset, config.floor_smoothing * fps, mode="nearest")
    return offset


def two_bone_ik(
    hip: np.ndarray,
    knee: np.ndarray,
    ankle: np.ndarray,
    target: np.ndarray,
    pole: np.ndarray | None = None,
    memory: float | np.ndarray = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle positions (T, 3) that put the ankle at `target` with the hip fixed, the
    thigh and shin lengths of each frame kept and the knee bending towards `pole` (a direction;
    default: where the knee was). An unreachable target is pulled in along the hip's line to
    full reach. `memory` (m, or (T,) per frame; frames in order): each frame's pole gains the
    last frame's bend at this length, so a pole shorter than it cannot flip the knee between
    two frames."""
    thigh = np.linalg.norm(knee - hip, axis=-1, keepdims=True)
    shin = np.linalg.norm(ankle - knee, axis=-1, keepdims=True)
    reach = target - hip
    distance = np.linalg.norm(reach, axis=-1, keepdims=True)
    low, high = np.abs(thigh - shin) + 1e-6, thigh + shin - 1e-6
    clipped = np.clip(distance, low, high)
    axis = reach / np.maximum(distance, 1e-9)
    target = hip + axis * clipped
    along = (thigh**2 - shin**2 + clipped**2) / (2 * clipped)
    across = np.sqrt(np.maximum(thigh**2 - along**2, 0.0))
    pole = knee - hip if pole is None else pole
    pole = pole - (pole * axis).sum(-1, keepdims=True) * axis
    memory = np.broadcast_to(np.asarray(memory, dtype=np.float64), len(pole))
    for t in np.flatnonzero(memory[1:] > 0) + 1:  # a pole near the leg's line keeps its bend
        previous = pole[t - 1] - (pole[t - 1] @ axis[t]) * axis[t]
        length = np.linalg.norm(previous)
        if length > 1e-9:
            pole[t] = pole[t] + memory[t] * previous / length
    norm = np.linalg.norm(pole, axis=-1, keepdims=True)
    pole = np.where(norm > 1e-9, pole / np.maximum(norm, 1e-9), 0.0)
    return hip + axis * along + pole * across, target


def _ramp(length: int, start: int, stop: int, blend: int) -> np.ndarray:
    """Weights (length,): 1 on [start, stop), a cosine fade over `blend` frames either side."""
    t = np.arange(length, dtype=np.float64)
    before = np.clip((t - (start - blend)) / max(blend, 1), 0, 1)
    after = np.clip(((stop - 1 + blend) - t) / max(blend, 1), 0, 1)
    w = np.minimum(before, after)
    return 0.5 - 0.5 * np.cos(np.pi * w)


def contacts(
    joints: np.ndarray,
    skeleton: Skeleton,
    floor: float,
    config: CleanupConfig,
    fps: float = MOTION_FPS,
) -> list[np.ndarray]:
    """Per foot, the (T,) mask of frames it is planted: within `CONTACT_HEIGHT` of the floor
    (the diagnostics' contact) and slower than `lock_speed` horizontally."""
    flat = [a for a in range(3) if a != skeleton.up_index]
    return [
        touching & (_speed(joints[:, list(foot)][..., flat].mean(1), fps) < config.lock_speed)
        if foot
        else touching
        for foot, touching in zip(
            skeleton.feet, foot_contacts(joints, skeleton, floor), strict=True
        )
    ]


def lock_feet(
    joints: np.ndarray,
    skeleton: Skeleton,
    floor: float,
    config: CleanupConfig,
    fps: float = MOTION_FPS,
) -> np.ndarray:
    """Hold each planted foot still (see the module docstring, pass 3)."""
    out = joints.copy()
    min_frames = max(int(round(config.min_contact * fps)), 2)
    blend = int(round(config.blend * fps))
    planted_feet = contacts(joints, skeleton, floor, config, fps)
    for foot, planted in zip(skeleton.feet, planted_feet, strict=True):
        if not foot:
            continue
        ankle = foot[0]
        knee = skeleton.parents[ankle]
        hip = skeleton.parents[knee]
        if knee < 0 or hip < 0:
            continue
        pull = np.zeros_like(out[:, ankle])  # the weighted pulls towards each held spot
        weight = np.zeros(len(out))
        for start, stop in _runs(planted):
            if stop - start < min_frames:
                continue
            held = out[start:stop, ankle].mean(0)
            ramp = _ramp(len(out), start, stop, blend)
            pull += ramp[:, None] * (held - out[:, ankle])
            weight += ramp
        if not weight.any():
            continue
        # where two contacts' fades overlap, their pulls share the frame: no jump between spots
        goal = out[:, ankle] + pull / np.maximum(weight, 1.0)[:, None]
        # the knee bends the way it did, off the hip-ankle line, and, as the lock takes hold,
        # a little towards the toes and the way it bent the frame before; unlocked frames keep
        # their knee exactly
        toe = out[:, foot[-1]] - out[:, ankle]
        toe /= np.maximum(np.linalg.norm(toe, axis=-1, keepdims=True), 1e-9)
        pole = out[:, knee] - 0.5 * (out[:, hip] + out[:, ankle])
        pole += POLE_TOWARDS_TOES * weight[:, None] * toe
        new_knee, new_ankle = two_bone_ik(
            out[:, hip], out[:, knee], out[:, ankle], goal, pole, memory=POLE_MEMORY * weight
        )
        locked = weight > 0
        shift = np.where(locked[:, None], new_ankle - out[:, ankle], 0.0)
        for j in _descendants(skeleton, ankle):
            out[:, j] += shift
        out[locked, knee] = new_knee[locked]
    return out


def clean_dance(
    joints: np.ndarray,
    skeleton: Skeleton,
    floor: float = 0.0,
    fps: float = MOTION_FPS,
    config: CleanupConfig | None = None,
) -> np.ndarray:
    """The dance a user receives: smoothed, standing on `floor`, planted feet held (module
    docstring). `joints` (T, J, 3) is not changed; a float32 input gives float32."""
    config = config or CleanupConfig()
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(
            f"joints must be (T, {skeleton.num_joints}, 3) for {skeleton.name}, got {p.shape}"
        )
    if len(p) < 2:
        return np.asarray(joints).copy()
    up = skeleton.up_index
    p = smooth(p, config.smoothing, fps)
    p[..., up] -= floor_offset(p, skeleton, floor, config, fps)[:, None]
    p = lock_feet(p, skeleton, floor, config, fps)
    return p.astype(np.asarray(joints).dtype, copy=False)
