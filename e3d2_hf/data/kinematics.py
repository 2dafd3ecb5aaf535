"""Forward kinematics: SMPL axis-angle poses + translation -> joint positions.

Two paths, as in docs/bailando.md §2: the built-in rest skeleton (no SMPL file
needed) and `smplx.SMPL` when the user points at a folder with the licensed
model files.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .skeleton import SMPL24, Skeleton


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, (..., 3) -> (..., 3, 3); exact at zero angle."""
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)
    small = angle < 1e-8
    safe_angle = torch.where(small, torch.ones_like(angle), angle)
    axis = axis_angle / safe_angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(
        *axis.shape[:-1], 3, 3
    )
    sin = torch.sin(angle)[..., None]
    cos = torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    rot = eye + sin * cross + (1.0 - cos) * (cross @ cross)
    return torch.where(small[..., None], eye.expand_as(rot), rot)


def forward_kinematics(
    poses: torch.Tensor,
    translation: torch.Tensor,
    skeleton: Skeleton = SMPL24,
    offsets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Joint positions (..., J, 3) from local axis-angle rotations (..., J, 3) or (..., 3J).

    The root joint sits at `translation`; each child is its parent's position
    plus the parent's global rotation applied to the rest offset.
    """
    num_joints = skeleton.num_joints
    if poses.shape[-1] == 3 * num_joints:
        poses = poses.reshape(*poses.shape[:-1], num_joints, 3)
    if poses.shape[-2:] != (num_joints, 3):
        raise ValueError(
            f"poses must end in ({num_joints}, 3) or ({3 * num_joints},) for {skeleton.name}, "
            f"got {tuple(poses.shape)}"
        )
    if translation.shape[-1] != 3 or translation.shape[:-1] != poses.shape[:-2]:
        raise ValueError(
            f"translation {tuple(translation.shape)} does not match poses {tuple(poses.shape)}"
        )
    if offsets is None:
        offsets = torch.as_tensor(skeleton.offsets_array(), dtype=poses.dtype, device=poses.device)
    local = axis_angle_to_matrix(poses)
    global_rot: list[torch.Tensor | None] = [None] * num_joints
    positions: list[torch.Tensor | None] = [None] * num_joints
    for j in skeleton.topological_order:
        parent = skeleton.parents[j]
        if parent < 0:
            global_rot[j] = local[..., j, :, :]
            positions[j] = translation + offsets[j]
        else:
            global_rot[j] = global_rot[parent] @ local[..., j, :, :]
            positions[j] = positions[parent] + (
                global_rot[parent] @ offsets[j].unsqueeze(-1)
            ).squeeze(-1)
    return torch.stack(positions, dim=-2)


def smpl_joints(
    poses: np.ndarray,
    translation: np.ndarray,
    scaling: float = 1.0,
    model_path: str | os.PathLike | None = None,
    gender: str = "male",
    chunk: int = 2048,
) -> np.ndarray:
    """AIST++ SMPL parameters -> (T, 24, 3) joints, y-up, metres, float32.

    The translation is divided by `scaling` (AIST++ `smpl_scaling`, ~100); the
    body itself keeps template scale. With `model_path`, joints come from
    `smplx.SMPL(model_path, gender=gender)` (betas 0, Bailando's call);
    otherwise from the built-in SMPL-24 rest skeleton, whose pelvis sits exactly
    at the translation (the SMPL model adds its own pelvis rest position, a
    constant offset of a few centimetres).
    """
    poses_t = torch.as_tensor(np.asarray(poses, dtype=np.float32)).reshape(len(poses), 24, 3)
    trans_t = torch.as_tensor(np.asarray(translation, dtype=np.float32)) / float(scaling)
    if model_path is None:
        with torch.no_grad():
            return forward_kinematics(poses_t, trans_t, SMPL24).numpy()
    import smplx  # imported lazily: it is only needed with a model file

    out = []
    with torch.no_grad():
        for start in range(0, len(poses_t), chunk):
            p = poses_t[start : start + chunk]
            model = smplx.SMPL(model_path=os.fspath(model_path), gender=gender, batch_size=len(p))
            result = model(
                global_orient=p[:, 0],
                body_pose=p[:, 1:].reshape(len(p), -1),
                transl=trans_t[start : start + chunk],
            )
            out.append(result.joints[:, :24].numpy())
    return np.concatenate(out, axis=0).astype(np.float32)
