"""Where a run trains: the accelerator, the distributed state, the sharding engine a launch
asks for (refused where accelerate would quietly run plain DDP) and the trackers it logs to."""

from __future__ import annotations

import torch
from transformers import TrainingArguments

from ..utils.errors import E3D2Error


def check_trackers(report_to: list[str] | None) -> None:
    """A tracker that is not installed is one clear line here, not a traceback from Trainer."""
    from transformers.integrations import (
        get_available_reporting_integrations,
        get_reporting_integration_callbacks,
    )

    available = set(get_available_reporting_integrations())
    for name in report_to or []:
        try:  # an unknown name is left to Trainer's own message
            known = name not in ("all", "none") and bool(
                get_reporting_integration_callbacks([name])
            )
        except ValueError:
            known = False
        if known and name not in available:
            raise ValueError(
                f"--report_to {name}: the {name} tracker's package is not installed; "
                f"installed trackers: {', '.join(sorted(available)) or 'none'} (or none)"
            )


class ShardingUnavailableError(E3D2Error, ValueError):
    """An FSDP or DeepSpeed run was asked for where accelerate would quietly run plain DDP."""


def sharding_engine(args: TrainingArguments) -> str | None:
    """The sharding engine (FSDP or DeepSpeed) that `accelerate launch`'s config or the
    arguments ask for, if any."""
    from accelerate.utils import parse_flag_from_env

    if args.fsdp or parse_flag_from_env("ACCELERATE_USE_FSDP"):
        return "FSDP"
    if args.deepspeed or parse_flag_from_env("ACCELERATE_USE_DEEPSPEED"):
        return "DeepSpeed"
    return None


def check_sharding_engine(args: TrainingArguments) -> None:
    """Refuse FSDP/DeepSpeed without an accelerator: accelerate turns both on only on GPUs
    (and XPUs, NPUs...) and otherwise trains with plain DDP, unsharded, and exits 0."""
    engine = sharding_engine(args)
    if engine and (args.use_cpu or not has_accelerator()):
        where = "--use_cpu" if args.use_cpu and has_accelerator() else "this machine has no GPU"
        instead = "trains with plain DDP" if engine == "FSDP" else "fails on a batch-size check"
        raise ShardingUnavailableError(
            f"{engine} needs GPUs ({where}): on CPUs accelerate does not shard, it {instead}; "
            "launch with recipes/accelerate/multi_cpu.yaml for DDP on CPUs"
        )


def has_accelerator() -> bool:
    """A CUDA, XPU or Apple MPS device is there to train on."""
    xpu = getattr(torch, "xpu", None)
    return bool(
        torch.cuda.is_available()
        or (xpu is not None and xpu.is_available())
        or torch.backends.mps.is_available()
    )


def distributed_state():
    """The process's `PartialState`, distributed over gloo when launched on CPU-only machines.

    accelerate treats `torchrun`/`accelerate launch` ranks as one process each
    unless told it is on the CPU; a Trainer does that itself, plain stages call this first.
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    on_cpu = not has_accelerator() or parse_flag_from_env("ACCELERATE_USE_CPU")
    return PartialState(cpu=on_cpu)
