"""Physical and motion diagnostics of a dance: what the five Bailando numbers do not show.

RL fine-tuning can exploit a reward by freezing or by sliding the feet, and a
collapsed VQ-VAE codebook decodes every dance into a near-still figure; these
numbers make both visible. All are vectorised over frames and computed on
joints in the dataset's world frame (metres, up axis of the skeleton), with
the floor at height `floor` (see `estimate_floor`).

Definitions (per dance; a set's value is the mean over its dances):

- `joint_speed`: mean |velocity| over frames and joints (m/s).
- `root_relative_speed`: the same for positions relative to the root, root left out (m/s).
- `pose_range`: RMS distance of root-relative joints from their mean pose (m).
- `root_travel`: RMS horizontal distance of the root from its mean position (m).
- `jitter`: mean |jerk| (third difference x fps^3) over frames and joints (m/s^3).
- `freezing`: fraction of frame steps whose mean joint speed is below `FREEZE_SPEED`.
- `foot_skating`: mean horizontal speed of a foot over the steps it touches the ground at
  both ends (lowest foot joint within `CONTACT_HEIGHT` of the floor) (m/s); undefined when
  no foot ever touches it.
- `penetration`: mean depth of the lowest joint below the floor (m); depths and heights
  under `HEIGHT_RESOLUTION` count as 0.
- `floating`: mean height of the lowest joint above the floor (m).
- `max_step`: the largest displacement of any joint between two frames (m): seams show here.
- `pfc`: EDGE's Physical Foot Contact score (Tseng et al. 2023, `eval/eval_pfc.py`), see `pfc`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.layout import MOTION_FPS
from ..data.skeleton import SMPL24, Skeleton

CONTACT_HEIGHT = 0.05
"""A foot touches the ground when its lowest joint is this close to the floor (m)."""
FREEZE_SPEED = 0.1
"""A frame step is frozen when the mean joint speed is below this (m/s)."""
HEIGHT_RESOLUTION = 1e-6
"""Heights above or below the floor under this are rounding (m): float32 positions a metre or two
from the origin resolve about 1e-7 m, so feet the data plants on its floor sit 1e-9 m off it."""
EDGE_FPS = 30
"""EDGE scores 30-FPS motion; its foot speed is a per-frame displacement, so the rate matters."""
PFC_SCALE = 10_000
"""EDGE prints the mean score times 10^4."""

DIAGNOSTICS = (
    # (key, title, unit)
    ("joint_speed", "joint speed", "m/s"),
    ("root_relative_speed", "root-relative speed", "m/s"),
    ("pose_range", "pose range", "m"),
    ("root_travel", "root travel", "m"),
    ("jitter", "jitter", "m/s³"),
    ("freezing", "freezing", "fraction"),
    ("foot_skating", "foot skating", "m/s"),
    ("penetration", "penetration", "m"),
    ("floating", "floating", "m"),
    ("max_step", "largest step", "m"),
    ("pfc", "PFC (EDGE)", "×10⁻⁴"),
)
CLEANED = "cleaned_"
"""Prefix of a diagnostic of the cleaned dances (`export.cleanup`), what a user receives; the
bare key is the raw decode's, what the policy produced."""
MOVEMENT = ("joint_speed", "root_relative_speed", "pose_range", "root_travel")
"""The diagnostics of how much a dance moves; a policy should match the ground truth's."""
DEFECTS = ("jitter", "foot_skating", "penetration", "floating")
"""The diagnostics of visible defects: lower is cleaner (the physical rewards' terms)."""


def _axes(skeleton: Skeleton) -> tuple[int, list[int]]:
    up = {"x": 0, "y": 1, "z": 2}[skeleton.up_axis]
    return up, [a for a in (0, 1, 2) if a != up]


