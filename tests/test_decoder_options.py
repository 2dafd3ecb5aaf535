"""The VQ-VAE's decoder options: a decoded root height that cannot drift, and output smoothing
across code boundaries; Bailando's decoding stays the default."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError

from e3d2_hf.data.skeleton import SMPL24
from e3d2_hf.models import DanceVQVAE
from e3d2_hf.models.presets import preset_config


def vqvae(**options) -> DanceVQVAE:
    torch.manual_seed(0)
    return DanceVQVAE(preset_config("vqvae", "tiny", **options)).eval()


def dance(frames: int = 64) -> torch.Tensor:
    """A figure walking along x while bobbing 5 cm around a root height of 0.9 m."""
    rest = torch.tensor(SMPL24.rest_positions(), dtype=torch.float32)
    t = torch.arange(frames, dtype=torch.float32) / 60
    root = torch.stack([0.5 * t, 0.9 + 0.05 * torch.sin(6 * t), 0 * t], -1)
    return (rest[None] + root[:, None]).reshape(1, frames, -1)


def test_bailando_decoding_is_the_default_and_the_options_add_no_weights():
    config = preset_config("vqvae", "tiny")
    assert config.root_height == "velocity" and config.output_smoothing == 0.0
    assert config.root_path_weight == 0.0
    plain = vqvae().state_dict()
    other = vqvae(root_height="absolute", output_smoothing=2.0, root_path_weight=0.1).state_dict()
    assert plain.keys() == other.keys()  # converted Bailando checkpoints load either way


@pytest.mark.parametrize("bad", [{"root_height": "height"}, {"output_smoothing": -1.0},
                                 {"output_smoothing": 9.0}, {"root_path_weight": -0.1}])  # fmt: skip
def test_bad_decoder_options_are_refused(bad):
    with pytest.raises(StrictDataclassClassValidationError, match=next(iter(bad))):
        preset_config("vqvae", "tiny", **bad)


def test_the_absolute_root_height_is_the_target_and_is_decoded_without_integration():
    joints = dance()
    model = vqvae(root_height="absolute")
    upper, lower, target = model._split(joints)
    height = joints.view(1, 64, 24, 3)[:, :, 0, 1]
    torch.testing.assert_close(target[..., 1], height)  # the height itself, not its velocity
    merged = model._merge(upper, lower, target).view(1, 64, 24, 3)
    original = joints.view(1, 64, 24, 3)
    torch.testing.assert_close(merged[..., 1], original[..., 1], atol=1e-5, rtol=0)  # no drift
    torch.testing.assert_close(  # horizontal: integrated from the origin, as Bailando
        merged[..., 0], original[..., 0] - original[:, :1, :1, 0], atol=1e-5, rtol=0
    )
    velocity_model = vqvae()
    merged = velocity_model._merge(*velocity_model._split(joints)).view(1, 64, 24, 3)
    assert merged[0, 0, 0, 1] == 0  # Bailando: the height starts at 0 and is integrated


def test_start_offset_adds_only_what_the_decoder_does_not_give():
    start = np.array([1.0, 0.9, -2.0])
    np.testing.assert_array_equal(vqvae().start_offset(start), start)
    np.testing.assert_array_equal(
        vqvae(root_height="absolute").start_offset(start), [1.0, 0.0, -2.0]
    )


def test_seamless_decoding_keeps_the_decoded_height():
    model = vqvae(root_height="absolute")
    ids = torch.randint(0, 32, (2, 6)), torch.randint(0, 32, (2, 6))
    plain = model.decode(*ids).view(2, 48, 24, 3)
    seamless = model.decode(*ids, edge_tokens=1).view(2, 48, 24, 3)
    assert torch.all(seamless[:, 0, 0, [0, 2]] == 0)  # starts at the origin horizontally
    assert not torch.all(seamless[:, 0, 0, 1] == 0)  # but not vertically
    assert plain.shape == seamless.shape


def test_output_smoothing_keeps_still_motion_and_softens_a_step():
    model = vqvae(output_smoothing=2.0)
    still = torch.ones(1, 3, 40)
    torch.testing.assert_close(model._smooth(still), still)
    step = torch.cat([torch.zeros(1, 3, 20), torch.ones(1, 3, 20)], -1)
    smoothed = model._smooth(step)
    assert smoothed.diff(dim=-1).abs().max() < 0.25  # one frame's jump spread over ~8
    torch.testing.assert_close(
        smoothed[..., 10:30].sum(), step[..., 10:30].sum(), atol=1e-4, rtol=0
    )
    assert vqvae()._smooth(step) is step  # Bailando: untouched


def test_the_smoothed_decoder_trains_through_its_filter():
    model = vqvae(output_smoothing=1.5, root_height="absolute").train()
    out = model(dance())
    out.loss.backward()
    assert all(p.grad is not None for p in model.upper.decoder.parameters())
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("root_height, channels", [("velocity", 3), ("absolute", 2)])
def test_the_root_path_loss_is_the_drift_a_velocity_bias_integrates_to(root_height, channels):
    model = vqvae(root_height=root_height)
    frames, bias = 40, 0.002  # m per frame along x: 8 cm after 40 frames
    target = torch.randn(2, frames, 3)
    predicted = target.clone()
    predicted[..., 0] += bias
    predicted[..., 1] += 5.0 if root_height == "absolute" else 0.0  # a height is no velocity
    # the path's error grows by `bias` each frame: its mean over frames is bias * (T + 1) / 2
    expected = bias * (frames + 1) / 2 / channels
    torch.testing.assert_close(model._path_l1(predicted, target), torch.tensor(expected))


def test_the_root_path_loss_adds_to_the_root_loss_only_when_weighted():
    joints = dance()
    plain = vqvae(root_height="absolute").train()(joints)
    weighted_model = vqvae(root_height="absolute", root_path_weight=0.5).train()
    weighted = weighted_model(joints)
    torch.testing.assert_close(weighted.pose_loss, plain.pose_loss)  # the codes do not see it
    assert weighted.root_loss > plain.root_loss
    weighted.loss.backward()
    assert all(p.grad is not None for p in weighted_model.root_decoder.parameters())
