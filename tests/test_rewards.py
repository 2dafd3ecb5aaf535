"""Composable rewards: each physical term on constructed dances with known answers, their
weighted sum, the names `reward_funcs` takes, and group-relative advantages by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e3d2_hf.data.skeleton import SMPL24
from e3d2_hf.evaluation.physical import dance_diagnostics, physical_terms
from e3d2_hf.models import DanceVQVAE
from e3d2_hf.models.presets import preset_config
from e3d2_hf.training import rewards as rewards_module
from e3d2_hf.training.physical_rewards import (
    AntiFreezingReward,
    FootSkatingReward,
    GroundReward,
    JitterReward,
    PhysicalReference,
    decode_episodes,
    episode_floor,
)
from e3d2_hf.training.ppo_trainer import group_advantages
from e3d2_hf.training.rewards import (
    JointsReward,
    LearnedReward,
    RewardInputs,
    build_rewards,
    reward_label,
    score_episodes,
)

FPS = 60
FRAMES = 232  # one 29-token episode


def standing(frames: int = FRAMES) -> torch.Tensor:
    """SMPL-24's rest pose held still, its lowest joint on the floor at height 0: (1, T, 24, 3)."""
    rest = SMPL24.rest_positions()
    rest[:, 1] -= rest[:, 1].min()
    return torch.from_numpy(np.repeat(rest[None], frames, axis=0))[None].double()


def vqvae(root_height: str = "absolute") -> DanceVQVAE:
    return DanceVQVAE(preset_config("vqvae", "tiny", root_height=root_height)).eval()


REFERENCE = PhysicalReference(
    floor=0.0, foot_skating=0.1, floating=0.05, jitter=4.0, root_relative_speed=0.5
)


def score(term, joints: torch.Tensor, model=None) -> list[float]:
    reward = term(model or vqvae(), REFERENCE)
    music = torch.zeros(len(joints), 29, 438)
    out = reward(music, None, None, None, None, joints=joints)
    assert out.shape == (len(joints),)
    return out.tolist()


def test_the_batched_terms_are_the_diagnostics_of_each_dance():
    rng = np.random.default_rng(0)
    dances = standing().repeat(3, 1, 1, 1).numpy()
    dances += np.cumsum(rng.normal(0, 0.01, dances.shape), axis=1)
    terms = physical_terms(torch.from_numpy(dances), SMPL24, 0.0, FPS)
    for i, dance in enumerate(dances):
        one = dance_diagnostics(dance, SMPL24, 0.0, FPS)
        for key, values in terms.items():
            expected = np.nan if one[key] is None else one[key]
            np.testing.assert_allclose(values[i].item(), expected, rtol=1e-12, err_msg=key)


def test_feet_sliding_on_the_floor_are_penalised_by_their_excess_over_the_data():
    slide = standing().clone()
    slide[..., 0] += torch.arange(FRAMES).double()[:, None] / FPS * 1.5  # 1.5 m/s, feet down
    still = standing()
    # 1.5 m/s against the data's 0.1: 15x the data's level, 14 units beyond it
    assert score(FootSkatingReward, torch.cat([slide, still])) == pytest.approx([-14.0, 0.0])
    lifted = slide + torch.tensor([0, 0.3, 0]).double()  # never touches the ground: no skating
    assert score(FootSkatingReward, lifted) == [0.0]


def test_a_body_below_or_above_the_floor_is_penalised_in_contact_heights():
    sunk = standing() - torch.tensor([0, 0.1, 0]).double()
    floating = standing() + torch.tensor([0, 0.3, 0]).double()
    on_floor = standing()
    # 10 cm under: 2 contact heights; 30 cm up against the data's 5 cm: 5 contact heights
    got = score(GroundReward, torch.cat([sunk, floating, on_floor]))
    assert got == pytest.approx([-2.0, -5.0, 0.0])


def test_jerk_beyond_the_data_is_penalised_and_smooth_motion_is_not():
    t = torch.arange(FRAMES).double() / FPS
    jerky = standing().clone()
    jerky[..., 0] += (16.0 * t**3 / 6)[:, None]  # a constant jerk of 16 m/s^3 at every joint
    assert physical_terms(jerky, SMPL24)["jitter"].item() == pytest.approx(16.0)
    smooth = standing().clone()
    smooth[..., 0] += (0.5 * t)[:, None]
    assert score(JitterReward, torch.cat([jerky, smooth])) == pytest.approx([-3.0, 0.0])


