"""A procedural music + dance dataset, deterministic from a seed.

Music: kick, snare/hat and a melody at a chosen tempo, rendered as audio.
Dance: SMPL-24 axis-angle poses driven by smooth functions of
c(t) = cos(pi (t - t0) / P) (P = beat period), whose time derivative vanishes
exactly on the beats. Joint speed therefore has its minima on the beats, so
the motion beats of the BAS metric sit on the music beats. Each genre has its
own tempo range, sound and set of moves; moves change every few beats with a
cross-fade that is also still on the beats. Every dance also travels, as real dances do:
one foot lands per beat on a path that goes out and back across the floor. When the body
travels or a move shifts it, the legs carry it over feet that stay on the ground.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import MOTION_FPS
from ..skeleton import SMPL24

AUDIO_SAMPLE_RATE = 22050
PELVIS_HEIGHT = 0.96
ARM_REST = 1.1
"""The arms hang down from the T-pose by this rotation (rad) about the shoulder's z axis."""
J = {name: i for i, name in enumerate(SMPL24.joint_names)}
CHEST_POP = 0.45
"""Half the back's fold (rad, times the move's amplitude) in an arm pump's chest pop. Snapping
straight, it moves the chest away from the belly faster than 0.47 m/s (at the reference's
1/120 s frame time) in some dances: geometric features #4 and #5, which real dances fire
(7 of the 30 AIST++ sequences in `aistpp/fid-features`), vary in the ground truth, so the
protocol does not divide by a zero spread."""


@dataclass(frozen=True)
class Genre:
    name: str
    bpm: tuple[float, float]
    root_hz: float
    scale: tuple[int, ...]
    moves: tuple[str, ...]
    snare: bool
    hat_subdivision: int
    reach: float  # how far (m) the dance travels from where it starts, out and back


GENRES: dict[str, Genre] = {
    g.name: g
    for g in (
        Genre(
            "bounce",
            (100, 120),
            110.0,
            (0, 3, 5, 7, 10),
            ("knee_bounce", "arm_pump", "side_step", "squat", "jump"),
            False,
            2,
            0.4,
        ),
        Genre(
            "wave",
            (80, 96),
            146.8,
            (0, 2, 4, 7, 9),
            ("arm_wave", "torso_sway", "knee_bounce", "bow", "arms_up"),
            False,
            3,
            0.25,
        ),
        Genre(
            "step",
            (112, 128),
            130.8,
            (0, 2, 3, 5, 7, 8, 10),
            ("side_step", "kick_step", "arm_pump", "knee_lift", "jump"),
            True,
            2,
            0.5,
        ),
        Genre(
            "spin",
            (90, 104),
            164.8,
            (0, 4, 7, 11),
            ("turn", "arm_wave", "torso_sway", "arms_up", "bow"),
            True,
            4,
            0.3,
        ),
    )
}


def _accent(c: np.ndarray, sharpness: float) -> np.ndarray:
    """An odd, smooth squashing of c in [-1, 1]: dwells at the extremes (the hits)."""
    return np.tanh(sharpness * c) / np.tanh(sharpness)


