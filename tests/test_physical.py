"""Physical and motion diagnostics on constructed motions with known answers, and EDGE's PFC.

`fixtures/edge_pfc.npz` holds five 5-s SMPL-24 motions at 30 FPS, y-up (three synthetic ground
truth dances, a demo pi_BC dance and a noisy copy) and the score EDGE's own `eval/eval_pfc.py`
(Stanford-TML/EDGE at 17c3428) printed for each, run unmodified in a scratch folder outside
the repository on the motions rotated to EDGE's z-up. The third motion's root never
accelerates, so EDGE divides zero by zero and prints nan.
"""

from __future__ import annotations

import numpy as np
import pytest

from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23, SMPL24
from e3d2_hf.evaluation.physical import (
    CONTACT_HEIGHT,
    dance_diagnostics,
    diagnostic_flags,
    estimate_floor,
    movement_intervals,
    pfc,
    pieces,
    set_diagnostics,
)
from e3d2_hf.reports.tables import diagnostics_table

from .conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"

FPS = 60


def standing(frames: int = 120, skeleton=SMPL24) -> np.ndarray:
    """The rest pose held still, its lowest joint exactly on the floor (height 0)."""
    rest = skeleton.rest_positions()
    rest[:, 1] -= rest[:, 1].min()
    return np.repeat(rest[None], frames, axis=0)


def test_a_frozen_dance_is_all_frozen_and_moves_nowhere():
    d = dance_diagnostics(standing())
    assert d["freezing"] == 1.0
    for key in ("joint_speed", "root_relative_speed", "pose_range", "root_travel", "jitter"):
        assert d[key] == pytest.approx(0, abs=1e-12), key
    assert d["foot_skating"] == pytest.approx(0, abs=1e-12)  # on the floor, not moving
    assert d["penetration"] == 0 and d["floating"] == 0
    assert d["pfc"] is None  # the root never accelerates: EDGE's score is 0/0


def test_a_figure_sliding_over_the_floor_skates_at_its_speed():
    motion = standing()
    motion[..., 0] += np.arange(len(motion))[:, None] / FPS * 1.5  # 1.5 m/s along x, feet down
    d = dance_diagnostics(motion)
    assert d["foot_skating"] == pytest.approx(1.5)
    assert d["joint_speed"] == pytest.approx(1.5)
    assert d["root_relative_speed"] == pytest.approx(0, abs=1e-9)
    assert d["freezing"] == 0 and d["jitter"] == pytest.approx(0, abs=1e-6)
    assert d["max_step"] == pytest.approx(1.5 / FPS)


def test_a_floating_root_floats_and_never_touches_the_ground():
    d = dance_diagnostics(standing() + np.array([0, 0.3, 0]))
    assert d["floating"] == pytest.approx(0.3)
    assert d["penetration"] == 0
    assert d["foot_skating"] is None  # no foot is ever within CONTACT_HEIGHT of the floor
    sunk = dance_diagnostics(standing() - np.array([0, 0.1, 0]))
    assert sunk["penetration"] == pytest.approx(0.1) and sunk["floating"] == 0
    # the floor is a parameter: the same lifted figure stands on a floor 0.3 m up
    assert dance_diagnostics(standing() + np.array([0, 0.3, 0]), floor=0.3)["floating"] == 0


def test_feet_a_rounding_off_the_floor_stand_on_it():
    """Planted feet that sit 1e-9 m off the floor (float32 rounding) neither sink nor float;
    a micrometre and more counts."""
    for offset in (-1e-9, 7e-10):
        d = dance_diagnostics(standing() + np.array([0, offset, 0]))
        assert d["penetration"] == 0 and d["floating"] == 0, offset
    assert dance_diagnostics(standing() - np.array([0, 2e-6, 0]))["penetration"] == pytest.approx(
        2e-6
    )


def test_contact_is_decided_by_the_lowest_joint_of_each_foot():
    motion = standing()
    lifted = motion.copy()
    lifted[:, [7, 10], 1] += CONTACT_HEIGHT * 2  # the left foot held up, the right one down
    lifted[..., 2] += np.arange(len(motion))[:, None] / FPS  # everything slides 1 m/s along z
    d = dance_diagnostics(lifted)
    assert d["foot_skating"] == pytest.approx(1.0)  # only the right foot counts, at 1 m/s


def test_jitter_is_the_mean_jerk_and_root_travel_and_pose_range_are_rms_distances():
    t = np.arange(240) / FPS
    motion = standing(240)
    motion[..., 0] += (2.0 * t**3)[:, None]  # jerk 12 m/s^3 at every joint, exact in differences
    assert dance_diagnostics(motion)["jitter"] == pytest.approx(12.0, rel=1e-6)

    circle = standing(240)
    angle = 2 * np.pi * t / t[-1]
    circle[..., 0] += 0.5 * np.cos(angle)[:, None]
    circle[..., 2] += 0.5 * np.sin(angle)[:, None]
    assert dance_diagnostics(circle)["root_travel"] == pytest.approx(0.5, rel=1e-3)

    swing = standing(240)
    others = [j for j in range(24) if j != SMPL24.root]
    swing[::2, others, 0] += 0.04  # every joint but the root 4 cm to one side, then the other
    swing[1::2, others, 0] -= 0.04
    assert dance_diagnostics(swing)["pose_range"] == pytest.approx(0.04)
    assert dance_diagnostics(swing)["root_travel"] == pytest.approx(0, abs=1e-12)