def test_a_frozen_body_is_penalised_and_one_that_moves_like_the_data_is_not():
    t = torch.arange(FRAMES).double() / FPS
    moving = standing().clone()
    moving[:, :, 1:, 2] += (0.5 * t)[:, None]  # every joint but the root at the data's 0.5 m/s
    half = standing().clone()
    half[:, :, 1:, 2] += (0.25 * t)[:, None]
    got = score(AntiFreezingReward, torch.cat([standing(), moving, half]))
    assert got == pytest.approx([-1.0, 0.0, -0.5])


def test_a_vqvae_that_integrates_the_height_puts_each_episode_on_its_first_frame():
    raised = standing() + torch.tensor([0, 0.7, 0]).double()  # the decoder's origin, not a floor
    model = vqvae("velocity")
    assert episode_floor(raised, model, REFERENCE.floor).item() == pytest.approx(0.7)
    assert score(GroundReward, raised, model) == [0.0]
    assert score(GroundReward, raised, vqvae("absolute")) == pytest.approx([-13.0])


def test_the_data_level_is_measured_on_its_codes_decoded(tiny_vqvae, tiny_policy):
    from datasets import load_from_disk

    model = DanceVQVAE.from_pretrained(tiny_vqvae)
    train = load_from_disk(str(tiny_policy / "tokens" / "train"))
    reference = PhysicalReference.from_tokens(model, train, pieces=4)
    assert reference.jitter > 0 and reference.root_relative_speed > 0
    assert reference.floor is None  # the tiny VQ-VAE integrates the height: no floor
    # the mean over every episode-long piece of every clip, decoded as PPO decodes episodes
    everything = PhysicalReference.from_tokens(model, train, pieces=10_000)
    pieces = [
        (row["upper_ids"][s : s + 29], row["lower_ids"][s : s + 29])
        for row in train.with_format("torch")
        for s in range(0, len(row["upper_ids"]) - 29 + 1, 29)
    ]
    upper, lower = (torch.stack(half) for half in zip(*pieces, strict=True))
    joints = decode_episodes(model, upper, lower).double()
    terms = physical_terms(
        joints, model.config.skeleton_def, joints[:, 0, [7, 10, 8, 11], 1].amin(-1)
    )
    assert everything.jitter == pytest.approx(terms["jitter"].mean().item(), rel=1e-6)
    assert everything.root_relative_speed == pytest.approx(
        terms["root_relative_speed"].mean().item(), rel=1e-6
    )