def _ease(x: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero slope at both ends."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def _flexed_arm(side: str, angle: np.ndarray) -> np.ndarray:
    """Axis-angle offsets (T, 3) that swing a resting arm forward by `angle` (rad): the
    rotation about x composed with the rest rotation, minus the rest rotation (poses add)."""
    from scipy.spatial.transform import Rotation

    rest = np.array([0.0, 0.0, -ARM_REST if side == "left" else ARM_REST])
    flexed = Rotation.from_rotvec(np.outer(-angle, [1.0, 0.0, 0.0])) * Rotation.from_rotvec(rest)
    return flexed.as_rotvec() - rest


def _rect(x: np.ndarray) -> np.ndarray:
    """The positive part, squared: one side of a swing, with no kink where it starts."""
    return np.clip(x, 0.0, None) ** 2


def _move_pose(
    move: str, hit: np.ndarray, amp: float, rng: np.random.Generator, slow: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Local axis-angle offsets (T, 24, 3) and root translation offsets (T, 3) of one move.

    `hit` swings once a beat; `slow` once every two beats (the deep moves: a squat or a bow
    to the floor in half a beat would be faster than a body moves)."""
    slow = hit if slow is None else slow
    poses = np.zeros((len(hit), 24, 3))
    trans = np.zeros((len(hit), 3))
    half = 0.5 * (1.0 + hit)  # 0..1, also still on the beats
    side = rng.choice([-1.0, 1.0])
    if move == "knee_bounce":
        bend = amp * 0.55 * half
        for s in ("left", "right"):
            poses[:, J[f"{s}_hip"], 0] -= bend
            poses[:, J[f"{s}_knee"], 0] += 2 * bend
            poses[:, J[f"{s}_ankle"], 0] -= bend
        poses[:, J["spine1"], 0] += 0.3 * bend
    elif move == "arm_pump":
        poses[:, J["left_elbow"], 1] += amp * (0.4 + 0.9 * half)
        poses[:, J["right_elbow"], 1] -= amp * (0.4 + 0.9 * half)
        poses[:, J["left_shoulder"], 0] -= amp * 0.6 * hit * side
        poses[:, J["right_shoulder"], 0] += amp * 0.6 * hit * side
        # a chest pop with each pump: the back folds and snaps straight mid-beat under a chest
        # that stays upright (the arms and head shift with it, they do not swing)
        fold = CHEST_POP * amp * (1.0 + _accent(hit, 4.0))
        poses[:, J["spine2"], 0] += fold
        poses[:, J["spine3"], 0] -= fold
    elif move == "side_step":
        trans[:, 0] += 0.18 * amp * hit * side
        poses[:, J["left_hip"], 2] += 0.25 * amp * _rect(hit)
        poses[:, J["right_hip"], 2] += 0.25 * amp * -_rect(-hit)
        poses[:, J["spine2"], 2] -= 0.12 * amp * hit
    elif move == "kick_step":
        poses[:, J["left_hip"], 0] -= 0.7 * amp * _rect(hit)
        poses[:, J["right_hip"], 0] -= 0.7 * amp * _rect(-hit)
        poses[:, J["left_knee"], 0] += 0.4 * amp * _rect(hit)
        poses[:, J["right_knee"], 0] += 0.4 * amp * _rect(-hit)
        poses[:, J["left_shoulder"], 1] += 0.5 * amp * hit
        poses[:, J["right_shoulder"], 1] += 0.5 * amp * hit
    elif move == "arm_wave":
        poses[:, J["left_shoulder"], 2] += amp * (0.9 + 0.7 * hit)
        poses[:, J["right_shoulder"], 2] -= amp * (0.9 - 0.7 * hit * side)
        poses[:, J["left_elbow"], 2] += 0.6 * amp * hit
        poses[:, J["right_elbow"], 2] -= 0.6 * amp * hit * side
        poses[:, J["spine3"], 2] += 0.1 * amp * hit
    elif move == "torso_sway":
        poses[:, J["spine1"], 2] += 0.2 * amp * hit
        poses[:, J["spine2"], 2] += 0.2 * amp * hit
        poses[:, J["neck"], 2] -= 0.2 * amp * hit
        poses[:, J["left_shoulder"], 0] += 0.5 * amp * hit
        poses[:, J["right_shoulder"], 0] += 0.5 * amp * hit
        trans[:, 0] += 0.06 * amp * hit
    elif move == "arms_up":
        # both hands raised above the head, elbows bent: the hand-raising geometric features
        raised = 0.5 * (1.0 + slow)
        poses[:, J["left_shoulder"], 2] += amp * 2.5 * raised
        poses[:, J["right_shoulder"], 2] -= amp * 2.5 * raised
        poses[:, J["left_elbow"], 1] += amp * 1.5 * raised
        poses[:, J["right_elbow"], 1] -= amp * 1.5 * raised
        poses[:, J["spine3"], 0] -= 0.15 * amp * raised
    elif move == "knee_lift":
        # high knees, one leg per beat: thigh above 50 degrees, knee bent, ankle well up
        for s_, part in (("left", _rect(hit)), ("right", _rect(-hit))):
            poses[:, J[f"{s_}_hip"], 0] -= 1.5 * amp * part
            poses[:, J[f"{s_}_knee"], 0] += 1.9 * amp * part
            poses[:, J[f"{s_}_ankle"], 0] += 0.3 * amp * part
        poses[:, J["left_elbow"], 1] += 0.8 * amp * _rect(-hit)
        poses[:, J["right_elbow"], 1] -= 0.8 * amp * _rect(hit)
    elif move == "squat":
        bend = amp * 0.5 * (1.0 + slow)
        for s_ in ("left", "right"):
            poses[:, J[f"{s_}_hip"], 0] -= 1.4 * bend
            poses[:, J[f"{s_}_knee"], 0] += 2.3 * bend
            poses[:, J[f"{s_}_ankle"], 0] -= 0.8 * bend
        poses[:, J["spine1"], 0] += 0.6 * bend
        poses[:, J["left_shoulder"], 1] += 0.8 * bend
        poses[:, J["right_shoulder"], 1] -= 0.8 * bend
    elif move == "bow":
        # a crouching bow with the hands to the floor on one beat, a lean back (hips ahead of
        # the shoulders) on the next
        down, back = _rect(slow), amp * _rect(-slow)
        poses[:, J["spine1"], 0] += 0.9 * down - 0.25 * back
        poses[:, J["spine2"], 0] += 0.8 * down - 0.2 * back
        poses[:, J["spine3"], 0] += 0.6 * down - 0.1 * back
        for s_ in ("left", "right"):
            poses[:, J[f"{s_}_hip"], 0] -= 1.5 * down - 0.35 * back
            poses[:, J[f"{s_}_knee"], 0] += 2.3 * down + 0.6 * back
            poses[:, J[f"{s_}_ankle"], 0] -= 0.7 * down + 0.3 * back
            poses[:, J[f"{s_}_shoulder"]] += _flexed_arm(s_, 1.5 * down)
        trans[:, 2] += 0.12 * back
    elif move == "jump":
        up = _rect(hit)
        down = _rect(-hit)
        trans[:, 1] += 0.16 * amp * up  # airborne: the only vertical offset a move sets
        for s_ in ("left", "right"):
            poses[:, J[f"{s_}_hip"], 0] -= 0.5 * amp * down
            poses[:, J[f"{s_}_knee"], 0] += 1.0 * amp * down
            poses[:, J[f"{s_}_ankle"], 0] -= 0.5 * amp * down
        poses[:, J["left_shoulder"], 2] += 1.0 * amp * up
        poses[:, J["right_shoulder"], 2] -= 1.0 * amp * up
    elif move == "turn":
        poses[:, J["spine2"], 1] += 0.4 * amp * hit
        poses[:, J["left_shoulder"], 2] += 0.6 * amp * half
        poses[:, J["right_shoulder"], 2] -= 0.6 * amp * half
    else:
        raise ValueError(f"unknown move {move!r}")
    return poses, trans


def synthesize_dance(
    genre: Genre,
    bpm: float,
    first_beat: float,
    num_frames: int,
    rng: np.random.Generator,
    fps: float = MOTION_FPS,
) -> tuple[np.ndarray, np.ndarray]:
    """SMPL axis-angle poses (T, 24, 3) and root translation (T, 3) dancing on the beats."""
    period = 60.0 / bpm
    t = np.arange(num_frames) / fps
    beat_pos = (t - first_beat) / period  # beat index as a real number
    sharpness = rng.uniform(1.0, 3.0)
    hit = _accent(np.cos(np.pi * beat_pos), sharpness)
    slow = _accent(np.cos(0.5 * np.pi * beat_pos), sharpness)
    poses = np.zeros((num_frames, 24, 3))
    # Arms rest down from the T-pose, slightly bent.
    poses[:, J["left_shoulder"], 2] = -ARM_REST
    poses[:, J["right_shoulder"], 2] = ARM_REST
    trans = np.zeros((num_frames, 3))  # horizontal steps and airborne lift of the moves

    # A new move every `phrase` beats, cross-faded over the beat before the change.
    phrase = int(rng.choice([4, 8]))
    n_phrases = int(np.ceil((beat_pos.max() + 1) / phrase)) + 2
    choices = [rng.choice(genre.moves) for _ in range(n_phrases)]
    amps = rng.uniform(0.6, 1.0, size=n_phrases)
    phrase_pos = np.maximum(beat_pos, 0.0) / phrase
    idx = np.floor(phrase_pos).astype(int)
    fade = _ease((phrase_pos - idx) * phrase - (phrase - 1))  # last beat of a phrase
    for k in range(n_phrases):
        weight = np.where(idx == k, 1.0 - fade, 0.0) + np.where(idx == k - 1, fade, 0.0)
        if not weight.any():
            continue
        p, tr = _move_pose(
            choices[k], hit, amps[k], np.random.default_rng(rng.integers(1 << 31)), slow
        )
        poses += weight[:, None, None] * p
        trans += weight[:, None] * tr

    heading = rng.uniform(-np.pi, np.pi)
    if "turn" in genre.moves:
        # quarter turns that start and stop on the beats
        step = np.floor(np.maximum(beat_pos, 0.0))
        heading = heading + 0.5 * np.pi * (step + _ease(np.maximum(beat_pos, 0.0) - step)) * 0.5
    poses[:, J["pelvis"], 1] += heading
    floor, plants, lift = _footwork(
        beat_pos, genre.reach, np.random.default_rng(rng.integers(1 << 31))
    )
    for s_, leg in (("left", 0), ("right", 1)):
        poses[:, J[f"{s_}_hip"], 0] -= 0.5 * lift[:, leg]
        poses[:, J[f"{s_}_knee"], 0] += 1.0 * lift[:, leg]
        poses[:, J[f"{s_}_ankle"], 0] -= 0.3 * lift[:, leg]
    trans[:, [0, 2]] += floor
    poses = _planted(poses, trans, plants)
    return poses, _grounded(poses, trans)


def _footwork(
    beat_pos: np.ndarray, reach: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Travel over the floor in steps on the beats: the root's horizontal path (T, x and z),
    where each foot stands (T, 2 legs, x and z) and how high each swinging leg is lifted
    (T, 2 legs, 0..1: the hip, knee and ankle bend by up to 0.5, 1.0 and 0.3 rad).

    One foot lands per beat, on the next of a series of floor spots that go out and back
    along one direction every 8 beats and along the other every 16; the root stays midway
    between the feet, so it moves, and the feet swing, only between beats (still on them)."""
    angle = rng.uniform(-np.pi, np.pi)
    along = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-along[1], along[0]])
    wide, side, phase = reach * rng.uniform(0.6, 1.0), reach * rng.uniform(0.0, 0.6), rng.uniform()
    beats = np.maximum(beat_pos, 0.0)
    k = np.floor(beats).astype(int)
    spots_at = np.arange(-1, k.max() + 2)

    def tri(x: np.ndarray) -> np.ndarray:
        return 1.0 - np.abs(1.0 - 2.0 * (x % 1.0))

    spots = (
        wide * tri(spots_at / 8)[:, None] * along
        + side * tri(spots_at / 16 + phase)[:, None] * across
    )
    before, now, after = spots[k], spots[k + 1], spots[k + 2]  # spots of beats k - 1, k, k + 1
    ease = _ease(beats - k)[:, None]
    floor = 0.5 * (before + now) + ease * 0.5 * (after - before)
    # the swinging foot leaves the floor before it moves and lands before it stops
    carried = _ease((beats - k - 0.2) / 0.6)[:, None]
    swinging = before + carried * (after - before)
    swings = np.stack([k % 2 == 0, k % 2 == 1], 1)  # (T, 2 legs): the left leg on even beats
    plants = np.where(swings[..., None], swinging[:, None], now[:, None])
    stride = np.linalg.norm(after - before, axis=-1)
    height = np.minimum(1.0, stride / 0.03) * np.sin(np.pi * (beats - k)) ** 2
    return floor, plants, swings * height[:, None]


