"""Ranked demonstrations and the reward model on the tiny pipeline."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
import torch
from datasets import Dataset, load_from_disk
from e3d2_hf.recipes.demonstrations import main as main_demonstrations
from e3d2_hf.recipes.reward import main as main_reward

from e3d2_hf import preferences
from e3d2_hf.models import DanceRewardModel
from e3d2_hf.training import demonstrations
from e3d2_hf.training.demonstrations import DemonstrationConfig, make_pairs, music_segments
from e3d2_hf.training.reward_trainer import PreferencePairs
from e3d2_hf.utils.errors import DataFileError

from .conftest import TINY, demonstrations_argv


def test_preference_dataset_layout(tiny_preferences):
    prefs = load_from_disk(str(tiny_preferences))
    train = prefs["train"]
    assert len(train) == 400 and len(prefs["test"]) == 200
    assert (np.asarray(train["chosen_noise"]) < np.asarray(train["rejected_noise"])).all()
    np.testing.assert_allclose(
        train["margin"], np.asarray(train["rejected_noise"]) - train["chosen_noise"], rtol=1e-6
    )
    assert all(len(ids) == 29 for ids in train["chosen_upper_ids"][:20])
    # one demonstration per segment and noise level, music kept once per segment
    collected, segments = prefs["train_demonstrations"], prefs["train_segments"]
    assert len(collected) == 5 * len(segments)
    assert sorted(set(collected["noise"])) == pytest.approx([0.02, 0.25, 0.5, 0.75, 1.0])
    assert np.asarray(segments[0]["music_features"]).shape == (29, 438)
    # held-out pairs only use held-out music
    assert set(prefs["test"]["chosen_segment_id"]) <= set(prefs["test_segments"]["segment_id"])
    assert not set(prefs["test_segments"]["segment_id"]) & set(segments["segment_id"])
    info = json.loads((tiny_preferences / "demonstrations.json").read_text())
    assert info["codebook_size"] == 32 and info["config"]["noise_levels"] == [
        1.0,
        0.75,
        0.5,
        0.25,
        0.02,
    ]


def test_killed_collection_resumes_without_duplicates(
    tiny_policy, tiny_preferences, tmp_path, monkeypatch
):
    real = demonstrations.roll_out_segments
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(demonstrations, "roll_out_segments", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        main_demonstrations(demonstrations_argv(tiny_policy, tmp_path / "prefs"))
    assert not (tmp_path / "prefs").exists()  # nothing half-written looks complete
    monkeypatch.setattr(demonstrations, "roll_out_segments", real)
    main_demonstrations(demonstrations_argv(tiny_policy, tmp_path / "prefs"))
    resumed = load_from_disk(str(tmp_path / "prefs"))
    straight = load_from_disk(str(tiny_preferences))
    for split in ("train_demonstrations", "train", "test"):
        assert resumed[split].to_dict() == straight[split].to_dict()


def test_reward_model_learns_to_rank_noise(tiny_preferences, tmp_path):
    report = main_reward(
        [
            "--config",
            str(TINY / "reward.yaml"),
            "--preferences_dir",
            str(tiny_preferences),
            "--output_dir",
            str(tmp_path / "reward"),
            "--disable_tqdm",
            "true",
        ]
    )
    state = json.loads(
        next((tmp_path / "reward").glob("checkpoint-*/trainer_state.json")).read_text()
    )
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert losses[-1] < 0.7 * losses[0]
    assert report["test_metrics"]["accuracy"] > 0.75  # chance is 0.5
    u = report["mean_u_by_noise"]
    assert u[0.02] > u[1.0]
    assert (tmp_path / "reward" / "reward_accuracy.png").stat().st_size > 1000
    assert (
        "Held-out accuracy by noise pair" in (tmp_path / "reward" / "reward_report.md").read_text()
    )
    model = DanceRewardModel.from_pretrained(tmp_path / "reward")
    assert model.config.codebook_size == 32


def test_pairs_need_two_noise_levels(tiny_tokens):
    segments = music_segments(tiny_tokens)
    collected = demonstrations.Dataset.from_list(
        [{"segment_id": 0, "noise": 0.5, "upper_ids": [0] * 29, "lower_ids": [0] * 29}] * 3,
        features=preferences.demonstration_features(),
    )
    with pytest.raises(ValueError, match="same noise level"):
        make_pairs(collected, segments, 10, seed=0)


def test_pairs_matched_on_repeated_codes_differ_by_at_most_the_tolerance(tiny_tokens):
    from e3d2_hf.evaluation.diagnostics import repeated_codes

    segments = music_segments(tiny_tokens)
    rows = []
    assert len(segments) >= 60
    for i in range(60):  # runs of 1 to 15 codes (repetition 0 to 0.93) at each of two noise levels
        upper = [k // (1 + i // 4) % 32 for k in range(29)]
        rows.append({"segment_id": i, "noise": [0.02, 1.0][i % 2], "upper_ids": upper,
                     "lower_ids": upper[::-1]})  # fmt: skip
    collected = demonstrations.Dataset.from_list(
        rows, features=preferences.demonstration_features()
    )
    kept = repeated_codes(np.stack(collected["upper_ids"]), np.stack(collected["lower_ids"]))
    pairs = make_pairs(collected, segments, 200, seed=0, match_repeated_codes=0.05)
    assert len(pairs) == 200
    for pair in pairs:
        c, r = pair["chosen_segment_id"], pair["rejected_segment_id"]
        assert pair["chosen_noise"] < pair["rejected_noise"]
        assert abs(kept[c] - kept[r]) <= 0.05
    # at random (the paper), the same demonstrations give pairs far apart in repetition
    loose = make_pairs(collected, segments, 200, seed=0)
    assert (
        max(abs(kept[p["chosen_segment_id"]] - kept[p["rejected_segment_id"]]) for p in loose) > 0.3
    )


def test_an_unmatchable_repetition_tolerance_is_named():
    segments = Dataset.from_list([{"segment_id": 0, "music_id": "m"}])  # only the music id is read
    held, moving = [7] * 29, list(range(29))  # keeps every code; keeps none
    collected = demonstrations.Dataset.from_list(
        [{"segment_id": 0, "noise": 0.02, "upper_ids": held, "lower_ids": held},
         {"segment_id": 0, "noise": 1.0, "upper_ids": moving, "lower_ids": moving}],
        features=preferences.demonstration_features(),
    )  # fmt: skip
    with pytest.raises(ValueError, match="match_repeated_codes 0.5: 4 of 4 pairs"):
        make_pairs(collected, segments, 4, seed=0, match_repeated_codes=0.5)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="match_repeated_codes"):
            DemonstrationConfig(match_repeated_codes=bad)


def test_equal_noise_pairs_are_refused(tiny_preferences):
    prefs = load_from_disk(str(tiny_preferences))
    broken = prefs["train"].map(lambda row: {"rejected_noise": row["chosen_noise"]})
    with pytest.raises(ValueError, match="equal noise"):
        PreferencePairs(broken, prefs["train_segments"])


def test_bad_noise_schedule_is_refused():
    with pytest.raises(ValueError, match="two different noise levels"):
        DemonstrationConfig(noise_levels=[0.5, 0.5])


def test_missing_preference_dataset_is_named(tmp_path):
    with pytest.raises(DataFileError, match="preference dataset not found"):
        main_reward(
            ["--config", str(TINY / "reward.yaml"), "--preferences_dir", str(tmp_path / "nope")]
        )


def test_two_processes_collect_disjoint_shards_and_the_same_dataset(tiny_policy, tmp_path):
    """torchrun with two gloo ranks: each rank rolls out its own shards (rank r: i % 2 == r), and
    the saved dataset equals a one-process collection."""
    import os
    import re
    import subprocess
    import sys

    from e3d2_hf.preferences import load_preferences

    from .conftest import REPO

    extra = ("--shard_segments", "4")
    single = tmp_path / "single" / "preferences"
    main_demonstrations(demonstrations_argv(tiny_policy, single, *extra))
    multi = tmp_path / "multi" / "preferences"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "e3d2_hf.cli", "collect-demonstrations", *demonstrations_argv(tiny_policy, multi, *extra)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    claims = re.findall(
        r"demonstrations \(train music\): process (\d) of (\d) collects shards \[([\d, ]*)\]",
        run.stderr,
    )
    assert sorted(c[0] for c in claims) == ["0", "1"] and {c[1] for c in claims} == {"2"}
    shards = [[int(i) for i in c[2].split(",") if i.strip()] for c in sorted(claims)]
    assert shards[0] and shards[1] and not set(shards[0]) & set(shards[1])
    assert all(i % 2 == rank for rank, mine in enumerate(shards) for i in mine)
    assert sorted(shards[0] + shards[1]) == list(range(len(shards[0]) + len(shards[1])))
    one, _ = load_preferences(single)
    two, _ = load_preferences(multi)
    for split in one:
        assert one[split].to_dict() == two[split].to_dict(), split


def test_reward_trainer_follows_trls_loss_and_dropout_conventions(tiny_preferences, tmp_path):
    import torch
    import torch.nn.functional as F

    from e3d2_hf.models import preset_config
    from e3d2_hf.preferences import load_preferences
    from e3d2_hf.training.reward_trainer import PreferencePairs, RewardConfig, RewardTrainer

    prefs, _ = load_preferences(tiny_preferences)
    pairs = PreferencePairs(prefs["train"], prefs["train_segments"])

    def trainer(**over) -> RewardTrainer:
        torch.manual_seed(0)
        model = DanceRewardModel(
            preset_config("reward", "tiny", attn_dropout=0.1, resid_dropout=0.1)
        )
        args = RewardConfig(
            output_dir=str(tmp_path / "r"), report_to="none", eval_strategy="no", **over
        )
        return RewardTrainer(model=model, args=args, train_dataset=pairs)

    def dropouts(t: RewardTrainer) -> set[float]:
        return {m.p for m in t.model.modules() if isinstance(m, torch.nn.Dropout)}

    assert dropouts(trainer()) == {0.0}  # TRL's default: dropout off
    assert 0.1 in dropouts(trainer(disable_dropout=False))  # the paper keeps it

    chosen, rejected = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.5])
    margin = torch.tensor([0.25, 0.5])
    plain = -F.logsigmoid(chosen - rejected).mean()
    with_margin = -F.logsigmoid(chosen - rejected - margin).mean()
    assert torch.isclose(trainer()._loss(chosen, rejected, margin), with_margin)
    assert torch.isclose(trainer(use_margin=False)._loss(chosen, rejected, margin), plain)
    assert torch.isclose(trainer()._loss(chosen, rejected, None), plain)  # no margin column
    centred = trainer(use_margin=False, center_rewards_coefficient=0.01)
    expected = plain + 0.01 * ((chosen + rejected) ** 2).mean()
    assert torch.isclose(centred._loss(chosen, rejected, margin), expected)


def test_flat_pairs_carry_each_sides_music_and_tokens(tiny_preferences):
    from e3d2_hf.preferences import flat_pairs, load_preferences

    prefs, _ = load_preferences(tiny_preferences)
    flat = flat_pairs(prefs, "test")
    assert sorted(flat.column_names) == ["chosen", "margin", "rejected"]
    assert len(flat) == len(prefs["test"])
    row, source = flat[0], prefs["test"][0]
    segments = prefs["test_segments"].with_format("numpy")
    index = list(segments["segment_id"]).index(source["rejected_segment_id"])
    np.testing.assert_allclose(
        np.asarray(row["rejected"]["music_features"]), segments[index]["music_features"], rtol=0
    )
    assert row["chosen"]["upper_ids"] == list(source["chosen_upper_ids"])
    assert row["chosen"]["noise"] < row["rejected"]["noise"]
    assert row["margin"] == pytest.approx(source["margin"])


def test_a_reward_model_on_pi_bcs_trunk_starts_from_its_log_likelihood(tiny_policy):
    """trunk='policy': pi_BC's GPT with a scalar head; before training, u is exactly pi_BC's
    log-likelihood of the dance, and the model saves and loads as any reward model."""
    from transformers import AutoModelForSequenceClassification

    from e3d2_hf.models import DancePolicy, preset_config
    from e3d2_hf.models.policy.modeling_policy import action_log_probs
    from e3d2_hf.models.reward.modeling_reward import policy_trunk_config

    policy = DancePolicy.from_pretrained(tiny_policy).eval()
    config = preset_config(
        "reward", "tiny", trunk="policy", policy_config=policy_trunk_config(policy.config)
    )
    reward = DanceRewardModel(config)
    reward.init_from_policy(policy)
    g = torch.Generator().manual_seed(0)
    music = torch.randn(4, 29, policy.config.music_dim, generator=g)
    upper, lower = (torch.randint(0, 32, (4, 29), generator=g) for _ in range(2))
    out = policy(music, torch.cat([upper[:, :1], upper[:, :-1]], 1),
                 torch.cat([lower[:, :1], lower[:, :-1]], 1))  # fmt: skip
    log_likelihood, _ = action_log_probs(out.upper_logits, out.lower_logits, upper, lower)
    torch.testing.assert_close(reward.score(music, upper, lower), log_likelihood.sum(-1))
    with tempfile.TemporaryDirectory() as folder:
        reward.save_pretrained(folder)
        back = AutoModelForSequenceClassification.from_pretrained(folder)
        assert back.config.trunk == "policy" and not back.config.policy_config["value_head"]
        torch.testing.assert_close(
            back.score(music, upper, lower), reward.score(music, upper, lower)
        )
    with pytest.raises(Exception, match="trunk must be one of"):
        preset_config("reward", "tiny", trunk="lstm")


def test_train_reward_with_the_policy_trunk_ranks_noise(tiny_preferences, tiny_policy, tmp_path):
    report = main_reward(
        [
            "--config", str(TINY / "reward.yaml"),
            "--preferences_dir", str(tiny_preferences),
            "--trunk", "policy", "--trunk_policy", str(tiny_policy),
            "--output_dir", str(tmp_path / "reward"),
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    assert report["test_metrics"]["accuracy"] > 0.75
    model = DanceRewardModel.from_pretrained(tmp_path / "reward")
    assert model.config.trunk == "policy"


def test_repeated_codes_is_the_fraction_of_steps_a_half_keeps_its_code():
    from e3d2_hf.evaluation.diagnostics import repeated_codes

    upper = [[1, 1, 1, 2, 2], [0, 1, 2, 3, 4]]  # 3 of 4 steps kept; none
    lower = [[5, 6, 7, 8, 9], [3, 3, 3, 3, 3]]  # none; all 4
    np.testing.assert_allclose(repeated_codes(upper, lower), [0.375, 0.5])
    with pytest.raises(ValueError, match="repeated_codes"):
        repeated_codes([[1, 2]], [[1, 2, 3]])


def test_traits_by_noise_decodes_each_demonstration_and_correlates_u_with_each_trait(
    tiny_preferences, tiny_vqvae
):
    from e3d2_hf.data.layout import SEAM_TOKENS
    from e3d2_hf.evaluation.diagnostics import repeated_codes
    from e3d2_hf.evaluation.physical import dance_diagnostics, root_speed
    from e3d2_hf.models import DanceVQVAE
    from e3d2_hf.preferences import load_preferences
    from e3d2_hf.reports.reward import traits_by_noise

    prefs, _ = load_preferences(tiny_preferences)
    collected, segments = prefs["train_demonstrations"], prefs["train_segments"]
    vqvae = DanceVQVAE.from_pretrained(tiny_vqvae).eval()
    # each demonstration decoded on its own, from its segment's p_init
    init = {int(s["segment_id"]): s for s in segments}
    speeds, roots, kept, jitters = [], [], [], []
    for demo in collected:
        first = init[int(demo["segment_id"])]
        upper = torch.tensor([[first["init_upper"], *demo["upper_ids"]]])
        lower = torch.tensor([[first["init_lower"], *demo["lower_ids"]]])
        joints = vqvae.decode(upper, lower, SEAM_TOKENS)[0].numpy()
        joints = joints.reshape(len(joints), -1, 3)
        speeds.append(dance_diagnostics(joints)["joint_speed"])
        jitters.append(dance_diagnostics(joints)["jitter"])
        roots.append(root_speed(joints))
        kept.append(repeated_codes([demo["upper_ids"]], [demo["lower_ids"]])[0])
    speeds, roots, kept = np.asarray(speeds), np.asarray(roots), np.asarray(kept)
    assert roots.std() > 0  # the demonstrations cross the floor at different speeds
    noise = np.asarray(collected["noise"])

    traits = traits_by_noise(-2.0 * speeds + 5.0, collected, segments, vqvae, batch_size=7)
    assert sorted(traits) == sorted({round(float(n), 6) for n in noise})
    for level, row in traits.items():
        at = np.isclose(noise, level)
        assert row["joint_speed"] == pytest.approx(speeds[at].mean(), rel=1e-5)
        assert row["score_joint_speed_corr"] == pytest.approx(-1.0, abs=1e-5)
        assert row["root_speed"] == pytest.approx(roots[at].mean(), rel=1e-5)
        expected = np.corrcoef(speeds[at], roots[at])[0, 1]
        assert row["score_root_speed_corr"] == pytest.approx(-expected, abs=1e-4)
        assert row["repeated_codes"] == pytest.approx(kept[at].mean())
        assert row["jitter"] == pytest.approx(np.mean(np.asarray(jitters)[at]), rel=1e-5)
    # past `max_decoded` a random subset is decoded: each level's speed is a mean of its own
    some = traits_by_noise(-2.0 * speeds + 5.0, collected, segments, vqvae, max_decoded=30)
    for level, row in some.items():
        at = np.isclose(noise, level)
        assert speeds[at].min() - 1e-6 <= row["joint_speed"] <= speeds[at].max() + 1e-6
        assert row["repeated_codes"] == pytest.approx(kept[at].mean())  # always all of them
    assert [r["joint_speed"] for r in some.values()] != [r["joint_speed"] for r in traits.values()]
    # without a VQ-VAE only the code traits; a score that does not vary has no correlation
    flat = traits_by_noise(np.ones(len(collected)), collected, segments)
    assert all(set(r) == {"repeated_codes", "score_repeated_codes_corr"} for r in flat.values())
    assert all(r["score_repeated_codes_corr"] is None for r in flat.values())


def test_ground_truth_traits_score_the_datas_own_episodes(tiny_tokens, tiny_reward, tiny_vqvae):
    """The report scores the data's own 29-step episodes, cut where `music_segments` cuts them
    and danced with the ground truth's codes, and correlates u with their traits."""
    from e3d2_hf.data.layout import SEAM_TOKENS, WINDOW_TOKENS
    from e3d2_hf.evaluation.physical import root_speed
    from e3d2_hf.models import DanceVQVAE
    from e3d2_hf.reports.reward import ground_truth_episodes, ground_truth_traits

    music, upper, lower, first = ground_truth_episodes(tiny_tokens)
    segments = music_segments(tiny_tokens, 0, WINDOW_TOKENS - 1).with_format("numpy")
    assert len(music) == len(segments) > 3
    np.testing.assert_array_equal(music, np.stack(segments["music_features"]))
    np.testing.assert_array_equal(
        first, np.stack([segments["init_upper"], segments["init_lower"]], 1)
    )
    clips = {str(c["id"]): c for c in tiny_tokens}
    for i in (0, len(segments) - 1):
        clip, start = clips[str(segments[i]["music_id"])], int(segments[i]["start"])
        assert upper[i].tolist() == clip["upper_ids"][start + 1 : start + WINDOW_TOKENS]
        assert lower[i].tolist() == clip["lower_ids"][start + 1 : start + WINDOW_TOKENS]

    model = DanceRewardModel.from_pretrained(tiny_reward).eval()
    vqvae = DanceVQVAE.from_pretrained(tiny_vqvae).eval()
    got = ground_truth_traits(model, tiny_tokens, vqvae, batch_size=3)
    with torch.no_grad():
        u = model.score(torch.from_numpy(music), torch.from_numpy(upper), torch.from_numpy(lower))
    u = u.numpy()
    roots = []
    for i in range(len(music)):
        codes = [torch.tensor([[first[i, k], *c[i]]]) for k, c in enumerate((upper, lower))]
        joints = vqvae.decode(*codes, SEAM_TOKENS)[0].numpy()
        roots.append(root_speed(joints.reshape(len(joints), -1, 3)))
    assert got["episodes"] == len(music)
    assert got["mean_u"] == pytest.approx(float(u.mean()), rel=1e-5)
    assert got["root_speed"] == pytest.approx(float(np.mean(roots)), rel=1e-5)
    assert got["score_root_speed_corr"] == pytest.approx(np.corrcoef(u, roots)[0, 1], abs=1e-4)
    assert {"joint_speed", "repeated_codes", "score_repeated_codes_corr"} <= set(got)
    # clips too short for one episode give no row
    short = tiny_tokens.map(lambda c: {**c, "num_tokens": 5, "upper_ids": c["upper_ids"][:5]})
    assert ground_truth_traits(model, short, vqvae) is None


