"""BVH export and import for any `Skeleton`: joint positions <-> rest offsets + local rotations.

A BVH file holds a rest skeleton (one offset per joint) and, per frame, the root
position and every joint's local rotation, so positions must be turned into
rotations. Positions fix a bone's direction but not its twist, so rotations are
solved joint by joint from the root down:

- a joint with several children: the rotation that best maps the rest
  directions of its child bones onto the observed ones (Kabsch);
- a joint with one child: the smallest rotation from its parent's frame that
  points the child bone where it is observed (no added twist);
- a leaf: its parent's rotation.

Rest bone lengths are the median over frames. A dance made by forward
kinematics of the skeleton is reproduced by the rotations alone. A decoded
dance is not rigid (bone lengths wobble; the Dance-with-Melody torso has no
spine and bends), so by default every joint also gets position channels that
carry what the rotations miss, and the file reproduces the dance exactly; a
tool that reads only rotations sees the nearest rigid dance.
`joint_translations=False` writes rotations only (`BvhExport.max_deviation`
says how far that is from the input). Files follow Blender's importer: y-up,
metres by default, rotations in degrees, an End Site on every leaf.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..data.skeleton import Skeleton
from ..utils.errors import DataFileError

ROTATION_ORDERS = ("ZXY", "ZYX", "XYZ", "XZY", "YXZ", "YZX")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")


@dataclass
class BvhExport:
    path: Path
    rigid_joints: np.ndarray
    """(T, J, 3) positions of the rotations alone, in the skeleton's joint order (metres)."""
    max_deviation: float
    """Largest distance (metres) between `rigid_joints` and the input joints."""
    joint_translations: bool
    """Whether every joint has position channels (then the file reproduces the input)."""


@dataclass
class BvhMotion:
    """A parsed BVH file: joints in file order (end sites left out)."""

    joint_names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3)
    channels: list[list[str]]
    frame_time: float
    values: np.ndarray  # (T, total channels)

    @property
    def num_frames(self) -> int:
        return self.values.shape[0]

    def positions(self) -> np.ndarray:
        """(T, J, 3) joint positions by forward kinematics, in the file's units and joint order."""
        frames = self.num_frames
        rotations = np.zeros((frames, len(self.joint_names), 3, 3))
        positions = np.zeros((frames, len(self.joint_names), 3))
        column = 0
        for j, (parent, channels) in enumerate(zip(self.parents, self.channels, strict=True)):
            local = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
            translation = np.zeros((frames, 3))
            for name in channels:
                value = self.values[:, column]
                column += 1
                axis = "XYZ".index(name[0].upper())
                if name.endswith("position"):
                    translation[:, axis] = value
                else:  # BVH composes rotation channels left to right, in the order listed
                    local = local @ _axis_rotation(axis, np.radians(value))
            if parent < 0:
                rotations[:, j] = local
                positions[:, j] = self.offsets[j] + translation
            else:
                rotations[:, j] = rotations[:, parent] @ local
                positions[:, j] = (
                    positions[:, parent]
                    + np.einsum("tab,b->ta", rotations[:, parent], self.offsets[j])
                    + np.einsum("tab,tb->ta", rotations[:, parent], translation)
                )
        return positions

    def positions_for(self, skeleton: Skeleton, scale: float = 1.0) -> np.ndarray:
        """(T, J, 3) positions in `skeleton`'s joint order, divided by the file's `scale`."""
        missing = [n for n in skeleton.joint_names if n not in self.joint_names]
        if missing:
            raise ValueError(f"the BVH has no joints {missing} of skeleton {skeleton.name!r}")
        order = [self.joint_names.index(n) for n in skeleton.joint_names]
        return self.positions()[:, order] / scale


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    i, k = [a for a in range(3) if a != axis]
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., k, k] = c
    sign = 1.0 if axis != 1 else -1.0  # about y the sine terms swap sides
    m[..., i, k] = -s * sign
    m[..., k, i] = s * sign
    return m


