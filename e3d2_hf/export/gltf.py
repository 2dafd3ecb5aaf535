"""Animated glTF 2.0 (.glb) of a dance: the same figure as the video, for the browser and Blender.

The body is a node per joint (a sphere), per bone (a cylinder stretched between its two
joints: translation, rotation and scale keyframes) and for the head; a floor disc sits under
the dance. glTF is y-up, metres, like the skeletons here. The scene's `extras.facing` holds
the dancer's mean forward direction, so a viewer can place its camera in front.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from ..data.layout import MOTION_FPS
from ..data.skeleton import Skeleton
from .figure import COLOURS, HEAD_RADIUS, JOINT_RADIUS, LIMB_RADIUS, facing, head_centres, side

FLOAT, UINT16 = 5126, 5123
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963


def _sphere(segments: int = 16, rings: int = 10) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0, np.pi, rings + 1)[:, None]
    phi = np.linspace(0, 2 * np.pi, segments + 1)[None, :]
    points = np.stack(
        [np.sin(theta) * np.cos(phi), np.cos(theta) + 0 * phi, np.sin(theta) * np.sin(phi)], -1
    ).reshape(-1, 3)
    faces = []
    for r in range(rings):
        for s in range(segments):
            a, b = r * (segments + 1) + s, (r + 1) * (segments + 1) + s
            faces += [(a, a + 1, b), (a + 1, b + 1, b)]
    return points, np.asarray(faces)


def _cylinder(segments: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Radius 1, height 1 along y, centred at the origin; open ends (the joint spheres cap it)."""
    phi = np.linspace(0, 2 * np.pi, segments + 1)
    ring = np.stack([np.cos(phi), np.zeros_like(phi), np.sin(phi)], -1)
    points = np.concatenate([ring + [0, -0.5, 0], ring + [0, 0.5, 0]])
    n = segments + 1
    faces = [(s, n + s, s + 1) for s in range(segments)]
    faces += [(s + 1, n + s, n + s + 1) for s in range(segments)]
    return points, np.asarray(faces)


def _disc(segments: int = 48) -> tuple[np.ndarray, np.ndarray]:
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    points = np.concatenate([[[0, 0, 0]], np.stack([np.cos(phi), 0 * phi, np.sin(phi)], -1)])
    faces = [(0, 1 + (s + 1) % segments, 1 + s) for s in range(segments)]
    return points, np.asarray(faces)


def _rotations_from_y(directions: np.ndarray) -> np.ndarray:
    """(N, 3) unit vectors -> (N, 4) xyzw quaternions rotating +y onto them."""
    x, y, z = directions[:, 0], directions[:, 1], directions[:, 2]
    q = np.stack([z, np.zeros_like(y), -x, 1.0 + y], -1)
    flipped = q[:, 3] < 1e-8  # pointing straight down: half a turn about x
    q[flipped] = [1.0, 0.0, 0.0, 0.0]
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


