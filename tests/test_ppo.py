"""PPO on the tiny pipeline: the algorithm's pieces, learning, exact resume, DDP, guard rails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import load_from_disk
from e3d2_hf.recipes.ppo import main as main_ppo
from transformers import TrainerCallback

from e3d2_hf.evaluation.physical import MOVEMENT
from e3d2_hf.models import DancePolicy
from e3d2_hf.training.demonstrations import music_segments
from e3d2_hf.training.ppo_trainer import (
    PPOConfig,
    PPOTrainer,
    TrainingStopped,
    advantages_and_returns,
    load_policy_with_value_head,
    shape_rewards,
)
from e3d2_hf.training.rewards import BailandoReward

from .conftest import REPO, TINY, launch_two_ranks

TARGET_CODE = 3


def toy_reward(music, init_upper, init_lower, upper_ids, lower_ids) -> torch.Tensor:
    """10 x the fraction of steps whose upper code is TARGET_CODE: one score per episode."""
    return 10.0 * (upper_ids == TARGET_CODE).float().mean(-1)


def _config(out: Path, **over) -> PPOConfig:
    values = dict(
        output_dir=str(out),
        num_train_epochs=4,
        episodes_per_iteration=32,
        per_device_train_batch_size=16,
        rollout_batch_size=32,
        learning_rate=3e-3,
        save_steps=2,
        report_to="none",
        disable_tqdm=True,
        seed=0,
    )
    values.update(over)
    return PPOConfig(**values)


def _trainer(policy_dir: Path, config: PPOConfig, reward=toy_reward, **extra) -> PPOTrainer:
    torch.manual_seed(config.seed)
    policy = load_policy_with_value_head(policy_dir)
    ref = DancePolicy.from_pretrained(policy_dir)
    segments = music_segments(load_from_disk(str(policy_dir / "tokens" / "train")), 0, 2)
    return PPOTrainer(
        model=policy,
        ref_policy=ref,
        reward_funcs=reward,
        args=config,
        train_dataset=segments,
        **extra,
    )


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


# --- the pieces ----------------------------------------------------------------------------


def test_return_minus_value_is_gae_with_lambda_one():
    rewards = torch.tensor([[0.0, -0.1, 0.2, 3.0]])
    values = torch.tensor([[1.0, 0.5, -0.5, 2.0]])
    adv, ret = advantages_and_returns(rewards, values, 1.0, 1.0, "gae")
    adv2, ret2 = advantages_and_returns(rewards, values, 1.0, 0.95, "return_minus_value")
    torch.testing.assert_close(ret2, torch.tensor([[3.1, 3.1, 3.2, 3.0]]))
    torch.testing.assert_close(adv, adv2)
    torch.testing.assert_close(ret, ret2)
    # GAE(0.95) by hand at the last two steps
    adv3, _ = advantages_and_returns(rewards, values, 1.0, 0.95, "gae")
    assert adv3[0, 3].item() == pytest.approx(1.0)
    assert adv3[0, 2].item() == pytest.approx((0.2 + 2.0 + 0.5) + 0.95 * 1.0)


def test_sparse_score_lands_on_the_last_step():
    kl = torch.full((2, 3), 2.0)
    rewards = shape_rewards(torch.tensor([1.0, -1.0]), kl, kl_coef=0.5)
    torch.testing.assert_close(rewards, torch.tensor([[-1.0, -1.0, 0.0], [-1.0, -1.0, -2.0]]))
    with pytest.raises(ValueError, match="must be"):
        shape_rewards(torch.zeros(2, 5), kl, 0.5)


def test_bailando_reward_forms(tiny_vqvae):
    from e3d2_hf.models import DanceVQVAE

    vqvae = DanceVQVAE.from_pretrained(tiny_vqvae)
    upper = torch.randint(32, (2, 6))
    lower = torch.randint(32, (2, 6))
    music = torch.zeros(2, 6, 438)
    music[:, ::2, 53] = 1.0  # a music beat every other code
    released = BailandoReward(vqvae, "released")(music, None, None, upper, lower)
    paper = BailandoReward(vqvae, "paper", orientation_weight=0.0)(music, None, None, upper, lower)
    assert set(released.unique().tolist()) <= {-5.0, 5.0}
    assert set(paper.unique().tolist()) <= {-5.0, 5.0}
    # without a music beat the released form punishes, the paper's form rewards
    assert (released[:, 1::2] == -5).all() and (paper[:, 1::2] == 5).all()
    # where both are possible they agree: +5 exactly when a music beat meets a dance beat
    assert torch.equal(released[:, ::2], paper[:, ::2])
    with_orientation = BailandoReward(vqvae, "paper", orientation_weight=1.0)(
        music, None, None, upper, lower
    )
    assert ((with_orientation - paper).abs() <= 1.0 + 1e-5).all()


# --- learning, resume, DDP, guard rails ------------------------------------------------------


def test_ppo_raises_a_toy_reward(tiny_policy, tmp_path):
    trainer = _trainer(tiny_policy, _config(tmp_path / "run", num_train_epochs=10, save_steps=100))
    trainer.train()
    scores = [e["objective/scores"] for e in trainer.state.log_history if "objective/scores" in e]
    assert len(scores) == 10
    assert np.mean(scores[-3:]) > np.mean(scores[:2]) + 1.0, scores
    kls = [e["objective/kl"] for e in trainer.state.log_history if "objective/kl" in e]
    assert kls[0] == pytest.approx(0.0, abs=1e-4)  # pi_RL starts as pi_BC
    assert kls[-1] > 0.0


@pytest.mark.parametrize("estimator", ["grpo", "rloo"])
def test_group_estimators_raise_a_toy_reward_without_a_critic(estimator, tiny_policy, tmp_path):
    """K rollouts of each segment in one sampler call of K x B episodes, consecutive in the
    batch; advantages from the group, no value head."""
    policy = DancePolicy.from_pretrained(tiny_policy)  # no value head
    ref = DancePolicy.from_pretrained(tiny_policy)
    segments = music_segments(load_from_disk(str(tiny_policy / "tokens" / "train")), 0, 2)
    config = _config(
        tmp_path / "run", num_train_epochs=10, save_steps=100, advantage_estimator=estimator,
        num_generations=4, rollout_batch_size=32,
    )  # fmt: skip
    trainer = PPOTrainer(
        model=policy, ref_policy=ref, reward_funcs=toy_reward, args=config, train_dataset=segments
    )
    calls = []
    real = policy.rollout

    def recording(music, *args, **kwargs):
        calls.append(music.clone())
        return real(music, *args, **kwargs)

    policy.rollout = recording
    trainer.train()
    assert [len(m) for m in calls] == [32] * 10  # one call per iteration: 8 segments x 4
    groups = calls[0].view(8, 4, *calls[0].shape[1:])
    assert (groups == groups[:, :1]).all()  # each segment 4 times in a row
    assert len({tuple(g[0].flatten()[:8].tolist()) for g in groups}) == 8
    logs = [e for e in trainer.state.log_history if "objective/scores" in e]
    scores = [e["objective/scores"] for e in logs]
    assert np.mean(scores[-3:]) > np.mean(scores[:2]) + 1.0, scores
    assert "val/explained_variance" not in logs[0] and logs[0]["loss/value_avg"] == 0
    assert logs[0]["rewards/toy_reward/mean"] == pytest.approx(scores[0])
    with pytest.raises(ValueError, match="multiple of num_generations"):
        PPOTrainer(
            model=policy, ref_policy=ref, reward_funcs=toy_reward, train_dataset=segments,
            args=_config(tmp_path / "odd", advantage_estimator=estimator, num_generations=3),
        )  # fmt: skip
    with pytest.raises(ValueError, match="num_generations >= 2"):
        _config(tmp_path / "one", advantage_estimator=estimator)


def test_pi_bc_at_another_temperature_is_measured_as_pi_rl_is(tiny_policy, tmp_path):
    """`evaluate_reference(T)`: the frozen pi_BC sampled at T, with the same episodes, score,
    KL to pi_BC (at the config's temperature) and dance table as `evaluate` gives pi_RL."""
    seen = []

    def table(policy, temperature=1.0):
        seen.append((policy, temperature))
        return {"codes": 1.0}

    segments = music_segments(load_from_disk(str(tiny_policy / "tokens" / "heldout")), 0, 2)
    trainer = _trainer(
        tiny_policy, _config(tmp_path / "run"), eval_dataset=segments, evaluate_fn=table
    )
    untrained = trainer.evaluate()
    same = trainer.evaluate_reference(1.0)
    # pi_RL starts as pi_BC: at temperature 1 both dance the same episodes
    assert same["eval_score"] == pytest.approx(untrained["eval_score"])
    assert same["eval_kl"] == 0.0  # pi_BC against itself, not two passes' rounding
    assert untrained["eval_kl"] == pytest.approx(0.0, abs=1e-4)  # a copy: two passes
    sharp = trainer.evaluate_reference(0.3)
    flat = trainer.evaluate_reference(3.0)
    assert sharp["eval_kl"] > 0.3 and flat["eval_kl"] > 0.05  # both leave pi_BC
    # the held-out KL is exact per visited state: it grows as T leaves 1, never below 0
    assert 0 < trainer.held_out_kl(trainer.ref_policy, 0.6)[0] < sharp["eval_kl"]
    assert seen[-2][0] is trainer.ref_policy and [t for _, t in seen] == [1.0, 1.0, 0.3, 3.0]
    assert sharp["eval_codes"] == 1.0
    corr = untrained["eval_score_ref_logp_corr"]
    assert corr is None or -1.0 <= corr <= 1.0


def test_correlation_of_the_score_with_pi_bc_likelihood():
    from e3d2_hf.evaluation.diagnostics import correlation

    x = torch.tensor([1.0, 2.0, 4.0, 8.0])
    assert correlation(x, 3 * x - 5) == pytest.approx(1.0)
    assert correlation(x, -x) == pytest.approx(-1.0)
    assert correlation(x, torch.ones(4)) is None  # undefined, not NaN
    assert correlation(x[:2], x[:2]) is None


def test_a_centred_score_makes_the_update_blind_to_an_offset(tiny_policy, tmp_path):
    """u ~ -150 from a reward model: centred, PPO learns what it would from the offset-free
    score; raw, the untrained value head turns the offset into step-dependent advantages."""

    def offset(*args):
        return toy_reward(*args) - 150.0

    def weights_after(reward, name, **over):
        trainer = _trainer(
            tiny_policy,
            _config(tmp_path / name, num_train_epochs=2, save_steps=100, **over),
            reward,
        )
        trainer.train()
        return _weights(trainer.model)

    centred = dict(center_scores=True, whiten_rewards=True)
    plain = weights_after(toy_reward, "plain", **centred)
    start = _weights(load_policy_with_value_head(tiny_policy))
    moved = (plain - start).abs().mean()
    # float rounding of (x - 150) - mean flips a few near-zero Adam steps, nothing more
    centred_gap = (weights_after(offset, "offset", **centred) - plain).abs().mean()
    raw_gap = (weights_after(offset, "raw") - plain).abs().mean()
    assert centred_gap < 0.02 * moved < raw_gap, (centred_gap, moved, raw_gap)


def test_killed_run_resumes_exactly(tiny_policy, tmp_path, monkeypatch):
    straight = _trainer(tiny_policy, _config(tmp_path / "straight"))
    straight.train()

    crashed = _trainer(tiny_policy, _config(tmp_path / "resumed"))
    real = PPOTrainer.iteration

    def crash_at_three(self, iteration):
        if iteration == 2:
            raise KeyboardInterrupt("simulated kill")
        return real(self, iteration)

    monkeypatch.setattr(PPOTrainer, "iteration", crash_at_three)
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    monkeypatch.setattr(PPOTrainer, "iteration", real)
    assert (tmp_path / "resumed" / "checkpoint-2").is_dir()
    resumed = _trainer(tiny_policy, _config(tmp_path / "resumed"))
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 4
    torch.testing.assert_close(_weights(resumed.model), _weights(straight.model), atol=0, rtol=0)


def _ddp_worker(policy_dir: str, out_dir: str) -> None:
    from accelerate import PartialState

    trainer = _trainer(Path(policy_dir), _config(Path(out_dir), num_train_epochs=2, save_steps=100))
    assert trainer.accelerator.num_processes == 2  # real DDP, not two lone runs
    state = PartialState()
    trainer.train()
    model = trainer.accelerator.unwrap_model(trainer.model)
    torch.save(_weights(model), Path(out_dir) / f"rank{state.process_index}.pt")


def test_two_ranks_end_with_identical_policies(tiny_policy, tmp_path):
    launch_two_ranks("tests.test_ppo", "_ddp_worker", str(tiny_policy), str(tmp_path))
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    torch.testing.assert_close(rank0, rank1, atol=0, rtol=0)
    initial = _weights(load_policy_with_value_head(tiny_policy))
    assert not torch.equal(rank0[: initial.numel()], initial)  # it trained


def test_non_finite_reward_stops_with_the_last_checkpoint_kept(tiny_policy, tmp_path):
    calls = {"n": 0}

    def breaks_on_third_iteration(*args):
        calls["n"] += 1
        score = toy_reward(*args)
        return score * float("nan") if calls["n"] >= 3 else score

    trainer = _trainer(
        tiny_policy, _config(tmp_path / "run", save_steps=2), reward=breaks_on_third_iteration
    )
    with pytest.raises(TrainingStopped, match="reward is not finite"):
        trainer.train()
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_kl_bound_stops_training(tiny_policy, tmp_path):
    trainer = _trainer(
        tiny_policy, _config(tmp_path / "run", kl_stop=1e-9, learning_rate=3e-2, save_steps=100)
    )
    with pytest.raises(TrainingStopped, match="above kl_stop"):
        trainer.train()


def test_policy_without_value_head_is_refused(tiny_policy, tmp_path):
    policy = DancePolicy.from_pretrained(tiny_policy)
    segments = music_segments(load_from_disk(str(tiny_policy / "tokens" / "train")), 0, 2)
    with pytest.raises(ValueError, match="value head"):
        PPOTrainer(
            model=policy,
            ref_policy=policy,
            reward_funcs=toy_reward,
            args=_config(tmp_path),
            train_dataset=segments,
        )


# --- the stage end to end ----------------------------------------------------------------------


@pytest.mark.parametrize("reward", ["learned", "bailando"])
def test_ppo_stage_writes_a_plain_policy_and_the_report(
    reward, tiny_policy, tiny_reward, tiny_vqvae, tiny_clips, tmp_path
):
    out = tmp_path / "ppo"
    rows = main_ppo(
        [
            "--config", str(TINY / "ppo.yaml"),
            "--policy_name_or_path", str(tiny_policy),
            "--reward_model_name_or_path", str(tiny_reward),
            "--vqvae_name_or_path", str(tiny_vqvae),
            "--clips_dir", str(tiny_clips),
            "--eval_dance_tokens", "29",
            "--reward_funcs", reward,
            "--num_train_epochs", "2",
            "--eval_strategy", "steps",
            "--eval_steps", "1",
            "--reference_temperatures", "0.5",
            "--output_dir", str(out),
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    assert list(rows)[:2] == ["pi_BC", "pi_BC (temperature 0.5)"]
    assert list(rows)[-1] == f"pi_RL ({reward} reward)"
    # the fairest baseline: pi_BC at the temperature whose held-out KL equals pi_RL's
    matched = f"pi_BC (KL-matched to pi_RL ({reward} reward))"
    assert list(rows).index(matched) == 2 and rows[matched]["eval_temperature"] > 0
    rl_kl, matched_kl = rows[f"pi_RL ({reward} reward)"]["eval_kl"], rows[matched]["eval_kl"]
    assert rl_kl > 0 and matched_kl == pytest.approx(rl_kl, rel=0.1, abs=0.02)
    sharpened = rows["pi_BC (temperature 0.5)"]  # left pi_BC (a 16-episode KL estimate: any sign)
    assert abs(sharpened["eval_kl"]) > 0.1 and np.isfinite(sharpened["eval_FID_k"])
    for row in rows.values():
        assert np.isfinite(row["eval_score"]) and np.isfinite(row["eval_FID_k"])
        assert row["eval_FID_g"] is None or row["eval_FID_g"] >= 0  # None: undefined here
        undefined = row.get("eval_undefined", {})
        assert {m for m in ("FID_g", "DIV_g") if row[f"eval_{m}"] is None} == (
            set(undefined) & {"FID_g", "DIV_g"}
        )  # every n/a has its reason
    assert rows["pi_BC"]["eval_kl"] == 0.0
    policy = DancePolicy.from_pretrained(out)
    assert not policy.config.value_head
    report = json.loads((out / "ppo_report.json").read_text())
    assert report["iterations"] == 2
    # held-out metrics per iteration: pi_BC's at 0, the evaluations, the final policy's last
    assert [p["iteration"] for p in report["curve"]] == [0, 1, 2]
    assert report["curve"][0]["eval_score"] == rows["pi_BC"]["eval_score"]
    assert report["curve"][-1]["eval_FID_k"] == rows[f"pi_RL ({reward} reward)"]["eval_FID_k"]
    assert (out / "ppo_curves.png").stat().st_size > 1000
    text = (out / "ppo_report.md").read_text()
    assert "## Held-out metrics per PPO iteration" in text and "| iteration 1 |" in text
    assert "reward-model score" in text
    assert f"| pi_RL ({reward} reward) vs {matched} |" in text  # claims against both baselines
    assert f"{matched} is pi_BC sampled at temperature" in text
    # each reward's own mean per iteration, as logged under rewards/<name>/mean
    assert "## Reward components per iteration" in text and f"| iteration | {reward} |" in text
    assert [p["iteration"] for p in report["reward_components"]] == [1, 2]
    # the physical diagnostics of every policy, the ground truth's on the same music beside them
    assert "## Physical and motion diagnostics" in text and "| ground truth (same music) |" in text
    truth = report["ground_truth"]
    assert truth["eval_joint_speed"] > 0 and 0 <= truth["eval_freezing"] <= 1
    # how much the ground truth's movement owes to its few pieces: an interval around each mean
    spread = report["ground_truth_intervals"]
    assert set(spread) == {f"eval_{k}" for k in MOVEMENT}
    for key, (low, high) in spread.items():
        assert low - 1e-9 <= truth[key] <= high + 1e-9
    assert "95% bootstrap intervals over the pieces: joint speed" in text
    for name, row in rows.items():
        assert row["eval_joint_speed"] >= 0 and row["eval_max_step"] > 0
        assert isinstance(report["flags"][name], list)
        # each policy twice: its raw decode and the cleaned dance `e3d2 dance` writes
        assert f"| {name}, raw |" in text.split("## Physical")[1]
        assert f"| {name}, cleaned |" in text.split("## Physical")[1]
        assert row["eval_cleaned_jitter"] < row["eval_jitter"]
        # the tiny model's dances float 0.6 m up; cleaned, they stand on the floor
        assert row["eval_cleaned_floating"] < row["eval_floating"]
        assert row["eval_cleaned_penetration"] < 0.01
    assert report["dance_pieces"] >= 2 and report["piece_frames"] == 29 * 8
    assert report["diagnostic_samples"] == 8
    assert "Each policy's figures are means over 8 sampled dances per piece" in text
    assert "PPO" in (out / "README.md").read_text()


def test_e3d2_ppo_logs_under_its_output_dir_and_saves_the_plain_policy_with_its_vqvae(
    tiny_policy, tiny_reward, tiny_vqvae, tiny_clips, tmp_path
):
    """The evaluation before training logs too: it must not open `./runs` in the CWD."""
    cwd, out = tmp_path / "cwd", tmp_path / "ppo"
    cwd.mkdir()
    result = subprocess.run(
        [
            sys.executable, "-m", "e3d2_hf.cli", "ppo",
            "--config", str(TINY / "ppo.yaml"),
            "--policy_name_or_path", str(tiny_policy),
            "--reward_model_name_or_path", str(tiny_reward),
            "--vqvae_name_or_path", str(tiny_vqvae),
            "--clips_dir", str(tiny_clips),
            "--num_train_epochs", "1",
            "--output_dir", str(out),
            "--report_to", "tensorboard",
            "--disable_tqdm", "true",
        ],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(cwd.iterdir()) == []
    events = list((out / "runs").glob("*/events.out.tfevents.*"))
    assert events, sorted(p.relative_to(out) for p in out.rglob("*"))
    # the run's folder holds the plain policy with its VQ-VAE; checkpoints keep the value head
    assert json.loads((out / "config.json").read_text())["value_head"] is False
    assert (
        json.loads((out / "vqvae" / "config.json").read_text())["model_type"] == "e3d2_dance_vqvae"
    )
    checkpoint = sorted(out.glob("checkpoint-*"))[-1]
    assert json.loads((checkpoint / "config.json").read_text())["value_head"] is True
    # one line about the fresh value head instead of transformers' load report
    assert "MISSING" not in result.stderr
    assert result.stderr.count("value head initialised fresh") == 1


# --- device-clean hot paths ---------------------------------------------------------------------

HOST_SYNCS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


@contextmanager
def count_host_syncs():
    """Count the tensor -> Python conversions that would wait for a GPU (a CPU stand-in for
    `torch.cuda.set_sync_debug_mode`), with the code that made each.

    torch.optim reads its step counters, which live on the host by design, and is not counted.
    """
    counts = {"n": 0, "where": []}
    saved = {name: getattr(torch.Tensor, name) for name in HOST_SYNCS}

    def counting(original):
        def wrapper(self, *args, **kwargs):
            caller = sys._getframe(1)
            module = caller.f_globals.get("__name__", "")
            if not module.startswith("torch.optim"):
                counts["n"] += 1
                counts["where"].append(f"{module}:{caller.f_lineno}")
            return original(self, *args, **kwargs)

        return wrapper

    for name, original in saved.items():
        setattr(torch.Tensor, name, counting(original))
    try:
        yield counts
    finally:
        for name, original in saved.items():
            setattr(torch.Tensor, name, original)


def test_the_rollout_and_the_update_do_not_sync_per_step(tiny_policy, tmp_path):
    """Host syncs stay constant however many steps or minibatches the loops run."""
    trainer = _trainer(tiny_policy, _config(tmp_path / "run", episodes_per_iteration=32))
    policy = trainer.accelerator.unwrap_model(trainer.model)
    music = torch.randn(4, 29, 438)
    start = torch.zeros(4, dtype=torch.long)
    rollout_syncs = []
    for steps in (3, 29):
        with count_host_syncs() as counts:
            policy.rollout(
                music[:, :steps], start, start, generator=torch.Generator().manual_seed(0)
            )
        rollout_syncs.append((counts["n"], counts["where"]))
    assert rollout_syncs[0][0] == rollout_syncs[1][0], rollout_syncs

    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    segments = trainer.train_dataset.select(range(32))
    episodes = trainer.collect(segments, torch.Generator().manual_seed(0), {"toy": toy_reward})
    advantages = torch.randn_like(episodes.logp)
    returns = torch.randn_like(episodes.logp)
    update_syncs = []
    for batch in (32, 4):  # one minibatch, then eight
        trainer.args.per_device_train_batch_size = batch
        with count_host_syncs() as counts:
            trainer.update(episodes, advantages, returns, torch.Generator().manual_seed(0))
        update_syncs.append((counts["n"], counts["where"]))
    assert update_syncs[0][0] == update_syncs[1][0] <= 2, update_syncs


@pytest.mark.parametrize(("config", "ranks"), [("single_process.yaml", 1), ("multi_cpu.yaml", 2)])
def test_each_cpu_accelerate_config_launches_one_run(
    config, ranks, tiny_policy, tiny_reward, tmp_path
):
    """`accelerate launch --config_file recipes/accelerate/X recipes/ppo.py` from another
    directory: one world of N ranks (one log stream, one report), not N racing runs; a user's
    own reward function (`file.py:function`) beside the learned one on every rank."""
    out, cwd = tmp_path / "ppo", tmp_path / "cwd"
    cwd.mkdir()
    user = tmp_path / "user_rewards.py"
    user.write_text(
        "import os\n"
        "def held(music_features, init_upper, init_lower, upper_ids, lower_ids):\n"
        f"    open({str(tmp_path)!r} + '/called-' + os.environ.get('RANK', '0'), 'w').close()\n"
        "    return (upper_ids[:, 1:] == upper_ids[:, :-1]).float().sum(-1)\n"
    )
    probe = tmp_path / "world.py"  # the same launch, asking accelerate what world it made
    probe.write_text(
        "import sys\nfrom e3d2_hf.training.config_parser import parse_stage_args\n"
        "from e3d2_hf.recipes.ppo import PPOArguments\nfrom e3d2_hf.training.ppo_trainer import PPOConfig\n"
        "_, c = parse_stage_args((PPOArguments, PPOConfig), sys.argv[1:])\n"
        f"open({str(tmp_path)!r} + f'/rank-{{c.process_index}}', 'w').write(str(c.world_size))\n"
    )
    accelerate = Path(sys.executable).with_name("accelerate")
    args = [
        "--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", str(tiny_policy),
        "--reward_model_name_or_path", str(tiny_reward), "--eval_dance_tokens", "0",
        "--num_train_epochs", "1", "--output_dir", str(out), "--disable_tqdm", "true",
        "--reward_funcs", "learned", f"{user}:held", "--reward_weights", "1", "0.1",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [
        str(accelerate),
        "launch",
        "--config_file",
        str(REPO / "recipes" / "accelerate" / config),
    ]
    world = subprocess.run(
        [*launch, str(probe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert world.returncode == 0, world.stderr[-3000:]
    seen = {p.name: p.read_text() for p in tmp_path.glob("rank-*")}
    assert seen == {f"rank-{r}": str(ranks) for r in range(ranks)}
    run = subprocess.run(
        [*launch, str(REPO / "recipes" / "ppo.py"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    logs = run.stdout + run.stderr
    assert logs.count("'objective/scores'") == 1 and logs.count("| pi_BC |") == 1, logs[-3000:]
    assert logs.count("'rewards/held/mean'") == 1 and "| iteration | learned | held |" in logs
    assert {p.name for p in tmp_path.glob("called-*")} == {f"called-{r}" for r in range(ranks)}
    assert json.loads((out / "ppo_report.json").read_text())["iterations"] == 1
    assert list(cwd.iterdir()) == []


class _Recorder(TrainerCallback):
    """Records the events it sees; stops training after `stop_at` iterations, as
    EarlyStoppingCallback-style callbacks do."""

    def __init__(self, stop_at: int | None = None):
        self.events: list[str] = []
        self.stop_at = stop_at

    def on_train_begin(self, args, state, control, **kwargs):
        self.events.append("train_begin")

    def on_step_end(self, args, state, control, **kwargs):
        self.events.append(f"step_end:{state.global_step}")
        if self.stop_at is not None and state.global_step >= self.stop_at:
            control.should_training_stop = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.events.append("log")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.events.append("evaluate")

    def on_save(self, args, state, control, **kwargs):
        self.events.append(f"save:{state.global_step}")

    def on_train_end(self, args, state, control, **kwargs):
        self.events.append("train_end")


def test_ppo_fires_the_trainer_events_and_honours_should_training_stop(tiny_policy, tmp_path):
    config = _config(
        tmp_path / "run", num_train_epochs=4, save_steps=2, logging_steps=1,
        eval_strategy="steps", eval_steps=2,
    )  # fmt: skip
    recorder = _Recorder()
    segments = music_segments(load_from_disk(str(tiny_policy / "tokens" / "train")), 0, 2)
    trainer = _trainer(
        tiny_policy, config, eval_dataset=segments.select(range(4)), eval_reward_fn=toy_reward
    )
    trainer.add_callback(recorder)
    trainer.train()
    events = recorder.events
    assert events[0] == "train_begin" and events[-1] == "train_end"
    assert [e for e in events if e.startswith("step_end")] == [
        f"step_end:{i}" for i in (1, 2, 3, 4)
    ]
    assert [e for e in events if e.startswith("save")] == ["save:2", "save:4"]
    assert events.count("evaluate") == 2 and events.count("log") >= 4

    stopper = _Recorder(stop_at=1)
    early = _trainer(tiny_policy, _config(tmp_path / "early", num_train_epochs=4, save_steps=10))
    early.add_callback(stopper)
    state = early.train()
    assert state.global_step == 1
    assert [e for e in stopper.events if e.startswith("step_end")] == ["step_end:1"]
    assert "save:1" in stopper.events  # the stopped run keeps its last policy
    assert sorted(p.name for p in (tmp_path / "early").glob("checkpoint-*")) == ["checkpoint-1"]


def test_dance_table_diagnostics_average_several_sampled_dances_per_piece(
    tiny_policy, tiny_vqvae, tiny_clips
):
    """The metrics score one dance per piece, as Bailando; the diagnostics average 3 here."""
    from e3d2_hf.data.layout import SEAM_TOKENS
    from e3d2_hf.data.schema import load_clip_dataset
    from e3d2_hf.evaluation.dance_table import DanceTable
    from e3d2_hf.evaluation.physical import set_diagnostics
    from e3d2_hf.export.cleanup import clean_dance
    from e3d2_hf.models import DanceVQVAE

    policy = DancePolicy.from_pretrained(tiny_policy).eval()
    vqvae = DanceVQVAE.from_pretrained(tiny_vqvae)
    heldout, clips = (
        load_from_disk(str(tiny_policy / "tokens" / "train")),
        load_clip_dataset(tiny_clips),
    )
    one = DanceTable(vqvae, heldout, clips, piece_tokens=8, diagnostic_samples=1)
    three = DanceTable(vqvae, heldout, clips, piece_tokens=8, diagnostic_samples=3)
    pieces = len(three.music)
    first, more = three.tokens(policy), three.tokens(policy, repeats=2, stream=1)
    assert more[0].shape == (2 * pieces, first[0].shape[1])
    assert not torch.equal(more[0][:pieces], more[0][pieces:])  # two samples, not one twice
    dances = three.dances(policy, SEAM_TOKENS, first) + three.dances(policy, SEAM_TOKENS, more)
    assert [d.name for d in dances] == [f"piece{i}" for i in range(pieces)] * 3
    expected = set_diagnostics([d.joints for d in dances], three.skeleton, three.floor)

    got_one, got_three = one(policy), three(policy)
    for key in ("FID_k", "DIV_k", "BAS"):
        assert got_one[key] == got_three[key]
    for key in MOVEMENT:
        assert got_three[key] == pytest.approx(expected[key], rel=1e-12)
    assert got_one["joint_speed"] != got_three["joint_speed"]
    # and of the same dances after the contact clean-up, standing where the data's feet stand
    cleaned = [clean_dance(d.joints, three.skeleton, three.stand) for d in dances]
    expected = set_diagnostics(cleaned, three.skeleton, three.floor)
    for key in ("jitter", "penetration", "floating", "foot_skating"):
        if expected[key] is None:  # no foot touches the floor in these tiny dances
            assert got_three[f"cleaned_{key}"] is None
        else:
            assert got_three[f"cleaned_{key}"] == pytest.approx(expected[key], rel=1e-12)
    with pytest.raises(ValueError, match="diagnostic_samples must be at least 1"):
        DanceTable(vqvae, heldout, clips, piece_tokens=8, diagnostic_samples=0)


def test_a_registered_reward_is_a_choice_of_the_recipe_and_the_demo(tiny_policy):
    """Adding a reward is one `register_reward` in training/rewards.py: the recipe takes its
    name, and the demo trains a policy against it when it names a folder."""
    from e3d2_hf.recipes.ppo import PPOArguments

    from e3d2_hf.models import DancePolicy
    from e3d2_hf.training import rewards

    known = dict(rewards.REWARDS)
    try:
        _check_a_new_reward(rewards, PPOArguments, DancePolicy.from_pretrained(tiny_policy).config)
    finally:  # the registry is the package's: leave it as it was
        rewards.REWARDS.clear()
        rewards.REWARDS.update(known)


def _check_a_new_reward(rewards, PPOArguments, config) -> None:
    @rewards.register_reward(
        "still", "stillness", "minus the code changes", demo_folder="ppo-still"
    )
    def _still(inputs):
        return lambda music, init_upper, init_lower, upper, lower: (
            -(upper.diff(dim=-1) != 0).float().sum(-1)
        )

    (reward,) = rewards.build_rewards(["still"], rewards.RewardInputs(config)).values()
    codes = torch.tensor([[1, 1, 2, 2, 3]])
    assert reward(None, None, None, codes, codes).tolist() == [-2.0]
    args = PPOArguments(reward_funcs=["still"], reward_model_name_or_path=None)
    assert args.reward_funcs == ["still"]
    folders = [run.folder for run in rewards.demo_runs()]
    assert folders[:3] == ["ppo", "ppo-bailando", "ppo-still"]
    with pytest.raises(ValueError, match=r"the registered ones are \('learned', 'bailando', "):
        rewards.build_rewards(["nope"], rewards.RewardInputs(config))
    with pytest.raises(ValueError, match="registered already"):
        rewards.register_reward("still", "again", "")(_still)
