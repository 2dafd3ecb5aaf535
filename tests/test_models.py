"""The three models: configs, round trips, the cached sampler, causality and bad input."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub.errors import (
    StrictDataclassClassValidationError,
    StrictDataclassFieldValidationError,
)
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from e3d2_hf.data.kinematics import forward_kinematics
from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23, SMPL24
from e3d2_hf.models import (
    DancePolicy,
    DancePolicyConfig,
    DanceRewardConfig,
    DanceRewardModel,
    DanceVQVAE,
    DanceVQVAEConfig,
    count_parameters,
    preset_config,
)
from e3d2_hf.models.policy.modeling_policy import shift_actions

STEPS = 29
CODES = 32  # the tiny preset's codebook


def _inputs(batch: int = 3, steps: int = STEPS, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    music = torch.randn(batch, steps, 438, generator=g)
    upper = torch.randint(CODES, (batch, steps), generator=g)
    lower = torch.randint(CODES, (batch, steps), generator=g)
    return music, upper, lower


@pytest.fixture(scope="module")
def policy() -> DancePolicy:
    torch.manual_seed(0)
    return DancePolicy(preset_config("policy", "tiny", value_head=True)).eval()


@pytest.fixture(scope="module")
def reward_model() -> DanceRewardModel:
    torch.manual_seed(0)
    return DanceRewardModel(preset_config("reward", "tiny")).eval()


@pytest.fixture(scope="module")
def vqvae() -> DanceVQVAE:
    torch.manual_seed(0)
    model = DanceVQVAE(preset_config("vqvae", "tiny"))
    model(torch.randn(4, 240, 72))  # a training step initialises the codebooks from data
    return model.eval()


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- configs -------------------------------------------------------------------------------


def test_paper_sizes_match_the_paper():
    policy = preset_config("policy", "paper")
    assert (policy.num_hidden_layers, policy.num_attention_heads, policy.hidden_size) == (
        12,
        12,
        768,
    )
    assert policy.block_size == 29 and policy.codebook_size == 512
    assert (policy.value_shared_layers, policy.value_num_layers) == (6, 3)
    # Bailando's GPT has 87.0 M parameters (docs/bailando.md §4)
    assert count_parameters(policy) == pytest.approx(87.0e6, rel=2e-3)
    reward = preset_config("reward", "paper")
    assert (reward.hidden_size, reward.num_attention_heads, reward.num_hidden_layers) == (
        768,
        12,
        1,
    )
    assert reward.max_steps == 29 and reward.attn_dropout == reward.resid_dropout == 0.1
    vqvae = preset_config("vqvae", "paper")
    assert (vqvae.codebook_size, vqvae.code_dim, vqvae.ema_decay, vqvae.commitment_weight) == (
        512,
        512,
        0.99,
        0.02,
    )
    # each half is ~25.9 M in Bailando; the rest is the root-velocity decoder
    with torch.device("meta"):
        model = DanceVQVAE(vqvae)
    upper = sum(p.numel() for p in model.upper.parameters())
    assert upper == pytest.approx(25.9e6, rel=5e-3)


def test_tiny_presets_are_tens_of_thousands_of_parameters():
    for family in ("vqvae", "policy", "reward"):
        assert 10_000 < count_parameters(preset_config(family, "tiny")) < 100_000


def test_skeleton_sets_vqvae_channels():
    config = DanceVQVAEConfig(skeleton="dance_with_melody23")
    assert (config.upper_channels, config.lower_channels) == (36, 33)
    assert DANCE_WITH_MELODY23.upper_channels == 36
    assert DanceVQVAEConfig().upper_channels == SMPL24.upper_channels == 45


@pytest.mark.parametrize(
    ("config_class", "kwargs", "message"),
    [
        (DancePolicyConfig, {"hidden_size": 100, "num_attention_heads": 12}, "multiple of"),
        (DancePolicyConfig, {"value_shared_layers": 13}, "value_shared_layers"),
        (DancePolicyConfig, {"attn_dropout": 1.5}, "attn_dropout"),
        (DanceRewardConfig, {"num_hidden_layers": 0}, "num_hidden_layers"),
        (DanceVQVAEConfig, {"down_t": 2}, "frames per token"),
        (DanceVQVAEConfig, {"skeleton": "horse"}, "unknown skeleton"),
    ],
)
def test_bad_sizes_fail_at_construction(config_class, kwargs, message):
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        config_class(**kwargs)


def test_wrong_types_fail_at_construction():
    with pytest.raises(
        (StrictDataclassFieldValidationError, StrictDataclassClassValidationError),
        match="hidden_size must be an int|expected int",
    ):
        DancePolicyConfig(hidden_size="768")


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        preset_config("policy", "huge")


# --- save / load ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["policy", "reward_model", "vqvae"])
def test_round_trip_is_bit_exact(name, request, tmp_path):
    model = request.getfixturevalue(name)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "config.json").exists()
    through_auto = AutoModel.from_pretrained(tmp_path)
    concrete = type(model).from_pretrained(tmp_path)
    assert type(through_auto) is type(model)
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is type(model.config)
    ignored = {"_name_or_path", "transformers_version"}
    assert {k: v for k, v in config.to_dict().items() if k not in ignored} == {
        k: v for k, v in model.config.to_dict().items() if k not in ignored
    }
    assert _same_state(model, through_auto) and _same_state(model, concrete)


def test_loading_never_needs_the_kernels_package(tmp_path):
    """transformers >= 5.25 "kernelizes" on load by default, which fails without the `kernels`
    package; every e3d2 model (directly and through AutoModel) loads without it."""
    code = (
        "import sys; sys.modules['kernels'] = None\n"  # as if it were not installed
        "import e3d2_hf; from transformers import AutoModel\n"
        "from e3d2_hf.models import DancePolicy, DanceRewardModel, DanceVQVAE, preset_config\n"
        "for cls, family in ((DancePolicy, 'policy'), (DanceRewardModel, 'reward'),"
        " (DanceVQVAE, 'vqvae')):\n"
        f"    folder = {str(tmp_path)!r} + '/' + family\n"
        "    cls(preset_config(family, 'tiny')).save_pretrained(folder)\n"
        "    assert type(cls.from_pretrained(folder)) is cls\n"
        "    assert type(AutoModel.from_pretrained(folder)) is cls\n"
        "try:\n    DancePolicy.from_pretrained(folder.replace('vqvae', 'policy'), use_kernels=None)\n"
        "except ValueError as e:\n    print('default:', e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "default: Kernels are not available" in run.stdout  # what the loader's default spares


def test_reward_model_loads_as_sequence_classifier(reward_model, tmp_path):
    reward_model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert isinstance(loaded, DanceRewardModel) and loaded.config.num_labels == 1


def test_value_head_is_added_to_a_policy_without_one(tmp_path):
    torch.manual_seed(0)
    plain = DancePolicy(preset_config("policy", "tiny"))
    plain.save_pretrained(tmp_path)
    with_value = DancePolicy.from_pretrained(tmp_path, value_head=True, allow_missing=("value_",))
    with pytest.raises(ValueError, match="missing tensors: value_"):
        DancePolicy.from_pretrained(tmp_path, value_head=True)  # strict unless asked
    assert with_value.config.value_head and hasattr(with_value, "value_blocks")
    for key, tensor in plain.state_dict().items():
        assert torch.equal(tensor, with_value.state_dict()[key])


# --- the policy ----------------------------------------------------------------------------


def _rollout(policy, seed, **kwargs):
    music, upper, lower = _inputs(seed=seed)
    g = torch.Generator().manual_seed(123)
    return policy.rollout(music, upper[:, 0], lower[:, 0], generator=g, **kwargs)


@pytest.mark.parametrize("greedy", [True, False])
def test_cached_sampling_equals_uncached(policy, greedy):
    cached = _rollout(policy, 1, greedy=greedy)
    uncached = _rollout(policy, 1, greedy=greedy, use_cache=False)
    assert torch.equal(cached.upper_ids, uncached.upper_ids)
    assert torch.equal(cached.lower_ids, uncached.lower_ids)
    torch.testing.assert_close(cached.log_probs, uncached.log_probs, atol=1e-5, rtol=0)
    torch.testing.assert_close(cached.state_values, uncached.state_values, atol=1e-5, rtol=0)
    assert cached.upper_ids.shape == (3, STEPS)


def test_sampling_depends_on_the_seed(policy):
    a = _rollout(policy, 1)
    music, upper, lower = _inputs(seed=1)
    b = policy.rollout(music, upper[:, 0], lower[:, 0], generator=torch.Generator().manual_seed(7))
    assert not torch.equal(a.upper_ids, b.upper_ids)


def test_generate_equals_the_explicit_sampler(policy):
    music, upper, lower = _inputs(seed=2)
    explicit = policy.rollout(music, upper[:, 0], lower[:, 0], greedy=True)
    start = policy.pair_ids(upper[:, :1], lower[:, :1])
    generated = policy.generate(start, music_features=music, max_new_tokens=STEPS, do_sample=False)
    gen_upper, gen_lower = policy.split_pair_ids(generated[:, 1:])
    assert torch.equal(gen_upper, explicit.upper_ids) and torch.equal(gen_lower, explicit.lower_ids)


def test_teacher_forced_log_probs_equal_the_sampler(policy):
    music, upper, lower = _inputs(seed=3)
    rollout = policy.rollout(
        music, upper[:, 0], lower[:, 0], temperature=0.7, generator=torch.Generator().manual_seed(0)
    )
    log_probs, entropy, values = policy.evaluate_actions(
        music, upper[:, 0], lower[:, 0], rollout.upper_ids, rollout.lower_ids, temperature=0.7
    )
    torch.testing.assert_close(log_probs, rollout.log_probs, atol=1e-5, rtol=0)
    torch.testing.assert_close(values, rollout.state_values, atol=1e-5, rtol=0)
    assert (entropy > 0).all() and (entropy <= 2 * torch.log(torch.tensor(CODES)) + 1e-4).all()


def test_epsilon_greedy_takes_random_actions_at_the_rate_asked(policy):
    music, upper, lower = _inputs(batch=64, seed=4)
    g = torch.Generator().manual_seed(0)
    always = policy.rollout(music, upper[:, 0], lower[:, 0], epsilon=1.0, generator=g)
    never = policy.rollout(music, upper[:, 0], lower[:, 0], epsilon=0.0, generator=g)
    half = policy.rollout(music, upper[:, 0], lower[:, 0], epsilon=0.5, generator=g)
    assert always.random_actions.all() and not never.random_actions.any()
    assert 0.4 < half.random_actions.float().mean().item() < 0.6
    # uniformly random codes use the whole codebook
    assert always.upper_ids.unique().numel() == CODES


def test_policy_is_causal(policy):
    music, upper, lower = _inputs(seed=5)
    k = 11
    base = policy(music, upper, lower)
    music2, upper2, lower2 = music.clone(), upper.clone(), lower.clone()
    music2[:, k] += 1.0
    upper2[:, k] = (upper2[:, k] + 1) % CODES
    lower2[:, k] = (lower2[:, k] + 1) % CODES
    changed = policy(music2, upper2, lower2)
    for name in ("upper_logits", "lower_logits", "state_values"):
        torch.testing.assert_close(changed[name][:, :k], base[name][:, :k], atol=1e-6, rtol=0)
        assert not torch.allclose(changed[name][:, k], base[name][:, k])


def test_bc_loss_is_the_sum_of_both_cross_entropies(policy):
    music, upper, lower = _inputs(seed=6)
    out = policy(music, upper, lower, upper_labels=upper, lower_labels=lower)
    expected = torch.nn.functional.cross_entropy(out.upper_logits.flatten(0, 1), upper.flatten())
    expected += torch.nn.functional.cross_entropy(out.lower_logits.flatten(0, 1), lower.flatten())
    torch.testing.assert_close(out.loss, expected)


def test_policy_trains_with_gradient_checkpointing():
    torch.manual_seed(0)
    model = DancePolicy(preset_config("policy", "tiny"))
    model.gradient_checkpointing_enable()
    model.train()
    music, upper, lower = _inputs(seed=7)
    model(music, upper, lower, upper_labels=upper, lower_labels=lower).loss.backward()
    assert model.blocks[0].attn.query.weight.grad is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m, u, lo: (m[..., :400], u, lo), "music_features must be"),
        (lambda m, u, lo: (m, u + CODES, lo), r"upper_ids must lie in \[0, 32\)"),
        (lambda m, u, lo: (m, u, lo - CODES), "lower_ids must lie in"),
        (lambda m, u, lo: (m[:, :10], u, lo), "one music row per"),
        (
            lambda m, u, lo: (torch.cat([m, m], 1), torch.cat([u, u], 1), torch.cat([lo, lo], 1)),
            "exceed",
        ),
    ],
)
def test_policy_rejects_bad_input(policy, change, message):
    with pytest.raises(ValueError, match=message):
        policy(*change(*_inputs()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m, u, lo: (m[..., :400], u, lo), "music_features must be"),
        (lambda m, u, lo: (m, u + CODES, lo), "upper_ids must lie in"),
        (lambda m, u, lo: (m[:, :10], u, lo), "one music row per"),
        (
            lambda m, u, lo: (torch.cat([m, m], 1), torch.cat([u, u], 1), torch.cat([lo, lo], 1)),
            "max_steps",
        ),
    ],
)
def test_reward_model_rejects_bad_input(reward_model, change, message):
    with pytest.raises(ValueError, match=message):
        reward_model(*change(*_inputs()))


# --- the reward model ----------------------------------------------------------------------


def test_reward_is_the_sum_of_per_step_rewards(reward_model):
    out = reward_model(*_inputs(seed=8))
    assert out.logits.shape == (3, 1) and out.rewards.shape == (3, STEPS)
    torch.testing.assert_close(out.logits.squeeze(-1), out.rewards.sum(-1))
    torch.testing.assert_close(reward_model.score(*_inputs(seed=8)), out.logits.squeeze(-1))


def test_reward_model_is_causal(reward_model):
    music, upper, lower = _inputs(seed=9)
    k = 17
    base = reward_model(music, upper, lower).rewards
    music[:, k] += 1.0
    after_music = reward_model(music, upper, lower).rewards
    upper[:, k] = (upper[:, k] + 1) % CODES
    after_pose = reward_model(music, upper, lower).rewards
    torch.testing.assert_close(after_music[:, :k], base[:, :k], atol=1e-6, rtol=0)
    torch.testing.assert_close(after_pose[:, :k], base[:, :k], atol=1e-6, rtol=0)
    assert not torch.allclose(after_music[:, k], base[:, k])
    assert not torch.allclose(after_pose[:, k], after_music[:, k])


# --- the VQ-VAE ----------------------------------------------------------------------------


def _dance(batch: int = 2, frames: int = 240) -> torch.Tensor:
    """A swaying SMPL body walking along x: real bone lengths, smooth motion."""
    t = torch.linspace(0, 4, frames)
    phase = torch.arange(24, dtype=torch.float32)
    poses = 0.3 * torch.sin(2 * torch.pi * t[:, None, None] + phase[None, :, None] * torch.ones(3))
    translation = torch.stack([0.5 * t, torch.full_like(t, 0.9), torch.zeros_like(t)], -1)
    joints = forward_kinematics(poses, translation, SMPL24)
    return joints.reshape(1, frames, 72).repeat(batch, 1, 1)


def test_vqvae_encode_decode_shapes_and_origin(vqvae):
    joints = _dance()
    upper, lower = vqvae.encode(joints)
    assert upper.shape == lower.shape == (2, 30)
    assert upper.dtype == torch.long and upper.min() >= 0 and upper.max() < CODES
    decoded = vqvae.decode(upper, lower)
    assert decoded.shape == (2, 240, 72)
    root = decoded.view(2, 240, 24, 3)[:, 0, SMPL24.root]
    torch.testing.assert_close(root, torch.zeros_like(root))  # dances start at the origin


def test_vqvae_rejects_bad_input(vqvae):
    with pytest.raises(ValueError, match=r"\(batch, frames, 72\)"):
        vqvae.encode(torch.zeros(1, 240, 69))
    with pytest.raises(ValueError, match="multiple of 8"):
        vqvae.encode(torch.zeros(1, 241, 72))
    with pytest.raises(ValueError, match="upper_ids must lie in"):
        vqvae.decode(torch.full((1, 30), CODES), torch.zeros(1, 30, dtype=torch.long))


def test_vqvae_training_reduces_loss_and_keeps_codes_alive():
    torch.manual_seed(0)
    model = DanceVQVAE(preset_config("vqvae", "tiny"))
    joints = _dance(batch=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = model(joints)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.5 * losses[0]
    # dead codes are reset to encoder outputs, so no code keeps a count below the threshold
    assert (model.upper.codebook.code_count > 0).all()
    assert torch.isfinite(model.upper.codebook.codes).all()


def test_vqvae_root_loss_does_not_touch_the_pose_model():
    torch.manual_seed(0)
    model = DanceVQVAE(preset_config("vqvae", "tiny"))
    model(_dance())  # initialise codebooks
    out = model(_dance(), train_pose=False)
    out.loss.backward()
    assert (
        model.lower.encoder.layers[0].weight.grad is None
        or not model.lower.encoder.layers[0].weight.grad.any()
    )
    assert model.root_decoder.layers[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("train_pose, train_root", [(True, True), (False, True), (True, False)])
def test_vqvae_halves_trained_in_two_threads_get_forward_s_gradients(train_pose, train_root):
    from concurrent.futures import ThreadPoolExecutor

    torch.manual_seed(0)
    serial = DanceVQVAE(preset_config("vqvae", "tiny"))
    threaded = copy.deepcopy(serial)
    joints = _dance(batch=4)
    for _ in range(2):  # the first step initialises the codebooks, the second restarts codes
        torch.manual_seed(1)
        expected = serial(joints, train_pose, train_root)
        (expected.loss * 0.5).backward()
        torch.manual_seed(1)
        with ThreadPoolExecutor(2) as pool:
            got = threaded.forward_backward(joints, pool.map, 0.5, train_pose, train_root)
        assert not got.loss.requires_grad
        assert torch.equal(got.loss, expected.loss.detach())
        assert torch.equal(got.reconstruction, expected.reconstruction.detach())
        assert torch.equal(got.upper_ids, expected.upper_ids)
        for (name, a), (_, b) in zip(
            serial.named_parameters(), threaded.named_parameters(), strict=True
        ):
            assert torch.equal(a.grad, b.grad), name
        for (name, a), (_, b) in zip(serial.named_buffers(), threaded.named_buffers(), strict=True):
            assert torch.equal(a, b), name


def test_models_cli_prints_every_preset(capsys):
    from e3d2_hf.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "| paper | policy | 87,032,832 |" in out
    assert out.count("| tiny |") == 4 and out.count("| demo |") == 4


def test_cache_paths_use_transformers_names_without_deprecation_warnings(tmp_path):
    """generate() and the PPO sampler go through the `cache` names of transformers >= 5.24.

    Run in a fresh interpreter: transformers warns once per process, so an
    earlier test could have used up the warning this one looks for.
    """
    script = f"""
