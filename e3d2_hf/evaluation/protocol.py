"""The Bailando evaluation protocol: crop, re-origin, features, GT statistics, the table.

Generated dances are cropped to 20 s (1200 frames) and moved so the first
frame's root is the origin; ground-truth dances are re-origined the same way
but kept whole. GT features are computed once and cached on a content hash.
BAS uses the whole, uncropped generated motion.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.arrays import load_arrays
from ..data.layout import EVAL_FRAMES, MOTION_FPS
from ..data.skeleton import SKELETONS, SMPL24, Skeleton, get_skeleton
from ..utils.cache_entries import read_cache_entry, write_cache_entry
from ..utils.errors import DataFileError
from .distribution import average_pairwise_distance, frechet_distance, normalise
from .geometric import feature_name as geometric_name
from .geometric import geometric_features
from .kinetic import feature_name as kinetic_name
from .kinetic import kinetic_features
from .metrics import BEAT_METRICS, METRICS, PROTOCOL
from .physical import estimate_floor, pieces, set_diagnostics

COLUMNS = PROTOCOL
LOWER_IS_BETTER = {name: METRICS[name].lower_is_better for name in COLUMNS}


@dataclass
class Dance:
    """Joints (T, J, 3) of `skeleton` at 60 FPS, and the 60-FPS music beat frames if known.

    `floor`: the height the dance stands on, where its file says (`e3d2 dance` stands its
    cleaned dances on 0); None where unknown. `offset`: the seconds of its song before it;
    `path`: the file it was read from, if one."""

    joints: np.ndarray
    music_beats: np.ndarray | None = None
    name: str = ""
    skeleton: Skeleton = SMPL24
    floor: float | None = None
    offset: float = 0.0
    path: str | None = None


@dataclass
class FeatureSet:
    kinetic: np.ndarray  # (N, 72)
    geometric: np.ndarray  # (N, 32)


SMPL_JOINTS = SMPL24.num_joints


def reorigin(joints: np.ndarray) -> np.ndarray:
    """Subtract the first frame's root position from every joint of every frame."""
    joints = np.asarray(joints, dtype=np.float64).reshape(len(joints), -1, 3)
    return joints - joints[:1, :1]


