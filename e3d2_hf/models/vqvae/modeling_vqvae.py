"""DanceVQVAE: Bailando's choreographic memory as one transformers model.

Two independent VQ-VAEs (upper and lower body) with conv encoders that
downsample time x8, EMA k-means codebooks with dead-code reset, and the
root-velocity decoder of Bailando's second step, which reads the lower codes.
Joints go in and out as (batch, frames, 3 * num_joints) absolute positions.

The paper preset is Bailando's `SepVQVAER` (65,068,619 parameters both);
`convert_bailando` maps its checkpoints key for key:

- `upper` / `lower` are `vqvae_up` / `vqvae_down` (Jukebox VQ-VAEs with one
  level); `encoder.layers` are `encoders.0.level_blocks.0.model` and
  `decoder.layers` are `decoders.0.level_blocks.0.model` then `decoders.0.out`.
- Convolutions pad with zeros; residual units are ReLU, dilated k3 conv, ReLU,
  k1 conv at full width (`m_conv` 1, `res_scale` 1); dilations grow as
  `growth**i` and run reversed in the decoder; the decoder's last transposed
  conv returns to the code width, as Jukebox's `DecoderConvBock`.
- `codebook.codes` is `bottleneck.level_blocks.0.k`. Bailando does not save
  its EMA sums and counts; a converted codebook starts them as its
  `restore_k` does (the codes, counts of one).
- `root_decoder` is `vqvae_down.decoders_root.0`: it reads the lower codes and
  its velocity replaces the root slot, integrated from 0 (`mc_gpt_all.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ...data.motion import integrate_root_velocity, root_velocity
from ..inputs import check_code_pair
from ..loading import StrictLoadingMixin
from .configuration_vqvae import DanceVQVAEConfig


class ResidualUnit(nn.Module):
    """ReLU -> dilated conv k3 -> ReLU -> conv k1, added to the input."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation),
            nn.ReLU(),
            nn.Conv1d(width, width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def residual_stack(width: int, depth: int, growth: int, reverse: bool) -> nn.Sequential:
    dilations = [growth**i for i in range(depth)]
    if reverse:
        dilations.reverse()
    return nn.Sequential(*(ResidualUnit(width, d) for d in dilations))


class Encoder(nn.Module):
    """down_t x [stride-2 conv, residual stack], then a conv to the code width."""

    def __init__(self, in_channels: int, config: DanceVQVAEConfig):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(config.down_t):
            layers.append(nn.Conv1d(in_channels if i == 0 else config.width, config.width, 4, 2, 1))
            layers.append(
                residual_stack(
                    config.width, config.depth, config.dilation_growth_rate, reverse=False
                )
            )
        layers.append(nn.Conv1d(config.width, config.code_dim, 3, 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """The encoder mirrored: reversed dilations and stride-2 transposed convs.

    As in Bailando (Jukebox's `DecoderConvBock`), the last transposed conv maps
    back to the code width and the output conv reads that width.
    """

    def __init__(self, out_channels: int, config: DanceVQVAEConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(config.code_dim, config.width, 3, 1, 1)]
        for i in range(config.down_t):
            layers.append(
                residual_stack(
                    config.width, config.depth, config.dilation_growth_rate, reverse=True
                )
            )
            last = i == config.down_t - 1
            layers.append(
                nn.ConvTranspose1d(config.width, config.code_dim if last else config.width, 4, 2, 1)
            )
        layers.append(nn.Conv1d(config.code_dim, out_channels, 3, 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class EMACodebook(nn.Module):
    """Nearest-neighbour codebook learned by EMA k-means, not by gradient (Jukebox/Bailando).

    Under torch.distributed the per-code sums are all-reduced and the random
    restart vectors come from rank 0, so every rank keeps the same codebook.
    """

    def __init__(self, config: DanceVQVAEConfig):
        super().__init__()
        self.codebook_size = config.codebook_size
        self.code_dim = config.code_dim
        self.decay = config.ema_decay
        self.threshold = config.dead_code_threshold
        self.register_buffer("codes", torch.zeros(config.codebook_size, config.code_dim))
        self.register_buffer("code_sum", torch.zeros(config.codebook_size, config.code_dim))
        self.register_buffer("code_count", torch.zeros(config.codebook_size))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def nearest(self, vectors: torch.Tensor) -> torch.Tensor:
        distance = (
            vectors.pow(2).sum(-1, keepdim=True)
            - 2 * vectors @ self.codes.t()
            + self.codes.pow(2).sum(-1)[None]
        )
        return distance.argmin(-1)

    def _random_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        """`codebook_size` rows drawn from `vectors`, tiled with small noise when too few."""
        n = vectors.shape[0]
        if n < self.codebook_size:
            repeats = (self.codebook_size + n - 1) // n
            noise = torch.randn_like(vectors.repeat(repeats, 1)) * (0.01 / self.code_dim**0.5)
            vectors = vectors.repeat(repeats, 1) + noise
        picked = vectors[
            torch.randperm(vectors.shape[0], device=vectors.device)[: self.codebook_size]
        ]
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(picked, 0)
        return picked

    @torch.no_grad()
    def initialize(self, vectors: torch.Tensor) -> None:
        """Codes from random encoder outputs of the first training batch."""
        self.codes.copy_(self._random_vectors(vectors.float()))
        self.code_sum.copy_(self.codes)
        self.code_count.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def update(self, vectors: torch.Tensor, ids: torch.Tensor) -> None:
        """One EMA k-means step with dead-code reset (every training step, as Bailando)."""
        vectors = vectors.float()
        onehot = F.one_hot(ids, self.codebook_size).type_as(vectors)
        batch_sum = onehot.t() @ vectors
        batch_count = onehot.sum(0)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(batch_sum)
            dist.all_reduce(batch_count)
        restart = self._random_vectors(vectors)
        self.code_sum.mul_(self.decay).add_(batch_sum, alpha=1 - self.decay)
        self.code_count.mul_(self.decay).add_(batch_count, alpha=1 - self.decay)
        used = (self.code_count >= self.threshold).float()[:, None]
        mean = self.code_sum / self.code_count.clamp_min(1e-12)[:, None]
        self.codes.copy_(used * mean + (1 - used) * restart)

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, D, T) latents -> straight-through quantised latents, ids (B, T), commitment loss."""
        batch, dim, length = latents.shape
        vectors = latents.permute(0, 2, 1).reshape(-1, dim)
        if self.training and not bool(self.initialized):
            self.initialize(vectors.detach())
        ids = self.nearest(vectors.detach())
        quantised = self.codes[ids]  # a copy: the update below changes the codes in place
        if self.training:
            self.update(vectors.detach(), ids)
        commitment = F.mse_loss(vectors, quantised.detach())
        quantised = vectors + (quantised - vectors).detach()
        return (
            quantised.view(batch, length, dim).permute(0, 2, 1),
            ids.view(batch, length),
            commitment,
        )

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, D, T) code vectors."""
        return self.codes[ids].permute(0, 2, 1)


class BodyHalfVQVAE(nn.Module):
    """Encoder, codebook and decoder of one body half."""

    def __init__(self, channels: int, config: DanceVQVAEConfig):
        super().__init__()
        self.encoder = Encoder(channels, config)
        self.codebook = EMACodebook(config)
        self.decoder = Decoder(channels, config)


@dataclass
class DanceVQVAEOutput(ModelOutput):
    """Losses (scalars) and the reconstruction of a batch of joints."""

    loss: torch.Tensor | None = None
    pose_loss: torch.Tensor | None = None
    root_loss: torch.Tensor | None = None
    commitment_loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    upper_ids: torch.Tensor | None = None
    lower_ids: torch.Tensor | None = None


class DanceVQVAEPreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    config_class = DanceVQVAEConfig
    config: DanceVQVAEConfig
    base_model_prefix = "vqvae"
    main_input_name = "joints"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's default conv init, as Bailando; only the codebook buffers need a state.
        if isinstance(module, EMACodebook):
            init.zeros_(module.codes)
            init.zeros_(module.code_sum)
            init.zeros_(module.code_count)
            init.zeros_(module.initialized)


class DanceVQVAE(DanceVQVAEPreTrainedModel):
    """Upper and lower VQ-VAEs plus the root-velocity decoder, for one skeleton."""

    def __init__(self, config: DanceVQVAEConfig):
        super().__init__(config)
        skeleton = config.skeleton_def
        self.upper = BodyHalfVQVAE(config.upper_channels, config)
        self.lower = BodyHalfVQVAE(config.lower_channels, config)
        self.root_decoder = Decoder(3, config)
        # plain lists, not buffers: from_pretrained builds the model on the meta device
        self.upper_channel_index = _channels(skeleton.upper_body)
        self.lower_channel_index = _channels(skeleton.lower_body)
        self.root = skeleton.root
        self.up = skeleton.up_index
        self.post_init()

    # --- the data representation (docs/bailando.md §2) ---------------------------------------
    def _check_joints(self, joints: torch.Tensor) -> None:
        channels = 3 * self.config.skeleton_def.num_joints
        if joints.ndim != 3 or joints.shape[-1] != channels:
            raise ValueError(
                f"joints must be (batch, frames, {channels}) for skeleton {self.config.skeleton!r}, "
                f"got {tuple(joints.shape)}"
            )
        if joints.shape[1] % self.config.frames_per_token:
            raise ValueError(
                f"the number of frames ({joints.shape[1]}) must be a multiple of "
                f"{self.config.frames_per_token} (frames per token)"
            )

    def _split(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Absolute joints -> root-relative upper/lower channels (root zeroed) and root velocity."""
        batch, frames, _ = joints.shape
        positions = joints.view(batch, frames, -1, 3)
        root = positions[:, :, self.root]
        relative = positions - root[:, :, None]
        flat = relative.reshape(batch, frames, -1)
        upper = flat[..., self.upper_channel_index]
        lower = flat[..., self.lower_channel_index]
        target = root_velocity(root, axis=1)
        if self.config.root_height == "absolute":
            target = torch.where(self._up_mask(target), root, target)
        return upper, lower, target

    def _path_l1(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """L1 between the root paths (B, T, 3) the velocity channels integrate to; a decoded
        height is a position already and is left out."""
        integrated = [
            a for a in range(3) if not (a == self.up and self.config.root_height == "absolute")
        ]
        return F.l1_loss(
            predicted[..., integrated].float().cumsum(1), target[..., integrated].float().cumsum(1)
        )

    def _up_mask(self, like: torch.Tensor) -> torch.Tensor:
        return torch.arange(3, device=like.device) == self.up

    def _smooth(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed output Gaussian (`config.output_smoothing`) along time of (B, C, T)."""
        sigma = self.config.output_smoothing
        if not sigma:
            return x
        radius = max(int(3 * sigma + 0.5), 1)
        t = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (t / sigma) ** 2)
        kernel = (kernel / kernel.sum()).to(x.dtype)
        channels = x.shape[1]
        padded = F.pad(x, (radius, radius), mode="replicate")
        return F.conv1d(padded, kernel.expand(channels, 1, -1), groups=channels)

    def _merge(
        self, upper: torch.Tensor, lower: torch.Tensor, velocity: torch.Tensor
    ) -> torch.Tensor:
        """Root-relative halves + root velocity -> absolute joints starting at the origin."""
        batch, frames, _ = upper.shape
        flat = upper.new_zeros(batch, frames, upper.shape[-1] + lower.shape[-1])
        flat[..., self.upper_channel_index] = upper
        flat[..., self.lower_channel_index] = lower
        positions = flat.view(batch, frames, -1, 3)
        positions[:, :, self.root] = 0.0  # the decoded root slot is replaced, as in Bailando
        root = integrate_root_velocity(velocity, axis=1)
        if self.config.root_height == "absolute":
            root = torch.cat(
                [
                    velocity[..., a : a + 1] if a == self.up else root[..., a : a + 1]
                    for a in range(3)
                ],
                -1,
            )
        return (positions + root[:, :, None]).reshape(batch, frames, -1)

    # --- public API -----------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3J) absolute joints -> (upper_ids, lower_ids), each (B, T/8)."""
        self._check_joints(joints)
        upper, lower, _ = self._split(joints.to(self.dtype))
        return self._ids(self.upper, upper), self._ids(self.lower, lower)

    def _ids(self, half: BodyHalfVQVAE, channels: torch.Tensor) -> torch.Tensor:
        latents = half.encoder(channels.transpose(1, 2))
        batch, dim, length = latents.shape
        return half.codebook.nearest(latents.permute(0, 2, 1).reshape(-1, dim)).view(batch, length)

    @torch.no_grad()
    def decode(
        self, upper_ids: torch.Tensor, lower_ids: torch.Tensor, edge_tokens: int = 0
    ) -> torch.Tensor:
        """(B, N) upper and lower ids -> (B, 8N, 3J) absolute joints, root integrated from 0
        (with `root_height="absolute"`, its height is decoded, not integrated).

        The decoder's convolutions see zero padding past both ends, so its first and last
        frames jump (about 30 cm in the demo); Bailando decodes so (`edge_tokens=0`, the
        default, which the metrics use). `edge_tokens=k` repeats the first and last code pair
        k times, decodes, and crops those frames off: the seams fall in the cropped part.
        """
        if edge_tokens:
            pad = [(ids[:, :1].repeat(1, edge_tokens), ids, ids[:, -1:].repeat(1, edge_tokens))
                   for ids in (upper_ids, lower_ids)]  # fmt: skip
            frames = edge_tokens * self.config.frames_per_token
            joints = self.decode(torch.cat(pad[0], 1), torch.cat(pad[1], 1))[:, frames:-frames]
            joints = joints.view(*joints.shape[:2], -1, 3)
            origin = joints[:, :1, self.root : self.root + 1]
            if self.config.root_height == "absolute":  # the height is the data's: keep it
                origin = origin * ~self._up_mask(origin)
            return (joints - origin).flatten(2)
        check_code_pair(upper_ids, lower_ids, self.config.codebook_size)
        upper_codes = self.upper.codebook.lookup(upper_ids)
        lower_codes = self.lower.codebook.lookup(lower_ids)
        upper = self._smooth(self.upper.decoder(upper_codes)).transpose(1, 2)
        lower = self._smooth(self.lower.decoder(lower_codes)).transpose(1, 2)
        velocity = self._smooth(self.root_decoder(lower_codes)).transpose(1, 2)
        return self._merge(upper, lower, velocity)

    def start_offset(self, start_root: np.ndarray) -> np.ndarray:
        """What to add to a decoded dance's joints so that it starts at `start_root` (3,): all
        of it when the root is integrated from the origin; with a decoded height, only the
        horizontal part (the height is already the data's)."""
        offset = np.array(start_root, dtype=np.float64, copy=True)
        if self.config.root_height == "absolute":
            offset[self.up] = 0.0
        return offset

    def forward(
        self, joints: torch.Tensor, train_pose: bool = True, train_root: bool = True
    ) -> DanceVQVAEOutput:
        """Reconstruct `joints` and return Bailando's losses.

        The pose loss is step 1 (per half: L1 + velocity L1 + acceleration L1 +
        0.02 x commitment, averaged over halves); the root loss is step 2 (L1 of
        the root velocity and of its first difference), computed on detached
        lower codes so it never changes the pose model.
        """
        return self._losses(joints, train_pose, train_root, map_halves=_in_turn)

    def forward_backward(
        self,
        joints: torch.Tensor,
        map_halves: Callable,
        loss_scale: float = 1.0,
        train_pose: bool = True,
        train_root: bool = True,
    ) -> DanceVQVAEOutput:
        """`forward`, plus the backward of `loss * loss_scale`, with each body half's encoder
        and its decoder pass with backward run by one call of `map_halves(fn, items)` (a
        thread pool's `map`: the halves share no weights, so on a CPU two threads of one
        intra-op thread each train about 1.3x faster than both halves on two).

        The gradients are those of `forward(...).loss.backward()`. The codebooks, whose dead-code
        restarts draw random numbers, update in between, upper then lower, as in `forward`.
        """
        return self._losses(joints, train_pose, train_root, map_halves, loss_scale)

    def _losses(
        self,
        joints: torch.Tensor,
        train_pose: bool,
        train_root: bool,
        map_halves: Callable,
        backward_scale: float | None = None,
    ) -> DanceVQVAEOutput:
        self._check_joints(joints)
        config = self.config
        upper, lower, velocity = self._split(joints.to(self.dtype))
        halves = ((self.upper, upper), (self.lower, lower))
        latents = map_halves(lambda pair: pair[0].encoder(pair[1].transpose(1, 2)), halves)
        quantised = [
            half.codebook(latent) for (half, _), latent in zip(halves, latents, strict=True)
        ]

        def decode(index: int) -> tuple[torch.Tensor | None, ...]:
            (half, target), (codes, _, commitment) = halves[index], quantised[index]
            output = self._smooth(half.decoder(codes)).transpose(1, 2)
            half_loss = (
                _motion_l1(output, target, config.velocity_weight, config.acceleration_weight)
                + config.commitment_weight * commitment
            )
            share = 0.5 * half_loss * float(train_pose)  # this half's part of `loss`
            predicted = root_loss = None
            if index == 0:  # the root decoder reads the lower codes, and runs with the upper
                # half, whose pass is otherwise one decoder shorter
                predicted = self._smooth(self.root_decoder(quantised[1][0].detach()))
                predicted = predicted.transpose(1, 2)
                root_loss = (
                    _motion_l1(predicted, velocity, config.root_velocity_diff_weight, 0.0)
                    * config.root_velocity_weight
                )
                if config.root_path_weight:
                    root_loss = root_loss + config.root_path_weight * self._path_l1(
                        predicted, velocity
                    )
                share = share + root_loss * float(train_root)
            results = half_loss, output, predicted, root_loss
            if backward_scale is None:
                return results
            (share * backward_scale).backward()
            return tuple(None if t is None else t.detach() for t in results)

        (upper_loss, upper_out, predicted_velocity, root_loss), (lower_loss, lower_out, *_) = (
            map_halves(decode, (0, 1))
        )
        pose_loss = 0.5 * (upper_loss + lower_loss)
        loss = pose_loss * float(train_pose) + root_loss * float(train_root)
        return DanceVQVAEOutput(
            loss=loss,
            pose_loss=pose_loss.detach(),
            root_loss=root_loss.detach(),
            commitment_loss=(0.5 * (quantised[0][2] + quantised[1][2])).detach(),
            reconstruction=self._merge(upper_out, lower_out, predicted_velocity),
            upper_ids=quantised[0][1],
            lower_ids=quantised[1][1],
        )


def _in_turn(fn: Callable, items) -> list:
    """`map_halves` of a plain forward: one half after the other."""
    return [fn(item) for item in items]


def _channels(joints: tuple[int, ...]) -> list[int]:
    return [3 * j + axis for j in joints for axis in range(3)]


def _motion_l1(
    output: torch.Tensor, target: torch.Tensor, velocity_weight: float, acceleration_weight: float
) -> torch.Tensor:
    """L1 on positions + weighted L1 on first and second time differences (B, T, C), in fp32."""
    output, target = output.float(), target.float()
    loss = F.l1_loss(output, target)
    if velocity_weight:
        loss = loss + velocity_weight * F.l1_loss(output.diff(dim=1), target.diff(dim=1))
    if acceleration_weight:
        loss = loss + acceleration_weight * F.l1_loss(
            output.diff(n=2, dim=1), target.diff(n=2, dim=1)
        )
    return loss