import torch
from e3d2_hf.models import DancePolicy, preset_config
torch.manual_seed(0)
policy = DancePolicy(preset_config("policy", "tiny", value_head=True)).eval()
music = torch.randn(2, {STEPS}, 438)
start = torch.zeros(2, 1, dtype=torch.long)
policy.generate(start, music_features=music, max_new_tokens=5, do_sample=False)
policy.rollout(music, start[:, 0], start[:, 0])
out = policy(music[:, :1], start, start, use_cache=True)
assert out.cache is not None and out.cache.get_seq_length() == 3, out.cache
print("ok")
"""
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "info", "PYTHONWARNINGS": "always"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "deprecated" not in result.stderr.lower(), result.stderr


def test_bf16_autocast_keeps_the_greedy_actions_and_fp32_losses_and_rewards(reward_model):
    """Mixed precision on CPU: the same greedy action wherever fp32 has a clear favourite
    (top-1 ahead by > 0.05 nats), log-probs, BC loss and u in fp32 within 2%."""
    torch.manual_seed(0)
    policy = DancePolicy(preset_config("policy", "tiny", value_head=True)).eval()
    with torch.no_grad():  # a policy with preferences (an untrained one is near-uniform)
        policy.upper_head.weight.mul_(10)
        policy.lower_head.weight.mul_(10)
    music, upper, lower = _inputs(seed=4)
    full = policy.rollout(music, upper[:, 0], lower[:, 0], greedy=True)
    upper_in, lower_in = shift_actions(upper[:, 0], lower[:, 0], full.upper_ids, full.lower_ids)
    reference = policy(music, upper_in, lower_in)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = policy(music, upper_in, lower_in)
        mixed_logp, _, mixed_values = policy.evaluate_actions(
            music, upper[:, 0], lower[:, 0], full.upper_ids, full.lower_ids
        )
        bc_loss = policy(music, upper, lower, upper_labels=upper, lower_labels=lower).loss
        u_mixed = reward_model.score(music, upper, lower)
    for half in ("upper_logits", "lower_logits"):
        logp = torch.log_softmax(reference[half].float(), -1)
        top2 = logp.topk(2, dim=-1).values
        clear = top2[..., 0] - top2[..., 1] > 0.05
        assert clear.float().mean() > 0.8  # the check covers most steps
        same = mixed[half].float().argmax(-1) == logp.argmax(-1)
        assert same[clear].all(), half
    assert mixed_logp.dtype == torch.float32 and mixed_values.dtype == torch.float32
    torch.testing.assert_close(mixed_logp, full.log_probs, atol=0.05, rtol=0.02)
    bc_full = policy(music, upper, lower, upper_labels=upper, lower_labels=lower).loss
    assert bc_loss.dtype == torch.float32
    assert bc_loss.item() == pytest.approx(bc_full.item(), rel=0.02)
    u_full = reward_model.score(music, upper, lower)
    assert u_mixed.dtype == torch.float32
    torch.testing.assert_close(u_mixed, u_full, atol=0.02 * u_full.abs().max().item(), rtol=0.02)


def test_import_e3d2_hf_alone_lets_the_auto_classes_load_every_model(tmp_path, vqvae):
    """The README's first lines, in a fresh interpreter: `import e3d2_hf`, then Auto classes."""
    torch.manual_seed(0)
    DancePolicy(preset_config("policy", "tiny")).save_pretrained(tmp_path / "policy")
    DanceRewardModel(preset_config("reward", "tiny")).save_pretrained(tmp_path / "reward")
    vqvae.save_pretrained(tmp_path / "vqvae")
    script = """
import sys
import e3d2_hf
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification
for name in ("policy", "vqvae", "reward"):
    print(type(AutoModel.from_pretrained(sys.argv[1] + "/" + name)).__name__)
print(type(AutoModelForSequenceClassification.from_pretrained(sys.argv[1] + "/reward")).__name__)
print(AutoConfig.from_pretrained(sys.argv[1] + "/policy").model_type)
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "DancePolicy", "DanceVQVAE", "DanceRewardModel", "DanceRewardModel", "e3d2_dance_policy",
    ]  # fmt: skip


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_with_non_finite_weights_is_refused_at_load_naming_the_tensor(value, tmp_path):
    from e3d2_hf.models.loading import ModelFolderError

    model = DanceRewardModel(preset_config("reward", "tiny"))
    name, tensor = next((n, p) for n, p in model.named_parameters() if n.endswith("weight"))
    with torch.no_grad():
        tensor.view(-1)[3] = value
    model.save_pretrained(tmp_path)
    with pytest.raises(
        ModelFolderError, match=rf"{tmp_path}: holds NaN or infinite weights \({name}"
    ):
        DanceRewardModel.from_pretrained(tmp_path)