def _swing(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking unit vectors `source` onto unit vectors `target`."""
    cross = np.cross(source, target)
    sin = np.linalg.norm(cross, axis=-1)
    cos = np.einsum("ta,ta->t", source, target)
    axis = cross / np.maximum(sin, 1e-12)[:, None]
    opposite = (sin < 1e-9) & (cos < 0)
    if opposite.any():  # any axis perpendicular to the source will do
        helper = np.where(np.abs(source[opposite, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
        perpendicular = np.cross(source[opposite], helper)
        axis[opposite] = perpendicular / np.linalg.norm(perpendicular, axis=-1, keepdims=True)
    return Rotation.from_rotvec(axis * np.arctan2(sin, cos)[:, None]).as_matrix()


def _kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations R minimising sum |R source_c - target_c|^2; source (C, 3), target (T, C, 3)."""
    h = np.einsum("tca,cb->tab", target, source)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[:, None]
    return u @ vt


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def solve_rotations(
    joints: np.ndarray, skeleton: Skeleton
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, J, 3) positions -> root positions (T, 3), local rotations (T, J, 3, 3), offsets (J, 3).

    Offsets keep the skeleton's rest directions with the dance's median bone lengths.
    """
    joints, _, local_rot, offsets = _solve(joints, skeleton)
    return joints[:, skeleton.root].copy(), local_rot, offsets


def _solve(
    joints: np.ndarray, skeleton: Skeleton
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked (T, J, 3) joints, global and local rotations (T, J, 3, 3), offsets (J, 3)."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim == 2 and joints.shape[1] == 3 * skeleton.num_joints:
        joints = joints.reshape(len(joints), skeleton.num_joints, 3)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.num_joints, 3) or len(joints) == 0:
        raise ValueError(
            f"joints must be (T, {skeleton.num_joints}, 3) for skeleton {skeleton.name!r}, "
            f"got {joints.shape}"
        )
    if not np.isfinite(joints).all():
        raise ValueError("joints hold NaN or infinite values")
    rest_dirs = _unit(skeleton.offsets_array())
    child_ids, parent_ids = _bone_indices(skeleton)
    offsets = np.zeros((skeleton.num_joints, 3))
    lengths = np.linalg.norm(joints[:, child_ids] - joints[:, parent_ids], axis=-1)
    offsets[child_ids] = rest_dirs[child_ids] * np.median(lengths, axis=0)[:, None]
    children = [[c for c, p in skeleton.bones if p == j] for j in range(skeleton.num_joints)]
    frames = len(joints)
    global_rot = np.zeros((frames, skeleton.num_joints, 3, 3))
    local_rot = np.zeros_like(global_rot)
    for j in skeleton.topological_order:
        parent = skeleton.parents[j]
        parent_rot = (
            global_rot[:, parent] if parent >= 0 else np.broadcast_to(np.eye(3), (frames, 3, 3))
        )
        kids = children[j]
        if len(kids) >= 2:
            observed = _unit(joints[:, kids] - joints[:, j : j + 1])
            global_rot[:, j] = _kabsch(rest_dirs[kids], observed)
        elif len(kids) == 1:
            current = np.einsum("tab,b->ta", parent_rot, rest_dirs[kids[0]])
            observed = _unit(joints[:, kids[0]] - joints[:, j])
            global_rot[:, j] = _swing(current, observed) @ parent_rot
        else:
            global_rot[:, j] = parent_rot
        local_rot[:, j] = np.swapaxes(parent_rot, -1, -2) @ global_rot[:, j]
    return joints, global_rot, local_rot, offsets


def _bone_indices(skeleton: Skeleton) -> tuple[list[int], list[int]]:
    """(children, parents) of every bone, as two index lists."""
    return [c for c, _ in skeleton.bones], [p for _, p in skeleton.bones]


def _rigid_positions(
    root: np.ndarray, global_rot: np.ndarray, offsets: np.ndarray, skeleton: Skeleton
) -> np.ndarray:
    """(T, J, 3) forward kinematics of solved rotations on the fixed offsets."""
    positions = np.zeros(global_rot.shape[:2] + (3,))
    for j in skeleton.topological_order:
        parent = skeleton.parents[j]
        positions[:, j] = (
            root
            if parent < 0
            else positions[:, parent] + np.einsum("tab,b->ta", global_rot[:, parent], offsets[j])
        )
    return positions


def _joint_residuals(
    joints: np.ndarray, global_rot: np.ndarray, offsets: np.ndarray, skeleton: Skeleton
) -> np.ndarray:
    """(T, J, 3) per-joint translations, in the parent's frame, that make FK hit `joints` exactly."""
    child_ids, parent_ids = _bone_indices(skeleton)
    bones = joints[:, child_ids] - joints[:, parent_ids]
    residual = np.zeros(joints.shape)
    residual[:, child_ids] = (
        np.einsum("tjba,tjb->tja", global_rot[:, parent_ids], bones) - offsets[child_ids]
    )
    return residual


def _depth_first(skeleton: Skeleton) -> list[int]:
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for child, parent in skeleton.bones:
            if parent == j:
                visit(child)

    visit(skeleton.root)
    return order


def write_bvh(
    path: str | os.PathLike,
    joints: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    scale: float = 1.0,
    rotation_order: str = "ZXY",
    joint_translations: bool = True,
) -> BvhExport:
    """Write joint positions (metres) as a BVH; `scale` converts units (100: centimetres).

    The file is written to a temporary name and renamed, so a failed export leaves nothing.
    """
    if rotation_order not in ROTATION_ORDERS:
        raise ValueError(f"rotation_order must be one of {ROTATION_ORDERS}, got {rotation_order!r}")
    if fps <= 0 or scale <= 0:
        raise ValueError(f"fps and scale must be positive, got fps={fps}, scale={scale}")
    joints, global_rot, local_rot, offsets = _solve(joints, skeleton)
    root = joints[:, skeleton.root]
    rigid = _rigid_positions(root, global_rot, offsets, skeleton)
    order = _depth_first(skeleton)
    rotation_channels = [f"{axis}rotation" for axis in rotation_order]
    lines = ["HIERARCHY"]

    def fmt(v: np.ndarray) -> str:
        return " ".join(f"{x:.6f}" for x in v)

    stack: list[int] = []
    for j in order:
        parent = skeleton.parents[j]
        while stack and stack[-1] != parent:
            stack.pop()
            lines.append("\t" * len(stack) + "}")
        pad = "\t" * len(stack)
        name = skeleton.joint_names[j]
        if parent < 0:
            lines += [f"ROOT {name}", "{", f"\tOFFSET {fmt(np.zeros(3))}"]
            lines.append(
                f"\tCHANNELS 6 {' '.join(POSITION_CHANNELS)} {' '.join(rotation_channels)}"
            )
        else:
            lines += [f"{pad}JOINT {name}", f"{pad}{{", f"{pad}\tOFFSET {fmt(offsets[j] * scale)}"]
            joint_channels = list(POSITION_CHANNELS) if joint_translations else []
            joint_channels += rotation_channels
            lines.append(f"{pad}\tCHANNELS {len(joint_channels)} {' '.join(joint_channels)}")
        if not any(p == j for _, p in skeleton.bones):
            tip = offsets[j] * 0.5 if parent >= 0 else np.array([0.0, 0.1, 0.0])
            if not np.any(tip):
                tip = np.array([0.0, 0.05, 0.0])
            lines += [
                f"{pad}\tEnd Site",
                f"{pad}\t{{",
                f"{pad}\t\tOFFSET {fmt(tip * scale)}",
                f"{pad}\t}}",
            ]
        stack.append(j)
    while stack:
        stack.pop()
        lines.append("\t" * len(stack) + "}")
    euler = Rotation.from_matrix(local_rot.reshape(-1, 3, 3)).as_euler(rotation_order, degrees=True)
    euler = euler.reshape(len(root), skeleton.num_joints, 3)
    residual = _joint_residuals(joints, global_rot, offsets, skeleton)
    columns = [root * scale]
    for j in order:
        if j != skeleton.root and joint_translations:
            columns.append(residual[:, j] * scale)
        columns.append(euler[:, j])
    values = np.concatenate(columns, axis=1)
    lines += ["MOTION", f"Frames: {len(root)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in values]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    deviation = float(np.max(np.linalg.norm(rigid - joints, axis=-1)))
    return BvhExport(path, rigid, deviation, joint_translations)


def read_bvh(path: str | os.PathLike) -> BvhMotion:
    """Parse a BVH file; a malformed one raises `DataFileError` naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "BVH file not found")
    tokens_by_line = [line.split() for line in path.read_text().splitlines()]
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    in_end_site = False
    i = 0

    def fail(message: str) -> DataFileError:
        return DataFileError(path, f"line {i + 1}: {message}")

    if not tokens_by_line or tokens_by_line[0] != ["HIERARCHY"]:
        raise DataFileError(path, "not a BVH file (no HIERARCHY on the first line)")
    i = 1
    try:
        while i < len(tokens_by_line):
            words = tokens_by_line[i]
            if not words:
                i += 1
                continue
            key = words[0]
            if key in ("ROOT", "JOINT"):
                if (key == "ROOT") != (not names):
                    raise fail(f"unexpected {key}")
                names.append(words[1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
            elif key == "End":
                in_end_site = True
            elif key == "{":
                if not in_end_site:
                    stack.append(len(names) - 1)
            elif key == "}":
                if in_end_site:
                    in_end_site = False
                elif stack:
                    stack.pop()
                else:
                    raise fail("unbalanced '}'")
            elif key == "OFFSET":
                if not in_end_site:
                    offsets[-1] = [float(x) for x in words[1:4]]
            elif key == "CHANNELS":
                count = int(words[1])
                channels[-1] = words[2 : 2 + count]
                if len(channels[-1]) != count:
                    raise fail(f"CHANNELS promises {count} names")
            elif key == "MOTION":
                break
            else:
                raise fail(f"unexpected {key!r} in the hierarchy")
            i += 1
        if stack or not names:
            raise fail("the hierarchy is not closed")
        frames = int(tokens_by_line[i + 1][1])
        if tokens_by_line[i + 2][:2] != ["Frame", "Time:"]:
            raise fail("expected 'Frame Time:'")
        frame_time = float(tokens_by_line[i + 2][2])
        rows = [r for r in tokens_by_line[i + 3 :] if r]
        values = np.asarray(rows, dtype=np.float64)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(path, f"line {i + 1}: malformed BVH ({exc})") from None
    width = sum(len(c) for c in channels)
    if values.shape != (frames, width):
        raise DataFileError(
            path, f"MOTION holds {values.shape} values, the header promises ({frames}, {width})"
        )
    return BvhMotion(names, parents, np.asarray(offsets), channels, frame_time, values)