class _Builder:
    """Accumulates the binary buffer, buffer views and accessors of one glTF file."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, kind: str, target: int | None = None, bounds: bool = False):
        array = np.ascontiguousarray(array, dtype=np.uint16 if kind == "SCALAR_U16" else np.float32)
        while len(self.blob) % 4:
            self.blob.append(0)
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": array.nbytes}
        if target:
            view["target"] = target
        self.blob += array.tobytes()
        self.views.append(view)
        shape = {"SCALAR": 1, "SCALAR_U16": 1, "VEC3": 3, "VEC4": 4}[kind]
        accessor = {
            "bufferView": len(self.views) - 1,
            "componentType": UINT16 if kind == "SCALAR_U16" else FLOAT,
            "count": int(array.size // shape),
            "type": "SCALAR" if kind.startswith("SCALAR") else kind,
        }
        if bounds:
            flat = array.reshape(-1, shape)
            accessor["min"] = flat.min(0).tolist()
            accessor["max"] = flat.max(0).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def dance_gltf(
    joints: np.ndarray, skeleton: Skeleton, source_fps: float = MOTION_FPS, fps: float = 30.0
) -> tuple[dict, bytes]:
    """The glTF JSON and binary buffer of a dance (T, J, 3) in metres, resampled to `fps`."""
    joints = np.asarray(joints, dtype=np.float64).reshape(len(joints), skeleton.num_joints, 3)
    frames = max(int(np.floor(len(joints) / source_fps * fps + 1e-9)), 2)
    index = np.minimum(np.round(np.arange(frames) * source_fps / fps).astype(int), len(joints) - 1)
    points = joints[index]
    times = np.arange(frames) / fps
    b = _Builder()
    time_accessor = b.add(times, "SCALAR", bounds=True)

    materials = [
        {"name": name, "pbrMetallicRoughness": {"baseColorFactor": [*rgb, 1.0],
                                                "metallicFactor": 0.0, "roughnessFactor": 0.7}}
        for name, rgb in COLOURS.items()
    ] + [{"name": "floor", "pbrMetallicRoughness": {"baseColorFactor": [0.86, 0.86, 0.86, 1.0],
                                                    "metallicFactor": 0.0}}]  # fmt: skip
    material_of = {name: i for i, name in enumerate(COLOURS)}
    meshes: list[dict] = []
    mesh_of: dict[tuple[str, str], int] = {}
    for shape, (vertices, faces) in {
        "sphere": _sphere(),
        "cylinder": _cylinder(),
        "disc": _disc(),
    }.items():
        normals = vertices.copy()
        if shape == "cylinder":
            normals[:, 1] = 0
        elif shape == "disc":
            normals = np.tile([0.0, 1.0, 0.0], (len(vertices), 1))
        position = b.add(vertices, "VEC3", ARRAY_BUFFER, bounds=True)
        normal = b.add(normals, "VEC3", ARRAY_BUFFER)
        indices = b.add(faces.reshape(-1), "SCALAR_U16", ELEMENT_ARRAY_BUFFER)
        for colour in ("floor",) if shape == "disc" else COLOURS:
            material = len(materials) - 1 if colour == "floor" else material_of[colour]
            mesh_of[shape, colour] = len(meshes)
            meshes.append({
                "name": f"{shape}-{colour}",
                "primitives": [{"attributes": {"POSITION": position, "NORMAL": normal},
                                "indices": indices, "material": material}],
            })  # fmt: skip

    nodes: list[dict] = []
    channels: list[dict] = []
    samplers: list[dict] = []

    def animate(node: int, path: str, values: np.ndarray) -> None:
        kind = "VEC4" if path == "rotation" else "VEC3"
        samplers.append(
            {"input": time_accessor, "output": b.add(values, kind), "interpolation": "LINEAR"}
        )
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    for j, name in enumerate(skeleton.joint_names):
        nodes.append({"name": name, "mesh": mesh_of["sphere", side(skeleton, j)],
                      "scale": [JOINT_RADIUS] * 3})  # fmt: skip
        animate(len(nodes) - 1, "translation", points[:, j])
    for child, parent in skeleton.bones:
        start, end = points[:, parent], points[:, child]
        vector = end - start
        length = np.linalg.norm(vector, axis=-1)
        direction = vector / np.maximum(length, 1e-9)[:, None]
        direction[length < 1e-9] = [0.0, 1.0, 0.0]
        nodes.append({"name": f"{skeleton.joint_names[parent]}-{skeleton.joint_names[child]}",
                      "mesh": mesh_of["cylinder", side(skeleton, child)]})  # fmt: skip
        node = len(nodes) - 1
        animate(node, "translation", (start + end) / 2)
        animate(node, "rotation", _rotations_from_y(direction))
        animate(node, "scale", np.stack([np.full_like(length, LIMB_RADIUS), length,
                                         np.full_like(length, LIMB_RADIUS)], -1))  # fmt: skip
    heads = head_centres(points, skeleton)
    if heads is not None:
        nodes.append(
            {"name": "head-sphere", "mesh": mesh_of["sphere", "centre"], "scale": [HEAD_RADIUS] * 3}
        )
        animate(len(nodes) - 1, "translation", heads)
    root = points[:, skeleton.root]
    reach = float(np.max(np.linalg.norm((root - root.mean(0))[:, [0, 2]], axis=-1), initial=0.0))
    nodes.append({
        "name": "floor", "mesh": mesh_of["disc", "floor"],
        "translation": [float(root[:, 0].mean()), float(points[..., 1].min()) - 0.002,
                        float(root[:, 2].mean())],
        "scale": [reach + 1.2, 1.0, reach + 1.2],
    })  # fmt: skip

    document = {
        "asset": {"version": "2.0", "generator": "e3d2-hf"},
        "scene": 0,
        "scenes": [{"name": "dance", "nodes": list(range(len(nodes))),
                    "extras": {"facing": facing(points, skeleton).tolist(), "fps": fps,
                               "skeleton": skeleton.name}}],
        "nodes": nodes,
        "meshes": meshes,
        "materials": materials,
        "animations": [{"name": "dance", "channels": channels, "samplers": samplers}],
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": [{"byteLength": len(b.blob)}],
    }  # fmt: skip
    return document, bytes(b.blob)


def write_glb(
    path: str | os.PathLike,
    joints: np.ndarray,
    skeleton: Skeleton,
    source_fps: float = MOTION_FPS,
    fps: float = 30.0,
) -> Path:
    """Write the dance as one binary glTF; under a temporary name, then renamed."""
    document, blob = dance_gltf(joints, skeleton, source_fps, fps)
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<4sII", b"glTF", 2, total))
        f.write(struct.pack("<I4s", len(text), b"JSON") + text)
        f.write(struct.pack("<I4s", len(blob), b"BIN\0") + blob)
    os.replace(tmp, path)
    return path


def read_glb(path: str | os.PathLike) -> tuple[dict, bytes]:
    """(JSON, binary chunk) of a .glb; raises ValueError if it is not one."""
    data = Path(path).read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data)
    if magic != b"glTF" or version != 2 or total != len(data):
        raise ValueError(f"{path}: not a glTF 2.0 binary file")
    json_len, _ = struct.unpack_from("<I4s", data, 12)
    document = json.loads(data[20 : 20 + json_len])
    bin_len, _ = struct.unpack_from("<I4s", data, 20 + json_len)
    start = 28 + json_len
    return document, data[start : start + bin_len]


def accessor_array(document: dict, blob: bytes, index: int) -> np.ndarray:
    """The values of one accessor as an array (N, components)."""
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    dtype = np.uint16 if accessor["componentType"] == UINT16 else np.float32
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[accessor["type"]]
    values = np.frombuffer(blob, dtype, accessor["count"] * width, view["byteOffset"])
    return values.reshape(accessor["count"], width)