def test_weighted_rewards_sum_and_each_is_logged_unweighted(monkeypatch):
    decoded = []
    real = rewards_module.decode_episodes

    def counting(model, upper, lower):
        decoded.append(len(upper))
        return real(model, upper, lower)

    monkeypatch.setattr(rewards_module, "decode_episodes", counting)
    model = vqvae()
    upper, lower = torch.randint(32, (3, 29)), torch.randint(32, (3, 29))
    music = torch.zeros(3, 29, 438)

    def sparse(music, init_upper, init_lower, upper_ids, lower_ids):
        return torch.tensor([1.0, 2.0, 3.0])

    def per_step(music, init_upper, init_lower, upper_ids, lower_ids):
        return torch.ones(3, 29)

    funcs = {
        "sparse": sparse,
        "steps": per_step,
        "jitter": JitterReward(model, REFERENCE),
        "ground": GroundReward(model, REFERENCE),
    }
    total, parts = score_episodes(funcs, [2.0, 0.5, 1.0, 1.0], music, None, None, upper, lower)
    assert decoded == [3]  # one decode for both physical terms
    assert total.shape == (3, 29)
    torch.testing.assert_close(parts["sparse"], torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(parts["steps"], torch.full((3,), 29.0))
    expected_last = 2 * parts["sparse"] + 0.5 + parts["jitter"] + parts["ground"]
    torch.testing.assert_close(total[:, -1], expected_last)
    torch.testing.assert_close(total[:, :-1], torch.full((3, 28), 0.5))
    only_sparse, _ = score_episodes({"sparse": sparse}, None, music, None, None, upper, lower)
    assert only_sparse.shape == (3,)  # one sparse reward stays the paper's sparse u
    with pytest.raises(ValueError, match="2 reward_weights for 1"):
        score_episodes({"sparse": sparse}, [1.0, 2.0], music, None, None, upper, lower)

    def bad(*args):
        return torch.zeros(3, 5)

    with pytest.raises(ValueError, match="reward 'bad' must return"):
        score_episodes({"bad": bad}, None, music, None, None, upper, lower)


def test_reward_funcs_names_registered_rewards_callables_files_and_reward_models(
    tiny_reward, tiny_policy, tmp_path, monkeypatch
):
    from e3d2_hf.models import DancePolicy, DanceRewardModel

    (tmp_path / "mine.py").write_text(
        "def held(music_features, init_upper, init_lower, upper_ids, lower_ids):\n"
        "    return (upper_ids[:, 1:] == upper_ids[:, :-1]).float().sum(-1)\n"
        "def tall(music_features, init_upper, init_lower, upper_ids, lower_ids, joints):\n"
        "    return joints[..., 1].amax((1, 2))\n"
    )
    monkeypatch.chdir(tmp_path)
    policy_config = DancePolicy.from_pretrained(tiny_policy).config
    inputs = RewardInputs(
        policy_config, DanceRewardModel.from_pretrained(tiny_reward), vqvae("velocity")
    )
    built = build_rewards(
        ["learned", "mine:held", f"{tmp_path / 'mine.py'}:tall", str(tiny_reward), "mine:held"],
        inputs,
    )
    assert list(built) == ["learned", "held", "tall", tiny_reward.name, "held_2"]
    assert isinstance(built[tiny_reward.name], LearnedReward)
    assert isinstance(built["tall"], JointsReward)  # takes `joints`: gets the decoded episodes
    upper, lower = torch.randint(32, (2, 29)), torch.randint(32, (2, 29))
    music = torch.zeros(2, 29, 438)
    _, parts = score_episodes(built, None, music, None, None, upper, lower)
    torch.testing.assert_close(parts["learned"], parts[tiny_reward.name])
    assert parts["tall"].shape == (2,)
    assert reward_label(["learned", "jitter"], [1.0, 0.5]) == "learned + 0.5 jitter"
    for spec, message in (
        ("nowhere.py:f", "no such file"),
        ("mine:absent", "has no function 'absent'"),
        ("not_a_module_here:f", "cannot import"),
        ("mine:", "module:function"),
    ):
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            build_rewards([spec], inputs)
    with pytest.raises(ValueError, match="pass --vqvae_name_or_path"):
        build_rewards(["jitter"], RewardInputs(policy_config))


def test_group_advantages_by_hand():
    rewards = torch.tensor([1.0, 2.0, 3.0, 6.0, 0.0, 0.0, 1.0, -1.0])
    grpo = group_advantages(rewards, 4, "grpo")
    std = np.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + 0 + (6 - 3) ** 2) / 3)  # unbiased, as TRL's
    expected = [(r - 3) / (std + 1e-4) for r in (1, 2, 3, 6)]
    std2 = np.sqrt((0 + 0 + 1 + 1) / 3)
    expected += [(r - 0) / (std2 + 1e-4) for r in (0, 0, 1, -1)]
    np.testing.assert_allclose(grpo.numpy(), expected, rtol=1e-6)
    rloo = group_advantages(rewards, 4, "rloo")
    # each minus the mean of the other three
    expected = [1 - 11 / 3, 2 - 10 / 3, 3 - 3, 6 - 2, 0 - 0, 0 - 0, 1 - (-1 / 3), -1 - 1 / 3]
    np.testing.assert_allclose(rloo.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(rloo.view(2, 4).sum(1).numpy(), [0.0, 0.0], atol=1e-6)


def test_episodes_decode_in_full_precision_under_bf16_autocast():
    """PPO scores rewards under `bf16: true` autocast; jerk from bf16 positions is noise."""
    model = vqvae()
    upper, lower = torch.randint(32, (2, 29)), torch.randint(32, (2, 29))
    plain = decode_episodes(model, upper, lower)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = decode_episodes(model, upper, lower)
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, plain, atol=0, rtol=0)