def dance_features(
    joints: np.ndarray, crop: int | None = EVAL_FRAMES, reference_bug: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(kinetic 3J, geometric 32) of one dance after the protocol's crop and re-origin.

    The geometric features are defined on SMPL-24 joints only; other skeletons
    get an empty geometric vector (and NaN FID_g / DIV_g).
    """
    joints = np.asarray(joints).reshape(len(joints), -1, 3)
    if crop is not None:
        joints = joints[:crop]
    joints = reorigin(joints)
    geometric = geometric_features(joints) if joints.shape[1] == SMPL_JOINTS else np.zeros(0)
    return kinetic_features(joints, reference_bug=reference_bug), geometric


def feature_set(
    dances: list[np.ndarray], crop: int | None, reference_bug: bool = True, desc: str = "features"
) -> FeatureSet:
    kinetic, geometric = [], []
    for joints in tqdm(dances, desc=desc, unit="dance", leave=False):
        k, g = dance_features(joints, crop, reference_bug)
        kinetic.append(k)
        geometric.append(g)
    return FeatureSet(np.stack(kinetic), np.stack(geometric))


def ground_truth_features(
    dances: list[np.ndarray],
    cache_dir: str | os.PathLike | None | bool = None,
    reference_bug: bool = True,
) -> FeatureSet:
    """Features of whole GT dances, cached on the sha256 of their joint arrays."""
    h = hashlib.sha256(f"gt-v1-bug{reference_bug}".encode())
    for joints in dances:
        arr = np.ascontiguousarray(joints, dtype=np.float32)
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    path = None
    if cache_dir is not False:
        from ..data.music import default_cache_dir

        root = (
            default_cache_dir().parent / "gt_features"
            if cache_dir in (None, True)
            else Path(cache_dir)
        )
        path = root / f"{h.hexdigest()[:32]}.npz"
        cached = read_cache_entry(path, h.hexdigest()) if path.is_file() else None
        if cached is not None and {"kinetic", "geometric"} <= set(cached):
            return FeatureSet(cached["kinetic"], cached["geometric"])
    features = feature_set(
        dances, crop=None, reference_bug=reference_bug, desc="ground-truth features"
    )
    if path is not None:
        write_cache_entry(
            path, h.hexdigest(), kinetic=features.kinetic, geometric=features.geometric
        )
    return features


CONSTANT_FEATURE_STD = 1e-8
"""A ground-truth feature whose standard deviation is below this never varies: normalising by
it (the reference divides by std + 1e-10) turns rounding into distances of 1e10 and more."""

UNDEFINED = "undefined"
"""Key of the {metric: reason} map `evaluate_dances` adds when a metric is undefined."""


def _departing_constants(generated: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """Features the ground truth never varies in and the generated dances leave.

    One where every generated dance holds the ground truth's value too is well defined: the
    reference normalises both to exactly 0 there (a ground truth whose upper back never snaps
    straight never fires the chest-stretch features 4 and 5, for one), so it adds nothing to
    a distance.
    """
    constant = ground_truth.std(0) < CONSTANT_FEATURE_STD
    departs = np.abs(generated - ground_truth.mean(0)).max(0) > CONSTANT_FEATURE_STD
    return np.flatnonzero(constant & departs)


def _constant_reason(kind: str, constant: np.ndarray, gen: np.ndarray, gt: np.ndarray) -> str:
    """Which ground-truth features never vary, and how far the generated dances leave them."""
    if kind == "g":
        names = [geometric_name(i) for i in constant]
    else:
        smpl = gen.shape[1] == 3 * SMPL_JOINTS
        names = [kinetic_name(i, SMPL24.joint_names if smpl else None) for i in constant]
    shown = ", ".join(f"#{i} ({n})" for i, n in zip(constant[:3], names, strict=False))
    more = f" and {constant.size - 3} more" if constant.size > 3 else ""
    departure = np.abs(gen[:, constant] - gt[0, constant])  # (dances, features)
    share = float((departure > CONSTANT_FEATURE_STD).any(1).mean())
    furthest = departure.max(0)
    worst = int(np.argmax(furthest))
    return (
        f"the ground truth never varies in feature(s) {shown}{more}, which {share:.0%} of the "
        f"generated dances leave (furthest: #{constant[worst]}, by {furthest[worst]:.3g}): the "
        "protocol divides by that zero spread, so every distance would be meaningless"
    )


def undefined_reasons(generated: FeatureSet, ground_truth: FeatureSet, has_beats: bool) -> dict:
    """{metric: why it is undefined for these inputs}; metrics not named are well defined."""
    reasons: dict[str, str] = {}
    for kind, gen, gt in (
        ("k", generated.kinetic, ground_truth.kinetic),
        ("g", generated.geometric, ground_truth.geometric),
    ):
        if gen.shape[1] == 0 or gt.shape[1] == 0:
            reason = "the geometric features are defined on SMPL-24 joints only"
        elif len(gt) < 2:
            reason = f"{len(gt)} ground-truth dance: its feature spread is undefined"
        elif (constant := _departing_constants(gen, gt)).size:
            reason = _constant_reason(kind, constant, gen, gt)
        else:
            continue
        reasons[f"FID_{kind}"] = reasons[f"DIV_{kind}"] = reason
    if not has_beats:
        reasons.update(
            dict.fromkeys(BEAT_METRICS, "no music beats are known for the generated dances")
        )
    return reasons


def evaluate_dances(
    generated: list[Dance],
    ground_truth: FeatureSet,
    reference_bug: bool = True,
    fid_method: str = "sqrtm",
    bootstrap: int = 0,
) -> dict:
    """FID_k, FID_g, DIV_k, DIV_g on GT-normalised features, and each beat metric (BAS, ...)
    averaged over the dances whose music beats are known.

    `bootstrap` > 0 adds `INTERVALS`: 95% intervals over that many resamples of the dances.

    A metric undefined for its inputs (see `undefined_reasons`) is None, and the result then
    holds `UNDEFINED`: {metric: reason}. Defined metrics are the reference's numbers.
    """
    if len(generated) < 2:
        raise ValueError("the protocol needs at least two generated dances")
    gen = feature_set(
        [d.joints for d in generated], EVAL_FRAMES, reference_bug, desc="generated features"
    )
    with_beats = [d for d in generated if d.music_beats is not None]
    scores = {
        name: [METRICS[name].per_dance(d.music_beats, d.joints) for d in with_beats]
        for name in BEAT_METRICS
    }
    reasons = undefined_reasons(gen, ground_truth, bool(with_beats))
    result: dict = {}
    for kind, gen_x, gt_x in (
        ("k", gen.kinetic, ground_truth.kinetic),
        ("g", gen.geometric, ground_truth.geometric),
    ):
        if f"FID_{kind}" in reasons:
            result[f"FID_{kind}"] = result[f"DIV_{kind}"] = None
            continue
        gen_n, gt_n = normalise(gen_x, gt_x), normalise(gt_x, gt_x)
        result[f"FID_{kind}"] = frechet_distance(gen_n, gt_n, method=fid_method)
        result[f"DIV_{kind}"] = average_pairwise_distance(gen_n)
    for name, values in scores.items():
        result[name] = float(np.mean(values)) if values else None
    result = {c: result[c] for c in COLUMNS}
    if reasons:
        result[UNDEFINED] = reasons
    if bootstrap:
        result[INTERVALS] = bootstrap_intervals(
            gen, ground_truth, scores, reasons, bootstrap, fid_method, estimates=result
        )
    return result


INTERVALS = "intervals"
"""Key of the {metric: [low, high]} 95% bootstrap intervals over the generated dances."""


def bootstrap_intervals(
    generated: FeatureSet,
    ground_truth: FeatureSet,
    per_dance: dict[str, list[float]],
    undefined: dict,
    resamples: int,
    fid_method: str = "sqrtm",
    seed: int = 0,
    estimates: dict | None = None,
) -> dict[str, list[float]]:
    """95% percentile intervals of each defined metric over dances resampled with replacement.

    The spread says how much the table's numbers owe to which pieces of music were danced; it
    does not cover training noise (that needs seeds). A resample repeats pieces, which by
    itself raises FID and lowers DIV (a repeated piece is a zero distance): on the demo's 8
    pieces pi_BC's FID_k of 51.4 got the interval [52.4, 81.1]. Given the full-set
    `estimates`, each interval is moved by that bias (bootstrap mean minus estimate), so it
    is centred where the estimate is; metrics stay non-negative. The beat metrics'
    `per_dance` scores are resampled together, one draw of dances for all of them.
    """
    rng = np.random.default_rng(seed)
    n = len(generated.kinetic)
    draws: dict[str, list[float]] = {c: [] for c in COLUMNS if c not in undefined}
    normalised = {
        kind: (normalise(gen_x, gt_x), normalise(gt_x, gt_x))
        for kind, gen_x, gt_x in (
            ("k", generated.kinetic, ground_truth.kinetic),
            ("g", generated.geometric, ground_truth.geometric),
        )
        if f"FID_{kind}" not in undefined
    }
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        for kind, (gen_n, gt_n) in normalised.items():
            draws[f"FID_{kind}"].append(frechet_distance(gen_n[pick], gt_n, method=fid_method))
            draws[f"DIV_{kind}"].append(average_pairwise_distance(gen_n[pick]))
        beats = {m: np.asarray(v) for m, v in per_dance.items() if m in draws and len(v)}
        if beats:
            k = len(next(iter(beats.values())))
            beat_pick = rng.integers(0, k, k)
            for metric, values in beats.items():
                draws[metric].append(float(np.mean(values[beat_pick])))
    intervals = {}
    for metric, v in draws.items():
        if not v:
            continue
        low, high = np.percentile(v, [2.5, 97.5])
        estimate = (estimates or {}).get(metric)
        bias = float(np.mean(v)) - estimate if estimate is not None else 0.0
        intervals[metric] = [max(float(low) - bias, 0.0), max(float(high) - bias, 0.0)]
    return intervals


def dances_from_dataset(dataset) -> list[Dance]:
    """Dances of a clip Dataset (the `joints`, `beat_frames` and `skeleton` columns)."""
    if "joints" not in dataset.column_names:
        raise DataFileError(None, "dataset has no 'joints' column")
    out = []
    for row in dataset.with_format("numpy"):
        skeleton = get_skeleton(str(row.get("skeleton", SMPL24.name)))
        if float(row.get("fps", MOTION_FPS)) != MOTION_FPS:
            raise ValueError(f"{row.get('id')}: dances must be at {MOTION_FPS:g} FPS")
        joints = row["joints"].reshape(-1, skeleton.num_joints, 3)
        out.append(Dance(joints, row.get("beat_frames"), str(row.get("id", "")), skeleton))
    return out


def _skeleton_of(shape: tuple[int, ...], recorded) -> Skeleton | None:
    """The skeleton a dance file records, or the one its joint count names; None if neither."""
    if recorded is not None and str(recorded) in SKELETONS:
        return SKELETONS[str(recorded)]
    if len(shape) == 3 and shape[2] == 3:
        joints = shape[1]
    elif len(shape) == 2 and shape[1] % 3 == 0:
        joints = shape[1] // 3
    else:
        return None
    found = [skeleton for skeleton in SKELETONS.values() if skeleton.num_joints == joints]
    return found[0] if len(found) == 1 else None


def dances_from_folder(folder: str | os.PathLike) -> list[Dance]:
    """Dances saved as `.npz` (`joints`, optional `beat_frames`, `fps`, `skeleton`, `cleanup`)
    or plain `.npy` joint arrays; the skeleton is the file's, or the one its joint count
    names. A dance `e3d2 dance` cleaned (`cleanup: contact`) stands on height 0."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(folder, "folder of generated dances not found")
    files = sorted([*folder.glob("*.npz"), *folder.glob("*.npy")])
    if not files:
        raise DataFileError(folder, "no .npz or .npy dances inside")
    out = []
    for f in files:
        data = load_arrays(f, "dance file")
        if "joints" not in data:
            raise DataFileError(f, f"no 'joints' array (has {sorted(data)})")
        joints, beats = data["joints"], data.get("beat_frames")
        fps = float(data["fps"]) if "fps" in data else MOTION_FPS
        if fps != MOTION_FPS:
            raise DataFileError(f, f"dance is at {fps:g} FPS; the protocol needs {MOTION_FPS:g}")
        joints = np.asarray(joints, dtype=np.float64)
        skeleton = _skeleton_of(joints.shape, data.get("skeleton"))
        n = skeleton.num_joints if skeleton else 0
        if skeleton is None or joints.shape[1:] not in ((3 * n,), (n, 3)):
            known = "; ".join(f"{s.name}: (T, {3 * s.num_joints}) or (T, {s.num_joints}, 3)"
                              for s in SKELETONS.values())  # fmt: skip
            raise DataFileError(f, f"joints have shape {joints.shape}, no skeleton's ({known})")
        joints = joints.reshape(len(joints), n, 3)
        if not np.isfinite(joints).all():
            raise DataFileError(f, "joints contain NaN or infinite values")
        floor = 0.0 if str(data.get("cleanup", "")) == "contact" else None
        offset = float(data["offset"]) if "offset" in data else 0.0
        out.append(Dance(joints, beats, f.stem, skeleton, floor, offset, str(f)))
    return out


def match_ground_truth(
    sets: dict[str, tuple[str, list[Dance]]], ground_truth: list[Dance]
) -> dict[str, list[Dance]]:
    """Each set (name -> (where it was read, dances)) made ready to score against the
    ground truth: every dance must be of the ground truth's skeleton (an error names the
    file); one without music beats takes those of the ground-truth dance of its name (what
    `e3d2 dance` names a Dance-with-Melody piece's dance); one whose file says where it stands
    is raised or lowered onto the ground truth's floor."""
    skeleton = ground_truth[0].skeleton
    truth = {d.name: d for d in ground_truth}
    floor = estimate_floor(pieces([d.joints for d in ground_truth], EVAL_FRAMES), skeleton)
    out = {}
    for name, (where, dances) in sets.items():
        ready = []
        for dance in dances:
            if dance.skeleton.name != skeleton.name:
                raise DataFileError(
                    dance.path or f"{where}: {dance.name}",
                    f"a {dance.skeleton.name} dance; the ground truth is {skeleton.name}",
                )
            beats = dance.music_beats
            if beats is None and dance.name in truth and truth[dance.name].music_beats is not None:
                beats = truth[dance.name].music_beats - round(dance.offset * MOTION_FPS)
                beats = beats[beats >= 0]
            joints = dance.joints
            if dance.floor is not None:
                joints = joints.copy()
                joints[..., skeleton.up_index] += floor - dance.floor
            ready.append(Dance(joints, beats, dance.name, skeleton, floor))
        out[name] = ready
    return out


def diagnose_sets(
    sets: dict[str, list[Dance]], ground_truth: list[Dance]
) -> dict[str, dict[str, float | None]]:
    """The physical diagnostics of each set (cropped as the protocol crops) and, first, of the
    ground truth in pieces of the same length."""
    skeleton = ground_truth[0].skeleton
    truth = pieces([d.joints for d in ground_truth], EVAL_FRAMES)
    floor = estimate_floor(truth, skeleton)
    out = {"ground truth": set_diagnostics(truth, skeleton, floor)}
    for name, dances in sets.items():
        out[name] = set_diagnostics([d.joints[:EVAL_FRAMES] for d in dances], skeleton, floor)
    return out