def test_pfc_equals_edge_on_the_fixture_motions():
    data = np.load(FIXTURES / "edge_pfc.npz")
    for name, joints, expected in zip(
        data["names"], data["joints_yup_30fps"], data["edge_pfc"], strict=True
    ):
        ours = pfc(joints, fps=30)
        if np.isnan(expected):
            assert ours is None, name
        else:
            assert ours == pytest.approx(expected, rel=1e-6, abs=0), name
    # a 60-FPS dance is scored on every other frame, as EDGE scores 30-FPS motion
    doubled = np.repeat(data["joints_yup_30fps"][0], 2, axis=0)
    assert pfc(doubled, fps=60) == pytest.approx(data["edge_pfc"][0], rel=1e-6)
    with pytest.raises(ValueError, match="multiple of 30"):
        pfc(doubled, fps=50)


def test_the_floor_is_found_under_real_mocap_markers_and_dwm_feet_count():
    motion = standing(200, DANCE_WITH_MELODY23) + np.array([0, 0.07, 0])  # toes 7 cm up
    assert estimate_floor([motion], DANCE_WITH_MELODY23) == pytest.approx(0.07)
    d = dance_diagnostics(motion, DANCE_WITH_MELODY23, floor=0.07)
    assert d["floating"] == pytest.approx(0) and d["foot_skating"] == pytest.approx(0)


def test_a_frozen_policy_is_flagged_against_a_dancing_ground_truth():
    rng = np.random.default_rng(0)
    dancing = standing(240) + np.cumsum(rng.normal(0, 0.004, (240, 24, 3)), axis=0)
    truth = set_diagnostics(pieces([dancing], 120))
    frozen = set_diagnostics([standing(120), standing(120)])
    flags = diagnostic_flags(frozen, truth)
    assert any(f.startswith("freezing") for f in flags)
    assert any(f.startswith("joint speed") and "below" in f for f in flags)
    assert diagnostic_flags(truth, truth) == []
    table = diagnostics_table({"ground truth": truth, "frozen": frozen})
    row = next(line for line in table.splitlines() if line.startswith("| frozen |"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert [float(c) for c in cells[:6]] == pytest.approx([0, 0, 0, 0, 0, 1], abs=1e-12)
    assert cells[-1] == "n/a"  # PFC of a dance whose root never accelerates


def test_bad_joints_are_refused_with_the_shape():
    with pytest.raises(ValueError, match=r"\(T >= 4, 24, 3\).*\(3, 24, 3\)"):
        dance_diagnostics(np.zeros((3, 24, 3)))


def test_the_ground_truths_movement_interval_covers_its_pieces_and_qualifies_a_flag():
    """A set of pieces that travel 0 to 0.4 m: its mean root travel is uncertain, the flag of
    a policy inside that uncertainty says so, and one far outside it does not."""
    frames = 120
    t = np.linspace(0, 2 * np.pi, frames)[:, None]
    sway = [standing(frames) + np.stack([a * np.sin(t), 0 * t, 0 * t], -1) for a in (0, 0.1, 0.6)]
    truth = set_diagnostics(sway)
    intervals = movement_intervals([dance_diagnostics(d) for d in sway])
    low, high = intervals["root_travel"]
    assert set(intervals) == {"joint_speed", "root_relative_speed", "pose_range", "root_travel"}
    assert low < truth["root_travel"] < high
    assert low == pytest.approx(0, abs=1e-9) and high == pytest.approx(0.6 / np.sqrt(2), rel=0.01)
    assert intervals["pose_range"] == pytest.approx(
        (0, 0), abs=1e-9
    )  # rigid: the pose never varies
    inside = dict(truth, root_travel=0.5 * truth["root_travel"])
    (flag,) = diagnostic_flags(inside, truth, intervals=intervals)
    assert flag.startswith("root travel") and "inside its 95% interval over the pieces" in flag
    outside = dict(truth, root_travel=1.5 * high)
    (flag,) = diagnostic_flags(outside, truth, intervals=intervals)
    assert "above" in flag and "interval" not in flag
    assert movement_intervals([dance_diagnostics(sway[0])]) == {}


def test_reports_show_each_policy_raw_and_cleaned_beside_the_ground_truth():
    from e3d2_hf.evaluation.physical import CLEANED, raw_and_cleaned

    truth = {"eval_jitter": 250.0, "eval_penetration": 0.0}
    policy = {"eval_jitter": 730.0, f"eval_{CLEANED}jitter": 300.0, "eval_penetration": 0.08,
              f"eval_{CLEANED}penetration": 0.001}  # fmt: skip
    rows = raw_and_cleaned({"ground truth": truth, "pi_BC": policy}, "eval_")
    assert list(rows) == ["ground truth", "pi_BC, raw", "pi_BC, cleaned"]
    assert rows["pi_BC, raw"]["jitter"] == 730.0 and rows["pi_BC, cleaned"]["jitter"] == 300.0
    assert rows["pi_BC, cleaned"]["penetration"] == 0.001
    table = diagnostics_table(rows)
    assert "| pi_BC, cleaned | " in table and "| 300 |" in table