def test_ground_truth_demonstrations_rank_the_datas_own_codes_above_every_rollout(
    tiny_policy, tiny_preferences, tmp_path
):
    """`--ground_truth_demonstrations true` (not in the paper) adds each segment's ground-truth
    codes at noise 0; the rollouts stay the paper's, and the reports name the level."""
    out = tmp_path / "preferences"
    main_demonstrations(
        demonstrations_argv(tiny_policy, out, "--ground_truth_demonstrations", "true")
    )
    prefs, paper = load_from_disk(str(out)), load_from_disk(str(tiny_preferences))
    tokens = load_from_disk(str(tiny_policy / "tokens" / "train")).with_format("numpy")
    clips = {str(c["id"]): c for c in tokens}
    collected = prefs["train_demonstrations"]
    truth = collected.filter(lambda d: d["noise"] == 0.0)
    segments = prefs["train_segments"]
    assert sorted(truth["segment_id"]) == sorted(segments["segment_id"])
    by_id = {int(s["segment_id"]): s for s in segments}
    for demo in truth.select(range(0, len(truth), max(len(truth) // 5, 1))):
        segment = by_id[int(demo["segment_id"])]
        clip, start = clips[segment["music_id"]], int(segment["start"])
        assert demo["upper_ids"] == clip["upper_ids"][start + 1 : start + 30].tolist()
        assert demo["lower_ids"] == clip["lower_ids"][start + 1 : start + 30].tolist()
    rollouts = collected.filter(lambda d: d["noise"] > 0.0)
    assert rollouts["upper_ids"] == paper["train_demonstrations"]["upper_ids"]
    zero = [p for p in prefs["train"] if 0.0 in (p["chosen_noise"], p["rejected_noise"])]
    assert zero and all(p["chosen_noise"] == 0.0 for p in zero)
    assert any(p["chosen_noise"] == 0.0 for p in prefs["test"])
    card = (out / "README.md").read_text()
    assert "own codes on every segment were added as demonstrations at noise 0" in card
    assert "noise 0" not in (tiny_preferences / "README.md").read_text()
    from e3d2_hf.cards import _pairing_sentence

    assert "differ by at most 0.05 were paired" in _pairing_sentence({"match_repeated_codes": 0.05})
    assert _pairing_sentence({"match_repeated_codes": None}) == ""

    report = main_reward(
        ["--config", str(TINY / "reward.yaml"), "--preferences_dir", str(out),
         "--output_dir", str(tmp_path / "reward"), "--disable_tqdm", "true"]
    )  # fmt: skip
    assert report["ground_truth_demonstrations"] is True
    assert "| 0 (ground truth) |" in (tmp_path / "reward" / "reward_report.md").read_text()
    with pytest.raises(ValueError, match="noise levels must all be above 0"):
        DemonstrationConfig(noise_levels=[0.0, 0.5], ground_truth_demonstrations=True)


@pytest.mark.parametrize(
    ("split", "column", "change", "problem"),
    [
        ("train_segments", "music_features", "nan", "holds NaN or infinite values"),
        ("train", "chosen_upper_ids", "fraction", "token ids must be integers, got double"),
    ],
)
def test_a_preference_dataset_with_nan_music_or_fractional_ids_is_refused_at_load(
    split, column, change, problem, tiny_preferences, tmp_path
):
    """NaN music trained a reward model to a loss of 0; fractional token ids trained too."""
    import shutil

    from e3d2_hf.preferences import load_preferences
    from e3d2_hf.utils.errors import DataFileError

    prefs, _ = load_preferences(tiny_preferences)
    table = prefs[split]
    if change == "nan":
        from datasets import Dataset

        rows = table.to_list()
        rows[0][column][0][0] = float("nan")
        table = Dataset.from_list(rows, features=table.features)
    else:
        from datasets import Sequence, Value

        table = table.cast_column(column, Sequence(Value("float64")))
        table = table.map(lambda row: {column: [v + 0.5 for v in row[column]]})
    prefs[split] = table
    out = tmp_path / "prefs"
    prefs.save_to_disk(str(out))
    shutil.copy(tiny_preferences / "demonstrations.json", out / "demonstrations.json")
    with pytest.raises(DataFileError, match=rf"{out}: {split} {column}: {problem}"):
        load_preferences(out)


def test_each_corruption_does_what_it_says_to_the_datas_own_episode(tiny_tokens):
    from e3d2_hf.training.demonstrations import (
        CORRUPTIONS,
        FROZEN_STEPS,
        OFF_BEAT_SHIFTS,
        corrupt_episodes,
    )

    segments = music_segments(tiny_tokens, 0, 1)
    pairs = corrupt_episodes(tiny_tokens, segments, list(CORRUPTIONS), 50, seed=0)
    assert len(pairs) == 50 and pairs["kind"] == list(CORRUPTIONS) * 10
    clips = {str(c["id"]): c for c in tiny_tokens.with_format("numpy")}
    by_id = {int(s["segment_id"]): s for s in segments}
    for pair in pairs.with_format("numpy"):
        source = by_id[int(pair["chosen_segment_id"])]
        clip, start = clips[source["music_id"]], int(source["start"])
        window = slice(start + 1, start + 30)
        chosen = np.stack([pair["chosen_upper_ids"], pair["chosen_lower_ids"]])
        rejected = np.stack([pair["rejected_upper_ids"], pair["rejected_lower_ids"]])
        # the chosen side is the data's own episode on its segment, at noise 0, margin 0
        np.testing.assert_array_equal(
            chosen, [clip["upper_ids"][window], clip["lower_ids"][window]]
        )
        assert pair["chosen_noise"] == pair["rejected_noise"] == 0.0 and pair["margin"] == 0.0
        same_music = pair["rejected_segment_id"] == pair["chosen_segment_id"]
        kind = pair["kind"]
        if kind == "frozen":
            changed = np.flatnonzero((rejected != chosen).any(0))
            held = rejected[:, changed[0] - 1] if len(changed) else None
            assert same_music and len(changed) < FROZEN_STEPS[1]
            if held is not None:  # a stretch holds the pose it starts with
                assert (rejected[:, changed] == held[:, None]).all()
        elif kind == "shuffled":
            assert same_music and sorted(map(tuple, rejected.T)) == sorted(map(tuple, chosen.T))
        elif kind == "reversed":
            assert same_music and (rejected == chosen[:, ::-1]).all()
        elif kind == "off_beat":
            found = [
                k
                for k in (s * d for s in OFF_BEAT_SHIFTS for d in (-1, 1))
                if start + k >= 0
                and start + 30 + k <= len(clip["upper_ids"])
                and (rejected[0] == clip["upper_ids"][start + 1 + k : start + 30 + k]).all()
                and (rejected[1] == clip["lower_ids"][start + 1 + k : start + 30 + k]).all()
            ]
            assert same_music and found, "the dance moved 2-4 tokens against its music"
        else:  # other_music: the same dance on another song's segment
            assert (rejected == chosen).all() and pair["rejected_music_id"] != source["music_id"]
    with pytest.raises(ValueError, match="needs ground_truth_demonstrations|set ground_truth"):
        DemonstrationConfig(corruptions=["frozen"])
    with pytest.raises(ValueError, match="unknown corruptions"):
        DemonstrationConfig(corruptions=["sideways"], ground_truth_demonstrations=True)


def test_a_reward_model_trained_with_corruptions_reports_each_kind_and_pi_bcs_likelihood(
    tiny_policy, tiny_vqvae, tmp_path
):
    out = tmp_path / "preferences"
    main_demonstrations(
        demonstrations_argv(
            tiny_policy, out, "--ground_truth_demonstrations", "true",
            "--corruptions", "frozen", "reversed", "other_music",
            "--corruption_pair_fraction", "0.5",
        )
    )  # fmt: skip
    prefs = load_from_disk(str(out))
    for split, expected in (
        ("train", {"noise", "frozen", "reversed", "other_music"}),
        ("test", {"noise", "frozen", "reversed"}),  # one held-out song: no other music
    ):
        kinds = prefs[split]["kind"]
        assert kinds.count("noise") == pytest.approx(len(kinds) / 2, abs=1)
        assert set(kinds) == expected
    report = main_reward(
        ["--config", str(TINY / "reward.yaml"), "--preferences_dir", str(out),
         "--output_dir", str(tmp_path / "reward"), "--disable_tqdm", "true"]
    )  # fmt: skip
    assert set(report["accuracy_by_kind"]) == {"noise", "frozen", "reversed"}
    assert all(0.0 <= a <= 1.0 for a in report["accuracy_by_kind"].values())
    # the noise-pair table holds the noise pairs only: none between two noise-0 episodes
    levels = report["noise_levels"]
    zero = levels.index(0.0)
    assert report["accuracy_by_noise_pair"][zero][zero] is None or np.isnan(
        report["accuracy_by_noise_pair"][zero][zero]
    )
    # pi_BC's folder is here: u's correlation with its log-likelihood
    lowest = min(float(n) for n in report["traits_by_noise"] if float(n) > 0)
    row = report["traits_by_noise"][lowest]
    assert row["ref_logp"] < 0 and -1 <= row["score_ref_logp_corr"] <= 1
    card = (out / "README.md").read_text()
    assert "rank the data's own episode above a corrupted copy of it (frozen, reversed" in card
    text = (tmp_path / "reward" / "reward_report.md").read_text()
    assert "## Held-out accuracy by kind of pair" in text and "| reversed |" in text
    assert "correlation of u with pi_BC log-likelihood" in text
