"""Bailando's checkpoints as e3d2-hf models: `e3d2 convert-bailando`.

Bailando (Li et al., CVPR 2022) saves `{"model": state_dict, "config": EasyDict,
"epoch": int}` with the state dict of an `nn.DataParallel` (keys prefixed
`module.`). This module reads such files tensor-only (`weights_only=True`),
maps every key to `DanceVQVAE` / `DancePolicy` (the correspondence is in the
two modeling files' docstrings) and writes `from_pretrained` folders. A key
left over or a weight left unfilled is an error listing them, never a silent
random init.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .models import DancePolicy, DancePolicyConfig, DanceVQVAE, DanceVQVAEConfig
from .models.policy.configuration_policy import VQVAE_SUBFOLDER
from .utils.errors import DataFileError
from .utils.outputs import atomic_output_dir, claim_output_dir
from .utils.yaml_files import read_yaml

_SAFE_GLOBALS_LOCK = threading.Lock()

logger = logging.getLogger(__name__)

BAILANDO_URL = "https://github.com/lisiyao21/Bailando"
LICENSE_NAME = "s-lab-license-1.0"
LICENSE_LINK = f"{BAILANDO_URL}/blob/main/LICENSE"
UPPER, LOWER, ROOT = "vqvae_up", "vqvae_down", "vqvae_down.decoders_root.0"
"""Bailando's module names of the upper and lower VQ-VAE and of step 2's root decoder."""
CRITIC = "critic_net."
"""The critic of a Bailando actor-critic checkpoint (`CrossCondGPT2AC`)."""
CONVERSION_RECORD = "conversion.json"


# --- reading a checkpoint tensor-only --------------------------------------------------------------
class _ConfigAsMapping:
    """Stands in for `easydict.EasyDict` while unpickling: Bailando's saved YAML config is read
    back as a plain mapping, and nothing of easydict's is imported or run."""

    def __new__(cls, *args: Any) -> OrderedDict:
        return OrderedDict()


