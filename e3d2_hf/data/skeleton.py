"""Skeleton definitions: joint names, parents, rest offsets, up axis, body split.

One `Skeleton` per skeleton; everything that needs joint indices imports them
from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree with a rest pose in metres and an upper/lower-body split.

    `lower_body` and `upper_body` partition the joints; the lower half holds the
    root, as in Bailando's two VQ-VAEs.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: tuple[tuple[float, float, float], ...]
    lower_body: tuple[int, ...]
    upper_body: tuple[int, ...]
    root: int = 0
    up_axis: str = "y"
    feet: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    """(left, right) joints of each foot, heel to toe; the ground-contact diagnostics use them."""
    head: int | None = None
    _order: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n or len(self.offsets) != n:
            raise ValueError(f"skeleton {self.name!r}: names, parents and offsets differ in length")
        if sorted(self.lower_body + self.upper_body) != list(range(n)):
            raise ValueError(f"skeleton {self.name!r}: upper/lower split is not a partition")
        if self.root not in self.lower_body or self.parents[self.root] != -1:
            raise ValueError(
                f"skeleton {self.name!r}: the root must be parentless and in the lower body"
            )
        object.__setattr__(self, "_order", _topological_order(self.parents))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def upper_channels(self) -> int:
        return 3 * len(self.upper_body)

    @property
    def lower_channels(self) -> int:
        return 3 * len(self.lower_body)

    @property
    def up_index(self) -> int:
        """The coordinate (0, 1, 2) of `up_axis`."""
        return "xyz".index(self.up_axis)

    @property
    def floor_joints(self) -> list[int]:
        """The joints a floor is found under: the feet, or every joint of a skeleton without."""
        return list(self.feet[0] + self.feet[1]) or list(range(self.num_joints))

    @property
    def topological_order(self) -> tuple[int, ...]:
        """Joint indices with every parent before its children."""
        return self._order

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(child, parent) pairs."""
        return [(j, p) for j, p in enumerate(self.parents) if p >= 0]

    def offsets_array(self) -> np.ndarray:
        return np.asarray(self.offsets, dtype=np.float64)

    def bone_lengths(self) -> np.ndarray:
        """Rest length of the bone ending at each joint (0 for the root)."""
        return np.linalg.norm(self.offsets_array(), axis=-1)

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions of the rest pose, root at the origin."""
        offsets = self.offsets_array()
        positions = np.zeros_like(offsets)
        for j in self.topological_order:
            if self.parents[j] >= 0:
                positions[j] = positions[self.parents[j]] + offsets[j]
        return positions

    def index(self, name: str) -> int:
        return self.joint_names.index(name)


def _topological_order(parents: tuple[int, ...]) -> tuple[int, ...]:
    order: list[int] = []
    placed: set[int] = set()
    while len(order) < len(parents):
        progressed = False
        for j, p in enumerate(parents):
            if j not in placed and (p == -1 or p in placed):
                order.append(j)
                placed.add(j)
                progressed = True
        if not progressed:
            raise ValueError("parents do not form a tree")
    return tuple(order)


SMPL24 = Skeleton(
    name="smpl24",
    joint_names=(
        "pelvis",
        "left_hip",
        "right_hip",
        "spine1",
        "left_knee",
        "right_knee",
        "spine2",
        "left_ankle",
        "right_ankle",
        "spine3",
        "left_foot",
        "right_foot",
        "neck",
        "left_collar",
        "right_collar",
        "head",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hand",
        "right_hand",
    ),  # fmt: skip
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21),
    # SMPL template joint offsets (betas = 0), y-up, metres.
    offsets=(
        (0.00000000, 0.00000000, 0.00000000),
        (0.05858135, -0.08228004, -0.01766408),
        (-0.06030973, -0.09051332, -0.01354254),
        (0.00443945, 0.12440352, -0.03838522),
        (0.04345142, -0.38646945, 0.00803700),
        (-0.04325663, -0.38368791, -0.00484304),
        (0.00448844, 0.13795640, 0.02682033),
        (-0.01479032, -0.42687458, -0.03742800),
        (0.01905555, -0.42004550, -0.03456167),
        (-0.00226458, 0.05603239, 0.00285505),
        (0.04105436, -0.06028581, 0.12204243),
        (-0.03483987, -0.06210566, 0.13032329),
        (-0.01339020, 0.21163553, -0.03346758),
        (0.07170245, 0.11399969, -0.01889817),
        (-0.08295366, 0.11247234, -0.02370739),
        (0.01011321, 0.08893734, 0.05040987),
        (0.12292141, 0.04520509, -0.01904600),
        (-0.11322832, 0.04685326, -0.00847207),
        (0.25533190, -0.01564902, -0.02294649),
        (-0.26012748, -0.01436928, -0.03126873),
        (0.26570925, 0.01269811, -0.00737473),
        (-0.26910836, 0.00679372, -0.00602676),
        (0.08669055, -0.01063603, -0.01559429),
        (-0.08875370, -0.00865157, -0.01010708),
    ),
    # Bailando's split (models/sep_vqvae.py): 9 lower joints (27 ch), 15 upper (45 ch).
    lower_body=(0, 1, 2, 4, 5, 7, 8, 10, 11),
    upper_body=(3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23),
    # EDGE's foot joints (eval/eval_pfc.py: [7, 10, 8, 11]): ankle and foot of each side.
    feet=((7, 10), (8, 11)),
    head=15,
)


# The Dance-with-Melody mocap skeleton, in the order of `skeletons.json`. The
# order is undocumented upstream; it was worked out from the data: a minimum
# spanning tree of the joint pairs whose distance varies least over time (the
# rigid bones), the upstream drawing script's line list, the y-range of each
# joint (head near +0.7 m, toes near -0.9 m relative to the body centre) and
# handedness (heel->toe is forward; joints 12-20 lie on the +x = left side of a
# right-handed y-up frame in 98% of frames). Joints 21 and 22 are extra markers
# near the left elbow and the right hand that the drawing script leaves out.
# Offsets: median heading-normalised bone vectors over the 18 shipped pairs.
DANCE_WITH_MELODY23 = Skeleton(
    name="dance_with_melody23",
    joint_names=(
        "head_front",
        "head_back",
        "waist",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "right_hand",
        "right_hip",
        "right_knee",
        "right_ankle",
        "right_heel",
        "right_toe",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "left_hand",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_heel",
        "left_toe",
        "left_elbow_marker",
        "right_hand_marker",
    ),  # fmt: skip
    parents=(1, 2, -1, 2, 3, 4, 5, 2, 7, 8, 9, 10, 2, 12, 13, 14, 2, 16, 17, 18, 19, 13, 6),
    offsets=(
        (-0.0828, -0.0413, -0.0261),
        (-0.0236, 0.4586, -0.1461),
        (0.0, 0.0, 0.0),
        (-0.1532, 0.2873, -0.0731),
        (-0.2710, -0.0303, 0.0378),
        (-0.0173, 0.0123, 0.1054),
        (0.0421, 0.0305, 0.1189),
        (-0.1007, -0.1628, -0.0392),
        (-0.0286, -0.4384, 0.0530),
        (0.0027, -0.2902, -0.1105),
        (0.0509, -0.0748, -0.0823),
        (-0.0319, -0.0464, 0.1863),
        (0.1082, 0.3090, -0.1079),
        (0.2600, -0.0453, 0.0212),
        (0.0687, 0.1601, 0.0275),
        (0.1056, -0.0395, 0.0173),
        (0.1133, -0.1583, -0.0392),
        (0.0265, -0.4611, 0.0500),
        (-0.0215, -0.2941, -0.0999),
        (-0.0696, -0.0630, -0.0799),
        (0.0862, -0.0388, 0.1829),
        (0.0460, 0.1082, 0.0031),
        (0.0055, -0.0066, 0.0317),
    ),
    root=2,
    lower_body=(2, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20),
    upper_body=(0, 1, 3, 4, 5, 6, 12, 13, 14, 15, 21, 22),
    feet=((18, 19, 20), (9, 10, 11)),
    head=1,
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (SMPL24, DANCE_WITH_MELODY23)}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {sorted(SKELETONS)}") from None