def _planted(
    poses: np.ndarray,
    trans: np.ndarray,
    plants: np.ndarray,
    damping: float = 1e-2,
    iterations: int = 3,
    max_turn: float = 0.15,
) -> np.ndarray:
    """The hip rotations that keep each ankle on its spot of the floor (`plants`, T x 2 legs x
    (x, z), where `_footwork` put it) while the body travels and the moves shift it (`trans`
    x and z): the body moves over its feet instead of sliding on them. The legs' pose then
    tells the root's motion, which is what Bailando's root decoder reads from the lower-body
    codes. A few damped Gauss-Newton steps per frame on each hip's x and z rotation."""
    import torch

    from ..kinematics import forward_kinematics

    origin = torch.zeros(len(poses), 3, dtype=torch.float64)
    legs = [(J[f"{s}_hip"], J[f"{s}_ankle"]) for s in ("left", "right")]

    def ankles(p: np.ndarray) -> np.ndarray:  # (T, 2 legs, x and z), root-relative
        joints = forward_kinematics(torch.as_tensor(p), origin).numpy()
        return joints[:, [ankle for _, ankle in legs]][..., [0, 2]]

    # relative to the root, an ankle moves against the root's shift and with its own spot
    wanted = ankles(poses) + plants - trans[:, None, [0, 2]]
    out, eps = poses.copy(), 1e-4
    for _ in range(iterations):
        base = ankles(out)
        for leg, (hip, _) in enumerate(legs):
            columns = []
            for axis in (0, 2):
                nudged = out.copy()
                nudged[:, hip, axis] += eps
                columns.append((ankles(nudged)[:, leg] - base[:, leg]) / eps)
            jac = np.stack(columns, -1)  # (T, 2, 2)
            jt = np.swapaxes(jac, 1, 2)
            miss = (wanted[:, leg] - base[:, leg])[..., None]
            step = np.linalg.solve(jt @ jac + damping * np.eye(2), jt @ miss)[..., 0]
            # a deep squat's bent leg makes the solve ill-conditioned: small steps only
            step = np.clip(step, -max_turn, max_turn)
            out[:, hip, 0] += step[:, 0]
            out[:, hip, 2] += step[:, 1]
    return out


