"""Launched on two gloo ranks by tests/test_sharding.py (`torchrun --nproc_per_node 2`).

Runs the same two optimizer steps of behaviour cloning (the BC loss) and of PPO (the trainer's
own `minibatch_loss`) on a tiny policy under DDP, FSDP2 (`fully_shard`) and DeepSpeed ZeRO-1
and ZeRO-2, each rank on its own half of one batch. Rank 0 writes, per stage and engine, the
largest difference of the full weights from DDP's, and whether those weights round-trip through
`save_pretrained`/`from_pretrained` unchanged, to `OUT/results.json`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist

from e3d2_hf.models import DancePolicy, preset_config
from e3d2_hf.training.ppo_trainer import Episodes, minibatch_loss

BATCH, STEPS, OPTIMIZER_STEPS = 8, 6, 2
PPO_ARGS = SimpleNamespace(temperature=1.0, cliprange=0.2, cliprange_value=0.2, vf_coef=0.1,
                           ent_coef=0.01)  # fmt: skip
ENGINES = ("ddp", "fsdp2", "zero1", "zero2")


def make_policy(stage: str) -> DancePolicy:
    torch.manual_seed(0)
    config = preset_config("policy", "tiny", value_head=stage == "ppo")
    return DancePolicy(config)


def make_batch(stage: str, config) -> dict[str, torch.Tensor]:
    """One global batch (the same on every rank); each rank trains on its half."""
    g = torch.Generator().manual_seed(1)
    codes = lambda *shape: torch.randint(config.codebook_size, shape, generator=g)  # noqa: E731
    batch = {
        "music_features": torch.randn(BATCH, STEPS, config.music_dim, generator=g),
        "upper": codes(BATCH, STEPS),
        "lower": codes(BATCH, STEPS),
        "init_upper": codes(BATCH),
        "init_lower": codes(BATCH),
    }
    if stage == "ppo":
        batch.update(
            logp=-torch.rand(BATCH, STEPS, generator=g) * 7,
            advantages=torch.randn(BATCH, STEPS, generator=g),
            returns=torch.randn(BATCH, STEPS, generator=g),
            values=torch.randn(BATCH, STEPS, generator=g),
        )
    half = BATCH // dist.get_world_size()
    rank = dist.get_rank()
    return {k: v[rank * half : (rank + 1) * half] for k, v in batch.items()}


def loss_of(stage: str, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    if stage == "bc":
        upper_in = torch.cat([batch["init_upper"][:, None], batch["upper"][:, :-1]], 1)
        lower_in = torch.cat([batch["init_lower"][:, None], batch["lower"][:, :-1]], 1)
        return model(
            music_features=batch["music_features"], upper_ids=upper_in, lower_ids=lower_in,
            upper_labels=batch["upper"], lower_labels=batch["lower"],
        ).loss  # fmt: skip
    episodes = Episodes(
        music=batch["music_features"], init_upper=batch["init_upper"],
        init_lower=batch["init_lower"], upper=batch["upper"], lower=batch["lower"],
        logp=batch["logp"], ref_logp=batch["logp"], values=batch["values"], score=batch["returns"],
    )  # fmt: skip
    index = torch.arange(len(batch["upper"]))
    advantages, returns = batch["advantages"], batch["returns"]
    return minibatch_loss(model, episodes, index, advantages, returns, PPO_ARGS)[0]


def optimizer_for(model) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.5, 0.999), weight_decay=0.01)


def train(stage: str, engine: str) -> tuple[DancePolicy, dict[str, torch.Tensor]]:
    """(a fresh unwrapped policy, the full state dict on rank 0) after the update steps."""
    model = make_policy(stage)
    batch = make_batch(stage, model.config)
    if engine == "ddp":
        wrapped = torch.nn.parallel.DistributedDataParallel(model)
        optimizer = optimizer_for(wrapped)
        for _ in range(OPTIMIZER_STEPS):
            loss_of(stage, wrapped, batch).backward()
            optimizer.step()
            optimizer.zero_grad()
        return make_policy(stage), {k: v.detach().clone() for k, v in model.state_dict().items()}
    if engine == "fsdp2":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        from torch.distributed.fsdp import fully_shard

        for module in model.modules():
            if type(module).__name__ in model._no_split_modules:
                fully_shard(module)
        fully_shard(model)
        optimizer = optimizer_for(model)
        for _ in range(OPTIMIZER_STEPS):
            loss_of(stage, model, batch).backward()
            optimizer.step()
            optimizer.zero_grad()
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return make_policy(stage), get_model_state_dict(model, options=options)
    import deepspeed

    config = {
        "train_micro_batch_size_per_gpu": len(batch["upper"]),
        "gradient_accumulation_steps": 1,
        "zero_optimization": {"stage": int(engine[-1])},
        "zero_allow_untested_optimizer": True,
        "gradient_clipping": 0.0,  # DeepSpeed's default (1.0) would clip what DDP does not
        "steps_per_print": 10**9,
    }
    ds, *_ = deepspeed.initialize(model=model, optimizer=optimizer_for(model), config=config)
    for _ in range(OPTIMIZER_STEPS):
        ds.backward(loss_of(stage, ds, batch))
        ds.step()
    return make_policy(stage), {k: v.detach().clone() for k, v in ds.module.state_dict().items()}


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    rank0 = dist.get_rank() == 0
    results = {}
    for stage in ("bc", "ppo"):
        reference = None
        for engine in ENGINES:
            fresh, state = train(stage, engine)
            dist.barrier()
            if not rank0:
                continue
            if reference is None:
                reference = state
            fresh.load_state_dict(state, strict=True)
            folder = out / f"{stage}-{engine}"
            fresh.save_pretrained(folder)
            loaded = DancePolicy.from_pretrained(folder)
            results[f"{stage}/{engine}"] = {
                "max_abs_diff_from_ddp": max(
                    float((state[k].float() - reference[k].float()).abs().max()) for k in reference
                ),
                "moved_from_init": max(
                    float((state[k].float() - v.float()).abs().max())
                    for k, v in make_policy(stage).state_dict().items()
                ),
                "round_trip_equal": all(
                    torch.equal(v, state[k]) for k, v in loaded.state_dict().items()
                ),
                "world_size": dist.get_world_size(),
            }
    if rank0:
        (out / "results.json").write_text(json.dumps(results, indent=2))
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    main(Path(sys.argv[1]))