@dataclass
class BailandoCheckpoint:
    """A Bailando `.pt`: its state dict (without `module.`), its config and epoch, if saved."""

    path: Path
    state: dict[str, torch.Tensor]
    config: dict[str, Any] | None
    epoch: int | None

    def structure(self, key: str, override: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """`config[key]` (`structure` or `structure_generate`), from `override` first."""
        for config in (override, self.config):
            if isinstance(config, Mapping) and isinstance(config.get(key), Mapping):
                return dict(config[key])
        return None

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def read_checkpoint(path: str | os.PathLike) -> BailandoCheckpoint:
    """Load a Bailando checkpoint with `torch.load(weights_only=True)`; anything else is refused."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "no such checkpoint file")
    try:
        # safe_globals changes torch's process-wide allow-list: one load at a time
        with (
            _SAFE_GLOBALS_LOCK,
            torch.serialization.safe_globals([(_ConfigAsMapping, "easydict.EasyDict")]),
        ):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"WeightsUnpickler error: (.*?)(?: was not| Please|$)", str(exc), re.M)
        reason = found.group(1).strip() if found else "an object that is not a tensor"
        raise DataFileError(
            path,
            f"refused: not a tensor-only checkpoint ({reason}); e3d2-hf loads checkpoints with "
            "weights_only=True and never runs code from one",
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataFileError(
            path, f"not a readable torch checkpoint ({' '.join(str(exc).split())[:200]})"
        ) from None
    if isinstance(raw, Mapping) and isinstance(raw.get("model"), Mapping):
        state, config, epoch = raw["model"], raw.get("config"), raw.get("epoch")
    elif isinstance(raw, Mapping) and raw and all(torch.is_tensor(v) for v in raw.values()):
        state, config, epoch = raw, None, None  # a bare state dict
    else:
        raise DataFileError(
            path, "not a Bailando checkpoint: expected a dict with a 'model' state dict"
        )
    tensors = {k: v for k, v in state.items() if torch.is_tensor(v)}
    if len(tensors) != len(state) or not tensors:
        raise DataFileError(path, "not a Bailando checkpoint: its 'model' is not a state dict")
    if all(k.startswith("module.") for k in tensors):  # saved from nn.DataParallel
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return BailandoCheckpoint(
        path, tensors, _plain(config) if config is not None else None, _int_or_none(epoch)
    )


def read_config(path: str | os.PathLike | None) -> dict[str, Any] | None:
    """A Bailando YAML config (`configs/*.yaml`), or None."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "no such config file")
    config = read_yaml(path)
    if not isinstance(config, dict):
        raise DataFileError(path, "not a Bailando config: expected a YAML mapping")
    return config


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None


# --- moving tensors by a key map ---------------------------------------------------------------------


def _with_params(pairs: dict[str, str]) -> dict[str, str]:
    """Module-name pairs (ours -> Bailando's) expanded to their weight and bias tensors."""
    return {
        f"{ours}.{s}": f"{theirs}.{s}" for ours, theirs in pairs.items() for s in ("weight", "bias")
    }


def _fill(
    model: torch.nn.Module,
    sources: dict[str, torch.Tensor],
    key_map: dict[str, str],
    derived: dict[str, torch.Tensor],
    consumed: set[str],
    what: str,
    path: Path,
) -> None:
    """Load `model` from `sources` by `key_map` (ours -> theirs) plus `derived` tensors.

    Every weight of the model must be filled and every source key consumed
    (by the map or by `consumed`), with equal shapes; otherwise one error lists them.
    """
    target = model.state_dict()
    unfilled = sorted(k for k in target if k not in key_map and k not in derived)
    absent = sorted(theirs for theirs in key_map.values() if theirs not in sources)
    leftover = sorted(set(sources) - set(key_map.values()) - consumed)
    problems = []
    if absent or unfilled:
        problems.append(f"missing {_listing(absent + unfilled)}")
    if leftover:
        problems.append(f"left over, with no counterpart in e3d2-hf's {what}: {_listing(leftover)}")
    state = dict(derived)
    for ours, theirs in key_map.items():
        if theirs not in sources:
            continue
        tensor = sources[theirs]
        if tuple(tensor.shape) != tuple(target[ours].shape):
            problems.append(
                f"{theirs} has shape {tuple(sources[theirs].shape)}, {ours} needs "
                f"{tuple(target[ours].shape)}"
            )
            continue
        state[ours] = tensor.to(target[ours].dtype).contiguous()
    if problems:
        raise DataFileError(path, f"cannot be converted to a {what}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True, assign=True)


def _listing(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return f"{len(keys)} key(s) ({shown}{', ...' if len(keys) > limit else ''})"


def _count(state: Mapping[str, Any], pattern: str) -> int:
    """How many consecutive indices i have `pattern.format(i)` in `state`."""
    i = 0
    while pattern.format(i) in state:
        i += 1
    return i


def _require(path: Path, what: str, checks: list[tuple[str, Any, Any]]) -> None:
    """(option, value in Bailando's config, what e3d2-hf's architecture needs) -> error if unequal."""
    wrong = [f"{name}={value!r} (needs {need!r})" for name, value, need in checks if value != need]
    if wrong:
        raise DataFileError(
            path, f"its {what} has options e3d2-hf's architecture does not have: {', '.join(wrong)}"
        )


# --- the VQ-VAE ---------------------------------------------------------------------------------------
def _decoder_keys(theirs: str, ours: str, down_t: int, depth: int) -> dict[str, str]:
    """Bailando's Jukebox `Decoder` (one level) -> our `Decoder.layers`, module names."""
    blocks = f"{theirs}.level_blocks.0.model"
    pairs = {f"{ours}.layers.0": f"{blocks}.0"}
    for i in range(down_t):
        for j in range(depth):
            for conv in (1, 3):
                pairs[f"{ours}.layers.{2 * i + 1}.{j}.block.{conv}"] = (
                    f"{blocks}.{i + 1}.0.model.{j}.model.{conv}"
                )
        pairs[f"{ours}.layers.{2 * i + 2}"] = f"{blocks}.{i + 1}.1"
    pairs[f"{ours}.layers.{2 * down_t + 1}"] = f"{theirs}.out"
    return pairs


def _half_keys(theirs: str, ours: str, down_t: int, depth: int) -> dict[str, str]:
    """One Bailando `VQVAE` (`vqvae_up` or `vqvae_down`) -> our `BodyHalfVQVAE`, tensor names."""
    blocks = f"{theirs}.encoders.0.level_blocks.0.model"
    pairs = {}
    for i in range(down_t):
        pairs[f"{ours}.encoder.layers.{2 * i}"] = f"{blocks}.{i}.0"
        for j in range(depth):
            for conv in (1, 3):
                pairs[f"{ours}.encoder.layers.{2 * i + 1}.{j}.block.{conv}"] = (
                    f"{blocks}.{i}.1.model.{j}.model.{conv}"
                )
    pairs[f"{ours}.encoder.layers.{2 * down_t}"] = f"{blocks}.{down_t}"
    pairs.update(_decoder_keys(f"{theirs}.decoders.0", f"{ours}.decoder", down_t, depth))
    keys = _with_params(pairs)
    keys[f"{ours}.codebook.codes"] = f"{theirs}.bottleneck.level_blocks.0.k"
    return keys


def vqvae_key_map(down_t: int = 3, depth: int = 3) -> dict[str, str]:
    """Every tensor of `DanceVQVAE` -> its name in Bailando's `SepVQVAER` state dict."""
    keys = {
        **_half_keys(UPPER, "upper", down_t, depth),
        **_half_keys(LOWER, "lower", down_t, depth),
    }
    keys.update(_with_params(_decoder_keys(ROOT, "root_decoder", down_t, depth)))
    return keys


def _vqvae_sizes(state: Mapping[str, torch.Tensor], half: str) -> dict[str, int]:
    blocks = f"{half}.encoders.0.level_blocks.0.model"
    codes = state[f"{half}.bottleneck.level_blocks.0.k"]
    first = state[f"{blocks}.0.0.weight"]
    return {
        "codebook_size": codes.shape[0],
        "code_dim": codes.shape[1],
        "width": first.shape[0],
        "channels": first.shape[1],
        "down_t": _count(state, blocks + ".{}.0.weight"),
        "depth": _count(state, blocks + ".0.1.model.{}.model.1.weight"),
    }


def vqvae_config(checkpoint: BailandoCheckpoint, override: dict | None) -> DanceVQVAEConfig:
    """The `DanceVQVAEConfig` of a Bailando VQ-VAE: sizes from the weights, the rest from its config."""
    state, path = checkpoint.state, checkpoint.path
    if not any(k.startswith(f"{UPPER}.") for k in state):
        hint = " (it holds Bailando's GPT: pass it as --gpt)" if "gpt_base.pos_emb" in state else ""
        raise DataFileError(
            path,
            f"not a Bailando VQ-VAE: no {UPPER}.* keys (it has {_listing(sorted(state), 3)}){hint}",
        )
    try:
        up, down = _vqvae_sizes(state, UPPER), _vqvae_sizes(state, LOWER)
    except KeyError as exc:
        raise DataFileError(path, f"not a complete Bailando VQ-VAE: no {exc.args[0]}") from None
    config = DanceVQVAEConfig()  # the paper's: smpl24 and Bailando's loss weights
    skeleton = config.skeleton_def
    _require(
        path,
        "weights",
        [
            ("upper input channels", up["channels"], skeleton.upper_channels),
            ("lower input channels", down["channels"], skeleton.lower_channels),
            ("downs_t", up["down_t"], config.down_t),
            ("lower downs_t", down["down_t"], config.down_t),
        ]
        + [(f"lower {k}", down[k], up[k]) for k in ("codebook_size", "code_dim", "width", "depth")],
    )
    sizes = {k: up[k] for k in ("codebook_size", "code_dim", "width", "depth")}
    options: dict[str, Any] = {}
    structure = checkpoint.structure("structure", override)
    if structure is None:
        logger.info(
            "%s: no Bailando config saved in it or given (--config); assuming Bailando's "
            "dilation_growth_rate 3 and loss weights", path,
        )  # fmt: skip
    else:
        halves = [dict(structure.get(h) or {}) for h in ("up_half", "down_half")]
        for half in halves:
            _require(
                path,
                "VQ-VAE config",
                [
                    ("levels", half.get("levels", 1), 1),
                    ("downs_t", list(half.get("downs_t", [3])), [config.down_t]),
                    ("strides_t", list(half.get("strides_t", [2])), [2]),
                    ("m_conv", float(half.get("m_conv", 1.0)), 1.0),
                    ("hvqvae_multipliers", list(half.get("hvqvae_multipliers") or [1]), [1]),
                    ("dilation_cycle", half.get("dilation_cycle"), None),
                    ("vqvae_reverse_decoder_dilation", half.get("vqvae_reverse_decoder_dilation", True), True),
                    ("use_bottleneck", half.get("use_bottleneck", True), True),
                    ("joint_channel", half.get("joint_channel", 3), 3),
                    ("emb_width", half.get("emb_width", sizes["code_dim"]), sizes["code_dim"]),
                    ("l_bins", half.get("l_bins", sizes["codebook_size"]), sizes["codebook_size"]),
                    ("width", half.get("width", sizes["width"]), sizes["width"]),
                    ("depth", half.get("depth", sizes["depth"]), sizes["depth"]),
                ],
            )  # fmt: skip
        growth = {h.get("dilation_growth_rate", 3) for h in halves}
        if len(growth) != 1:
            raise DataFileError(
                path, f"its halves use different dilation_growth_rate {sorted(growth)}"
            )
        options["dilation_growth_rate"] = growth.pop()
        up_half = halves[0]
        for ours, theirs in (
            ("ema_decay", "l_mu"),
            ("commitment_weight", "commit"),
            ("velocity_weight", "vel"),
            ("acceleration_weight", "acc"),
        ):
            if theirs in up_half:
                options[ours] = float(up_half[theirs])
    return DanceVQVAEConfig(**sizes, **options)


def convert_vqvae(
    checkpoint: BailandoCheckpoint,
    root_checkpoint: BailandoCheckpoint | None = None,
    config: dict | None = None,
) -> DanceVQVAE:
    """A `DanceVQVAE` holding Bailando's VQ-VAE: step 2's `SepVQVAER`, or step 1's `SepVQVAE`
    plus the root decoder of a step-2 checkpoint (whose pose weights must equal step 1's)."""
    vqvae_config_ = vqvae_config(checkpoint, config)
    state = dict(checkpoint.state)
    consumed: set[str] = set()
    if root_checkpoint is not None:
        vqvae_config(root_checkpoint, config)  # the same kind of model
        root_keys = {k: v for k, v in root_checkpoint.state.items() if k.startswith(f"{ROOT}.")}
        if not root_keys:
            raise DataFileError(
                root_checkpoint.path, f"has no root decoder ({ROOT}.*): not a step-2 checkpoint"
            )
        differing = [
            k
            for k, v in root_checkpoint.state.items()
            if not k.startswith(f"{ROOT}.")
            and (k not in state or state[k].shape != v.shape or not torch.equal(state[k], v))
        ]
        if differing:
            raise DataFileError(
                root_checkpoint.path,
                f"its pose weights differ from {checkpoint.path.name}'s in {_listing(differing)}: "
                "they are not steps 1 and 2 of one Bailando run (pass the step-2 checkpoint alone "
                "as --vqvae)",
            )
        state.update(root_keys)
    if not any(k.startswith(f"{ROOT}.") for k in state):
        raise DataFileError(
            checkpoint.path,
            f"holds Bailando's step-1 VQ-VAE, which has no root decoder ({ROOT}.*); pass the "
            "step-2 checkpoint (sep_vqvae_root) as --vqvae or --vqvae_root",
        )
    with torch.device("meta"):
        model = DanceVQVAE(vqvae_config_)
    key_map = vqvae_key_map(vqvae_config_.down_t, vqvae_config_.depth)
    derived = {}
    for half in ("upper", "lower"):
        codes = state.get(key_map[f"{half}.codebook.codes"])
        if codes is None:
            continue  # reported by _fill as missing
        # Bailando's restore_k: EMA sums are the codes, counts are one
        derived[f"{half}.codebook.code_sum"] = codes.clone()
        derived[f"{half}.codebook.code_count"] = torch.ones(codes.shape[0])
        derived[f"{half}.codebook.initialized"] = torch.tensor(True)
    _fill(model, state, key_map, derived, consumed, "VQ-VAE", checkpoint.path)
    return model.eval()


# --- the GPT ------------------------------------------------------------------------------------------
def _block_keys(theirs: str, ours: str) -> dict[str, str]:
    pairs = {
        f"{ours}.ln_attn": f"{theirs}.ln1",
        f"{ours}.ln_mlp": f"{theirs}.ln2",
        f"{ours}.mlp.0": f"{theirs}.mlp.0",
        f"{ours}.mlp.2": f"{theirs}.mlp.2",
    }
    pairs.update(
        {f"{ours}.attn.{n}": f"{theirs}.attn.{n}" for n in ("query", "key", "value", "proj")}
    )
    return _with_params(pairs)


def policy_key_map(num_base: int = 6, num_head: int = 6) -> dict[str, str]:
    """Every tensor of `DancePolicy` (no value head) -> its name in Bailando's `CrossCondGPT2`."""
    keys = {
        "upper_embedding.weight": "gpt_base.tok_emb_up.weight",
        "lower_embedding.weight": "gpt_base.tok_emb_down.weight",
        "position_embedding.weight": "gpt_base.pos_emb",
        "upper_head.weight": "gpt_head.head_up.weight",
        "lower_head.weight": "gpt_head.head_down.weight",
    }
    keys.update(
        _with_params({"music_embedding": "gpt_base.cond_emb", "final_norm": "gpt_head.ln_f"})
    )
    for i in range(num_base):
        keys.update(_block_keys(f"gpt_base.blocks.{i}", f"blocks.{i}"))
    for i in range(num_head):
        keys.update(_block_keys(f"gpt_head.blocks.{i}", f"blocks.{num_base + i}"))
    return keys


def policy_config(checkpoint: BailandoCheckpoint, override: dict | None) -> DancePolicyConfig:
    """The `DancePolicyConfig` of a Bailando GPT: sizes from the weights, heads and dropout from its config."""
    state, path = checkpoint.state, checkpoint.path
    if "gpt_base.pos_emb" not in state:
        hint = (
            " (it holds Bailando's VQ-VAE: pass it as --vqvae)"
            if any(k.startswith(f"{UPPER}.") for k in state)
            else ""
        )
        raise DataFileError(
            path,
            f"not a Bailando GPT: no gpt_base.pos_emb (it has {_listing(sorted(state), 3)}){hint}",
        )
    try:
        upper, lower = state["gpt_base.tok_emb_up.weight"], state["gpt_base.tok_emb_down.weight"]
        music = state["gpt_base.cond_emb.weight"]
    except KeyError as exc:
        raise DataFileError(path, f"not a complete Bailando GPT: no {exc.args[0]}") from None
    positions = state["gpt_base.pos_emb"].shape[1]
    hidden = upper.shape[1]
    num_base = _count(state, "gpt_base.blocks.{}.ln1.weight")
    num_head = _count(state, "gpt_head.blocks.{}.ln1.weight")
    _require(
        path,
        "weights",
        [
            ("vocab_size_down", lower.shape[0], upper.shape[0]),
            ("pos_emb length divisible by 3 streams", positions % 3, 0),
            ("gpt_head blocks (at least one)", num_head > 0, True),
        ],
    )
    structure = checkpoint.structure("structure_generate", override) or {}
    base, head = dict(structure.get("base") or {}), dict(structure.get("head") or {})
    heads = {part.get("n_head") for part in (base, head) if part.get("n_head") is not None}
    if len(heads) > 1:
        raise DataFileError(path, f"its base and head use different n_head {sorted(heads)}")
    if heads:
        num_heads = heads.pop()
    elif hidden == 768:
        num_heads = 12
        logger.info("%s: no n_head in its config; assuming Bailando's 12 heads", path)
    else:
        raise DataFileError(
            path,
            "its config does not say n_head, which the weights cannot tell: pass Bailando's "
            "YAML with --config",
        )
    dropouts = {}
    for ours, theirs, parts in (
        ("embd_dropout", "embd_pdrop", (base,)),  # the head has no embedding
        ("resid_dropout", "resid_pdrop", (base, head)),
        ("attn_dropout", "attn_pdrop", (base, head)),
    ):
        values = {float(part[theirs]) for part in parts if theirs in part}
        if len(values) > 1:
            raise DataFileError(path, f"its base and head use different {theirs} {sorted(values)}")
        if values:
            dropouts[ours] = values.pop()
    return DancePolicyConfig(
        codebook_size=upper.shape[0],
        music_dim=music.shape[1],
        hidden_size=hidden,
        num_attention_heads=num_heads,
        num_hidden_layers=num_base + num_head,
        block_size=positions // 3,
        value_shared_layers=max(1, num_base),  # Bailando's critic reads the base's output
        vqvae_name_or_path=VQVAE_SUBFOLDER,
        **dropouts,
    )


def convert_policy(
    checkpoint: BailandoCheckpoint, config: dict | None = None, ignore_critic: bool = False
) -> DancePolicy:
    """A `DancePolicy` holding Bailando's cross-conditional GPT (`CrossCondGPT2`, or the actor
    of a `CrossCondGPT2AC` with `ignore_critic`)."""
    policy_config_ = policy_config(checkpoint, config)
    state, path = checkpoint.state, checkpoint.path
    num_base = _count(state, "gpt_base.blocks.{}.ln1.weight")
    num_head = policy_config_.num_hidden_layers - num_base
    block = policy_config_.block_size
    causal = torch.tril(torch.ones(block, block)).view(1, 1, block, block)
    consumed = set()
    for part, count in (("gpt_base", num_base), ("gpt_head", num_head)):
        for i in range(count):
            name = f"{part}.blocks.{i}.attn.mask"
            if name in state:
                if not torch.equal(state[name].float(), causal):
                    raise DataFileError(
                        path, f"{name} is not the causal mask of block size {block}"
                    )
                consumed.add(name)
    critic = sorted(k for k in state if k.startswith(CRITIC))
    if critic and not ignore_critic:
        raise DataFileError(
            path,
            f"is an actor-critic checkpoint: its critic ({_listing(critic, 3)}) has no counterpart "
            "in e3d2-hf, whose PPO trains its own value head; pass --ignore_critic to convert the actor",
        )
    consumed.update(critic)
    with torch.device("meta"):
        model = DancePolicy(policy_config_)
    positions = state["gpt_base.pos_emb"]  # (1, 3 x block, hidden), an nn.Parameter in Bailando
    sources = {**state, "gpt_base.pos_emb": positions.reshape(positions.shape[-2:])}
    _fill(model, sources, policy_key_map(num_base, num_head), {}, consumed, "policy", path)
    if critic:
        logger.info("%s: left out the critic's %d tensors (--ignore_critic)", path, len(critic))
    return model.eval()


# --- the command -------------------------------------------------------------------------------------
@dataclass
class ConvertedModels:
    """Where `convert_bailando` wrote the models."""

    vqvae_dir: Path
    policy_dir: Path


def convert_bailando(
    vqvae: str | os.PathLike,
    gpt: str | os.PathLike,
    output_dir: str | os.PathLike,
    vqvae_root: str | os.PathLike | None = None,
    config: str | os.PathLike | None = None,
    overwrite: bool = False,
    ignore_critic: bool = False,
    train_clips: str | os.PathLike | None = None,
    heldout_clips: str | os.PathLike | None = None,
) -> ConvertedModels:
    """Convert Bailando's VQ-VAE and GPT checkpoints into `output_dir/vqvae` and `output_dir/policy`
    (which carries its VQ-VAE, so `e3d2 dance song.mp3 --policy output_dir/policy` works).

    With `train_clips` and `heldout_clips` (clip datasets from `e3d2 prepare`)
    the policy folder also gets `tokens/{train,heldout}` encoded by the
    converted VQ-VAE, the layout of a pi_BC folder, so `e3d2 collect-demonstrations`
    and `e3d2 ppo` take it as their policy. Everything is read and checked
    before anything is written; a failure leaves nothing.
    """
    from .cards import render_model_card, save_card_info
    from .data.schema import load_clip_dataset
    from .models.folders import bundle_vqvae
    from .models.tokens import tokenize_clips

    output_dir = Path(output_dir)
    if output_dir.exists() and not overwrite:
        raise FileExistsError(f"{output_dir}: already exists (pass --overwrite to replace it)")
    if (train_clips is None) != (heldout_clips is None):
        raise ValueError("--train_clips and --heldout_clips go together (the tokens' two splits)")
    override = read_config(config)
    vqvae_checkpoint = read_checkpoint(vqvae)
    root_checkpoint = read_checkpoint(vqvae_root) if vqvae_root else None
    gpt_checkpoint = read_checkpoint(gpt)
    vqvae_model = convert_vqvae(vqvae_checkpoint, root_checkpoint, override)
    policy_model = convert_policy(gpt_checkpoint, override, ignore_critic)
    if policy_model.config.codebook_size != vqvae_model.config.codebook_size:
        raise DataFileError(
            gpt_checkpoint.path,
            f"its GPT predicts {policy_model.config.codebook_size} codes, but the VQ-VAE of "
            f"{vqvae_checkpoint.path.name} has {vqvae_model.config.codebook_size}",
        )
    tokens = {}
    if train_clips is not None and heldout_clips is not None:
        for split, clips in (("train", train_clips), ("heldout", heldout_clips)):
            tokens[split] = tokenize_clips(load_clip_dataset(clips), vqvae_model)
    sources = [c for c in (vqvae_checkpoint, root_checkpoint, gpt_checkpoint) if c is not None]
    record = {
        "converted_from": BAILANDO_URL,
        "checkpoints": [
            {"file": c.path.name, "sha256": c.sha256(), "epoch": c.epoch, "tensors": len(c.state)}
            for c in sources
        ],
        "config": Path(config).name if config else None,
        "tokens": {split: len(dataset) for split, dataset in tokens.items()},
    }
    provenance = (
        "**Converted from Bailando** ([Li et al., CVPR 2022](" + BAILANDO_URL + ")) by "
        "`e3d2 convert-bailando`, from "
        + ", ".join(
            f"`{c.path.name}` (epoch {c.epoch if c.epoch is not None else '?'})" for c in sources
        )
        + ". Bailando's code and released weights are under the "
        f"[NTU S-Lab License 1.0]({LICENSE_LINK}): non-commercial use only, keep its notice."
    )
    card_info = {
        "stage": "converted from Bailando",
        "source_dataset": "aistpp",
        "provenance": provenance,
        "license": "other",
        "license_name": LICENSE_NAME,
        "license_link": LICENSE_LINK,
    }
    with atomic_output_dir(
        output_dir, overwrite=overwrite, instead="choose another --output_dir"
    ) as tmp:
        vqvae_dir = claim_output_dir(tmp / "vqvae")
        vqvae_model.save_pretrained(vqvae_dir)
        policy_dir = claim_output_dir(tmp / "policy")
        policy_model.save_pretrained(policy_dir)
        for template, model, folder in (
            ("vqvae", vqvae_model, vqvae_dir),
            ("policy", policy_model, policy_dir),
        ):
            info = {**card_info, "model_name": f"bailando-{template}"}
            render_model_card(template, model, info).save(folder / "README.md")
            save_card_info(folder, template, info)
        bundle_vqvae(policy_dir, str(vqvae_dir))
        for split, dataset in tokens.items():
            dataset.save_to_disk(str(policy_dir / "tokens" / split))
        (tmp / CONVERSION_RECORD).write_text(json.dumps(record, indent=2))
        for folder in (vqvae_dir, policy_dir):
            (folder / CONVERSION_RECORD).write_text(json.dumps(record, indent=2))
    return ConvertedModels(output_dir / "vqvae", output_dir / "policy")