def _grounded(poses: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """The root height that keeps the lowest foot joint on the floor (y = 0), plus the moves'
    airborne lift (`trans[:, 1]`): bent knees lower the body, nothing sinks or floats."""
    import torch

    from ..kinematics import forward_kinematics

    lift = trans[:, 1].copy()
    standing = trans.copy()
    standing[:, 1] = PELVIS_HEIGHT
    joints = forward_kinematics(torch.as_tensor(poses), torch.as_tensor(standing)).numpy()
    feet = list(SMPL24.feet[0] + SMPL24.feet[1])
    out = standing.copy()
    out[:, 1] += lift - joints[:, feet, 1].min(1)
    return out


def _tone(freq: float, length: int, sr: int, decay: float) -> np.ndarray:
    t = np.arange(length) / sr
    wave = (
        np.sin(2 * np.pi * freq * t)
        + 0.4 * np.sin(4 * np.pi * freq * t)
        + 0.2 * np.sin(6 * np.pi * freq * t)
    )
    return wave * np.exp(-t / decay)


def synthesize_music(
    genre: Genre,
    bpm: float,
    first_beat: float,
    duration: float,
    rng: np.random.Generator,
    sr: int = AUDIO_SAMPLE_RATE,
) -> np.ndarray:
    """Mono float32 audio: kick on every beat, snare on the back beats, soft hats between, a melody note per beat."""
    n = int(round(duration * sr))
    audio = np.zeros(n)
    period = 60.0 / bpm
    beats = np.arange(first_beat, duration, period)
    kick_len = int(0.25 * sr)
    tk = np.arange(kick_len) / sr
    kick = np.sin(2 * np.pi * (50 * tk + 70 * (1 - np.exp(-tk * 30)) / 30)) * np.exp(-tk * 14)
    # a broadband beater click: onset strength takes the median over mel bands,
    # so a purely low-frequency kick would be invisible to the beat tracker
    kick += 0.6 * rng.standard_normal(kick_len) * np.exp(-tk / 0.012)
    hat_len = int(0.04 * sr)
    note_len = int(min(period, 0.6) * sr)
    degree = 0
    for k, b in enumerate(beats):
        i = int(round(b * sr))
        seg = slice(i, min(n, i + kick_len))
        audio[seg] += (1.0 if k % 4 == 0 else 0.8) * kick[: seg.stop - seg.start]
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, 2 * len(genre.scale) - 1))
        octave, step = divmod(degree, len(genre.scale))
        freq = genre.root_hz * 2 ** (octave + genre.scale[step] / 12)
        seg = slice(i, min(n, i + note_len))
        audio[seg] += 0.25 * _tone(freq, seg.stop - seg.start, sr, decay=0.25)
        for sub in range(1, genre.hat_subdivision):
            j = int(round((b + sub * period / genre.hat_subdivision) * sr))
            if j + hat_len < n:
                audio[j : j + hat_len] += (
                    0.04 * rng.standard_normal(hat_len) * np.exp(-np.arange(hat_len) / (0.008 * sr))
                )
        if genre.snare and k % 2 == 1:  # back-beat snare, on the beat
            j = i
            if j + 2 * hat_len < n:
                burst = rng.standard_normal(2 * hat_len) * np.exp(
                    -np.arange(2 * hat_len) / (0.02 * sr)
                )
                audio[j : j + 2 * hat_len] += 0.25 * burst
    audio /= max(1e-9, np.abs(audio).max()) / 0.9
    return audio.astype(np.float32)


@dataclass(frozen=True)
class SyntheticSequence:
    id: str
    genre: str
    bpm: float
    first_beat: float
    audio: np.ndarray
    poses: np.ndarray
    translation: np.ndarray


def generate_sequences(
    num_sequences: int = 32, duration: float = 16.0, seed: int = 0
) -> list[SyntheticSequence]:
    """`num_sequences` sequences cycling through the genres, identical for identical arguments."""
    names = sorted(GENRES)
    out = []
    for i in range(num_sequences):
        rng = np.random.default_rng([seed, i])
        genre = GENRES[names[i % len(names)]]
        bpm = float(rng.uniform(*genre.bpm))
        first_beat = float(rng.uniform(0.2, 60.0 / bpm))
        audio = synthesize_music(genre, bpm, first_beat, duration, rng)
        poses, trans = synthesize_dance(
            genre, bpm, first_beat, int(round(duration * MOTION_FPS)), rng
        )
        out.append(
            SyntheticSequence(
                f"synthetic_{genre.name}_{i:04d}", genre.name, bpm, first_beat, audio, poses, trans
            )
        )
    return out