def _check(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim == 2:
        p = p.reshape(len(p), -1, 3)
    if p.ndim != 3 or p.shape[1:] != (skeleton.num_joints, 3) or len(p) < 4:
        raise ValueError(
            f"joints must be (T >= 4, {skeleton.num_joints}, 3) for {skeleton.name}, got {p.shape}"
        )
    return p


def first_frame_floor(joints: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """(B, T, J, 3) -> (B,): each dance's first frame's lowest foot joint, the floor of a
    decoded dance whose height is integrated from 0 (it starts standing)."""
    return joints[:, 0, skeleton.floor_joints, skeleton.up_index].amin(-1)


def estimate_floor(dances: list[np.ndarray], skeleton: Skeleton = SMPL24) -> float:
    """The ground truth's floor height: the 5th percentile of its lowest foot joint per frame.

    Real mocap puts markers above the floor (Dance with Melody's toes sit ~7 cm up as
    recorded; its reader levels them to about 0); the ground truth stands on its floor most of
    the time, so a low percentile finds it.
    """
    up, _ = _axes(skeleton)
    feet = skeleton.floor_joints
    lowest = np.concatenate([_check(j, skeleton)[:, feet, up].min(1) for j in dances])
    return float(np.percentile(lowest, 5))


def pfc(joints: np.ndarray, fps: float = MOTION_FPS, skeleton: Skeleton = SMPL24) -> float | None:
    """EDGE's Physical Foot Contact score of one dance, times 10^4 (lower is better).

    EDGE's formula on 30-FPS motion: the root's acceleration with its upward part clamped at
    0 (a body may be pushed up by the floor, never pulled down), normalised by its maximum;
    each foot's horizontal displacement per frame, the smaller of its two joints; the score
    is mean(left * right * acceleration). A dance at another rate is sampled to 30 FPS first
    (every other frame at 60 FPS). None when the root never accelerates.
    """
    p = _check(joints, skeleton)
    step = fps / EDGE_FPS
    if abs(step - round(step)) > 1e-9 or round(step) < 1:
        raise ValueError(f"PFC needs a rate that is a multiple of {EDGE_FPS} FPS, got {fps:g}")
    p = p[:: int(round(step))]
    up, flat = _axes(skeleton)
    dt = 1.0 / EDGE_FPS
    root_v = (p[1:, skeleton.root] - p[:-1, skeleton.root]) / dt
    root_a = (root_v[1:] - root_v[:-1]) / dt
    root_a[:, up] = np.maximum(root_a[:, up], 0)
    root_a = np.linalg.norm(root_a, axis=-1)
    if root_a.max() <= 0:
        return None
    root_a = root_a / root_a.max()
    foot_v = [
        np.linalg.norm(p[2:, list(foot)][..., flat] - p[1:-1, list(foot)][..., flat], axis=-1).min(
            1
        )
        for foot in skeleton.feet
    ]
    return float(np.mean(foot_v[0] * foot_v[1] * root_a) * PFC_SCALE)


def foot_contacts(joints: np.ndarray, skeleton: Skeleton, floor: float) -> list[np.ndarray]:
    """Per foot of the skeleton, the (T,) frames it touches the ground: its lowest joint within
    `CONTACT_HEIGHT` of `floor` (all False for a foot with no joints)."""
    up, _ = _axes(skeleton)
    return [
        joints[:, list(foot), up].min(1) - floor < CONTACT_HEIGHT
        if foot
        else np.zeros(len(joints), dtype=bool)
        for foot in skeleton.feet
    ]


def physical_terms(
    joints: torch.Tensor,
    skeleton: Skeleton = SMPL24,
    floor: float | torch.Tensor = 0.0,
    fps: float = MOTION_FPS,
) -> dict[str, torch.Tensor]:
    """The batched diagnostics: (B, T, J, 3) joints -> (B,) each of `joint_speed`,
    `root_relative_speed`, `jitter`, `foot_skating` (NaN where no foot touches the ground),
    `penetration` and `floating`, on the joints' device and dtype; `floor`: one height, or
    (B,) one per dance. `dance_diagnostics` and the physical rewards both read these."""
    p = joints
    up, flat = _axes(skeleton)
    floor = torch.as_tensor(floor, dtype=p.dtype, device=p.device).reshape(-1, 1)
    others = [j for j in range(skeleton.num_joints) if j != skeleton.root]
    relative = p[:, :, others] - p[:, :, skeleton.root : skeleton.root + 1]
    lowest = p[..., up].amin(2) - floor  # (B, T)
    lowest = torch.where(lowest.abs() < HEIGHT_RESOLUTION, torch.zeros_like(lowest), lowest)
    jerk = p.diff(n=3, dim=1) if p.shape[1] > 3 else p.new_zeros(p.shape[0], 1, *p.shape[2:])

    moved, touching = p.new_zeros(len(p)), p.new_zeros(len(p))
    for foot in skeleton.feet:
        if not foot:
            continue
        heights = p[:, :, list(foot), up].amin(2) - floor
        contact = (heights < CONTACT_HEIGHT)[:, 1:] & (heights < CONTACT_HEIGHT)[:, :-1]
        speed = p[:, :, list(foot)][..., flat].diff(dim=1).norm(dim=-1).mean(-1) * fps
        moved = moved + (speed * contact).sum(1)
        touching = touching + contact.sum(1)
    return {
        "joint_speed": p.diff(dim=1).norm(dim=-1).mean((1, 2)) * fps,
        "root_relative_speed": relative.diff(dim=1).norm(dim=-1).mean((1, 2)) * fps,
        "jitter": jerk.norm(dim=-1).mean((1, 2)) * fps**3,
        "foot_skating": torch.where(touching > 0, moved / touching.clamp(min=1), torch.nan),
        "penetration": (-lowest).clamp(min=0).mean(1),
        "floating": lowest.clamp(min=0).mean(1),
    }


def dance_diagnostics(
    joints: np.ndarray,
    skeleton: Skeleton = SMPL24,
    floor: float = 0.0,
    fps: float = MOTION_FPS,
) -> dict[str, float | None]:
    """Every diagnostic of the module docstring for one dance (T, J, 3); None if undefined."""
    p = _check(joints, skeleton)
    _, flat = _axes(skeleton)
    others = [j for j in range(skeleton.num_joints) if j != skeleton.root]
    step = np.linalg.norm(np.diff(p, axis=0), axis=-1)  # (T-1, J)
    relative = p[:, others] - p[:, skeleton.root : skeleton.root + 1]
    root = p[:, skeleton.root, flat]
    terms = {
        k: float(v[0])
        for k, v in physical_terms(torch.from_numpy(p)[None], skeleton, floor, fps).items()
    }
    return {
        "joint_speed": terms["joint_speed"],
        "root_relative_speed": terms["root_relative_speed"],
        "pose_range": float(np.sqrt(((relative - relative.mean(0)) ** 2).sum(-1).mean())),
        "root_travel": float(np.sqrt(((root - root.mean(0)) ** 2).sum(-1).mean())),
        "jitter": terms["jitter"],
        "freezing": float(np.mean(step.mean(1) * fps < FREEZE_SPEED)),
        "foot_skating": None if np.isnan(terms["foot_skating"]) else terms["foot_skating"],
        "penetration": terms["penetration"],
        "floating": terms["floating"],
        "max_step": float(step.max()),
        "pfc": pfc(p, fps, skeleton) if all(skeleton.feet) else None,
    }


def root_speed(joints: np.ndarray, skeleton: Skeleton = SMPL24, fps: float = MOTION_FPS) -> float:
    """Mean horizontal speed of the root over the frames (m/s): how fast a dance crosses the
    floor, which `root_travel` (a spread of positions) only shows over long dances."""
    p = _check(joints, skeleton)
    _, flat = _axes(skeleton)
    root = p[:, skeleton.root][:, flat]
    return float(np.linalg.norm(np.diff(root, axis=0), axis=-1).mean() * fps)


def pieces(dances: list[np.ndarray], frames: int) -> list[np.ndarray]:
    """Consecutive `frames`-long pieces of each dance (a shorter dance stays whole), so the
    ground truth is measured on the same duration as generated dances."""
    out = []
    for joints in dances:
        n = max(len(joints) // frames, 1)
        out += [joints[i * frames : (i + 1) * frames] for i in range(n)]
    return out


def set_diagnostics(
    dances: list[np.ndarray],
    skeleton: Skeleton = SMPL24,
    floor: float = 0.0,
    fps: float = MOTION_FPS,
) -> dict[str, float | None]:
    """The mean of each diagnostic over dances where it is defined (None where it never is)."""
    return mean_diagnostics([dance_diagnostics(j, skeleton, floor, fps) for j in dances])


def mean_diagnostics(per_dance: list[dict]) -> dict[str, float | None]:
    """`set_diagnostics` of dances already measured by `dance_diagnostics`."""
    out: dict[str, float | None] = {}
    for key, _, _ in DIAGNOSTICS:
        values = [d[key] for d in per_dance if d[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    out["max_step"] = max((d["max_step"] for d in per_dance), default=None)
    return out


def movement_intervals(
    per_dance: list[dict], resamples: int = 200, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% bootstrap intervals of a set's mean movement figures (`MOVEMENT`) over its dances,
    each measured by `dance_diagnostics`.

    A few held-out pieces give a noisy target: Dance with Melody's 5 travel 0.84 m on average,
    with a 95% interval of 0.54 to 1.16 m, so the mean could have come out a third lower had
    other songs been held out. Empty for fewer than two dances."""
    return piece_intervals(per_dance, list(range(len(per_dance))), MOVEMENT, resamples, seed)


def piece_intervals(
    per_dance: list[dict],
    pieces: list[int],
    keys: tuple[str, ...] = DEFECTS,
    resamples: int = 200,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95% bootstrap intervals of a policy's mean `keys` over the pieces of music it danced:
    each piece's dances (`pieces[i]` is dance i's piece) averaged first, then pieces drawn
    with replacement. Empty for fewer than two pieces; a key undefined on some piece (foot
    skating without a contact) is left out."""
    by_piece: dict[int, list[dict]] = {}
    for diagnostics, piece in zip(per_dance, pieces, strict=True):
        by_piece.setdefault(piece, []).append(diagnostics)
    if len(by_piece) < 2:
        return {}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(by_piece), (resamples, len(by_piece)))
    out = {}
    for key in keys:
        means = [[d[key] for d in dances if d[key] is not None] for dances in by_piece.values()]
        if any(not m for m in means):
            continue
        values = np.array([np.mean(m) for m in means])
        low, high = np.percentile(values[draws].mean(1), [2.5, 97.5])
        out[key] = (float(low), float(high))
    return out


FLAG_RULES = {
    # key: (kind, margin). "within": outside gt * (1 ± m); "above_ratio": > gt * (1 + m);
    # "above": > gt + m.
    "joint_speed": ("within", 0.3),
    "root_relative_speed": ("within", 0.3),
    "pose_range": ("within", 0.3),
    "root_travel": ("within", 0.3),
    "jitter": ("above_ratio", 1.0),
    "freezing": ("above", 0.10),
    "foot_skating": ("above", 0.05),
    "penetration": ("above", 0.02),
    "floating": ("above", 0.05),
}
"""When a policy's diagnostic leaves the ground truth's range: movement within ±30% (the
'dances visibly dance' target), jitter at most twice the ground truth's, freezing at most 10
points above it, skating at most 5 cm/s, penetration 2 cm and floating 5 cm above it."""


def diagnostic_flags(
    policy: dict,
    ground_truth: dict,
    reference: str = "the ground truth's",
    intervals: dict | None = None,
) -> list[str]:
    """Sentences naming each diagnostic of `policy` outside the `reference` range. A movement
    figure that lies inside the reference's own interval (`movement_intervals`) says so: the
    flag may then owe more to the pieces drawn than to the policy."""
    intervals = intervals or {}
    flags = []
    for key, (kind, margin) in FLAG_RULES.items():
        value, gt = policy.get(key), ground_truth.get(key)
        if value is None or gt is None:
            continue
        title = next(t for k, t, _ in DIAGNOSTICS if k == key)
        if kind == "within" and not gt * (1 - margin) <= value <= gt * (1 + margin):
            word = "below" if value < gt else "above"
            flag = f"{title} {value:.3g} is more than {margin:.0%} {word} {reference} {gt:.3g}"
            low, high = intervals.get(key) or (None, None)
            if low is not None and low <= value <= high:
                flag += f" (inside its 95% interval over the pieces, {low:.3g} to {high:.3g})"
            flags.append(flag)
        elif kind == "above_ratio" and value > gt * (1 + margin):
            flags.append(f"{title} {value:.3g} is more than {1 + margin:g}x {reference} {gt:.3g}")
        elif kind == "above" and value > gt + margin:
            flags.append(
                f"{title} {value:.3g} exceeds {reference} {gt:.3g} by more than {margin:g}"
            )
    return flags


def format_diagnostic(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "0" if value == 0 else f"{value:.3g}"


def raw_and_cleaned(rows: dict[str, dict], prefix: str = "") -> dict[str, dict[str, float | None]]:
    """The diagnostics of each row (`prefix + key`) and, where the row has them, of its cleaned
    dances (`prefix + CLEANED + key`) as a row of its own, "<name>, cleaned", just after it."""
    out = {}
    for name, row in rows.items():
        out[f"{name}, raw" if f"{prefix}{CLEANED}jitter" in row else name] = {
            k: row.get(f"{prefix}{k}") for k, _, _ in DIAGNOSTICS
        }
        if f"{prefix}{CLEANED}jitter" in row:
            out[f"{name}, cleaned"] = {
                k: row.get(f"{prefix}{CLEANED}{k}") for k, _, _ in DIAGNOSTICS
            }
    return out
