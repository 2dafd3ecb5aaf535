"""The embedded synthetic world is rich enough to measure: all five metrics are defined on it
and tell real dances from frozen and random-walk ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e3d2_hf.data.kinematics import forward_kinematics
from e3d2_hf.data.layout import MOTION_FPS
from e3d2_hf.data.readers.synthetic import GENRES, generate_sequences
from e3d2_hf.data.skeleton import SMPL24
from e3d2_hf.evaluation.geometric import geometric_features
from e3d2_hf.evaluation.physical import CONTACT_HEIGHT, dance_diagnostics
from e3d2_hf.evaluation.protocol import Dance, evaluate_dances, ground_truth_features


def _dances(sequences) -> list[Dance]:
    out = []
    for s in sequences:
        joints = forward_kinematics(torch.as_tensor(s.poses), torch.as_tensor(s.translation))
        joints = joints.numpy()
        beats = np.arange(s.first_beat, len(joints) / MOTION_FPS, 60.0 / s.bpm) * MOTION_FPS
        out.append(Dance(joints, np.round(beats).astype(int), s.id))
    return out


@pytest.fixture(scope="module")
def world():
    """64 sequences of 16 s (every genre 16 times): a train half and a held-out half."""
    dances = _dances(generate_sequences(64, 16.0, seed=0))  # the genres take turns
    train = [d for i, d in enumerate(dances) if i // 4 % 2 == 0]
    return train, [d for i, d in enumerate(dances) if i // 4 % 2 == 1]


def test_every_geometric_feature_varies_and_nothing_sinks_or_floats(world):
    train, heldout = world
    features = np.stack([geometric_features(d.joints) for d in train + heldout])
    varies = features.std(0) > 1e-8
    assert np.flatnonzero(~varies).tolist() == []  # the chest-stretch 4 and 5: the chest pops
    for d in train:
        diag = dance_diagnostics(d.joints)
        assert diag["penetration"] < 1e-3 and diag["floating"] < 0.03, d.name
        assert diag["max_step"] < 0.2, d.name  # no joint jumps (12 m/s: a fast spin's hand)
    assert {d.name.split("_")[1] for d in train} == set(GENRES)


def test_all_five_metrics_are_defined_and_tell_real_dances_from_frozen_and_random_ones(world):
    train, heldout = world
    truth = ground_truth_features([d.joints for d in train], cache_dir=False)
    real = evaluate_dances(heldout, truth)
    assert "undefined" not in real
    assert real["FID_k"] < 20 and real["FID_g"] < 15  # held-out music, the same world
    assert real["DIV_k"] > 5 and real["DIV_g"] > 5 and real["BAS"] > 0.6

    frozen = [Dance(np.repeat(d.joints[:1], len(d.joints), 0), d.music_beats) for d in heldout]
    rng = np.random.default_rng(0)
    walk = [
        Dance(d.joints + np.cumsum(rng.normal(0, 0.01, d.joints.shape), axis=0), d.music_beats)
        for d in heldout
    ]
    frozen_scores = evaluate_dances(frozen, truth)
    assert frozen_scores["FID_k"] > 10 * real["FID_k"]
    assert frozen_scores["FID_g"] > 10 * real["FID_g"]
    assert frozen_scores["BAS"] == 0  # no motion beat at all
    # a random walk stretches the body every frame, the ground truth only in its chest pops
    walk_scores = evaluate_dances(walk, truth)
    assert walk_scores["FID_k"] > 10 * real["FID_k"]
    assert walk_scores["FID_g"] > 100 * real["FID_g"]
    # dances out of step with their music: BAS tells
    offbeat = [Dance(d.joints, heldout[i - 1].music_beats) for i, d in enumerate(heldout)]
    assert evaluate_dances(offbeat, truth)["BAS"] < 0.5 * real["BAS"]


def test_frozen_dances_have_no_kinetic_diversity():
    """With the corrected energy term a still pose has no kinetic energy at all; the
    reference's term (the default) measures position, so frozen poses still differ there."""
    dances = _dances(generate_sequences(8, 8.0, seed=1))
    truth = ground_truth_features([d.joints for d in dances], cache_dir=False, reference_bug=False)
    frozen = [Dance(np.repeat(d.joints[:1], len(d.joints), 0), d.music_beats) for d in dances]
    scores = evaluate_dances(frozen, truth, reference_bug=False)
    assert scores["DIV_k"] == pytest.approx(0, abs=1e-9)
    assert evaluate_dances(dances, truth, reference_bug=False)["DIV_k"] > 5


def test_the_body_travels_over_its_feet_so_the_legs_tell_the_roots_motion(world):
    """Bailando decodes the root's velocity from the lower-body codes, which see the joints
    relative to the root: a body sliding on its feet would hide its travel from them. Here a
    foot on the ground stays put while the root moves (the grounded feet's velocity regressed
    on the root's has slope < 0.2; the sliding body of before had 1.05), and every dance
    travels over the floor (the dances before swayed in place: 0 to 0.09 m, which let a reward
    model read a still root as a clean dance)."""
    root_steps, foot_steps = [], []
    for dance in world[0][:16]:
        joints = dance.joints
        root = np.diff(joints[:, 0, [0, 2]], axis=0)
        for foot in SMPL24.feet:
            low = joints[:, list(foot), 1].min(1)
            grounded = (low[1:] < CONTACT_HEIGHT) & (low[:-1] < CONTACT_HEIGHT)
            root_steps.append(root[grounded])
            foot_steps.append(np.diff(joints[:, foot[0], [0, 2]], axis=0)[grounded])
    x, y = np.concatenate(root_steps).ravel(), np.concatenate(foot_steps).ravel()
    assert len(x) > 10_000 and (x @ y) / (x @ x) < 0.2
    travel = [dance_diagnostics(d.joints)["root_travel"] for d in world[0][:16]]
    assert min(travel) > 0.04 and np.mean(travel) > 0.07
