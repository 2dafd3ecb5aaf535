"""Past one process: FSDP2 and DeepSpeed ZeRO give DDP's weights, an engine that would fall back
to DDP is refused, and two "machines" on this host train as one world."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from .conftest import REPO, TINY

ACCELERATE = Path(sys.executable).with_name("accelerate")
CONFIGS = REPO / "recipes" / "accelerate"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}

FSDP2_TOLERANCE = 1e-6
"""FSDP2 reduce-scatters gradients in another order than DDP's all-reduce: after two updates
the PPO weights differ by at most 4.4e-7 (the BC weights not at all) where they moved 2.1e-3."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sharded_results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("sharded")
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
         str(REPO / "tests" / "sharded_steps.py"), str(out)],
        env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("stage", ["bc", "ppo"])
@pytest.mark.parametrize("engine", ["fsdp2", "zero1", "zero2"])
def test_sharded_update_gives_ddp_weights_and_saves_them_whole(sharded_results, stage, engine):
    result = sharded_results[f"{stage}/{engine}"]
    assert result["world_size"] == 2
    assert result["moved_from_init"] > 1e-3  # the steps trained: equality is not trivial
    tolerance = FSDP2_TOLERANCE if engine == "fsdp2" else 0.0
    assert result["max_abs_diff_from_ddp"] <= tolerance, result
    assert result["round_trip_equal"], "the gathered state dict did not survive save_pretrained"


@pytest.mark.parametrize(
    ("config", "engine"), [("fsdp_cpu.yaml", "FSDP"), ("deepspeed_zero2.yaml", "DeepSpeed")]
)
def test_a_sharding_config_that_would_run_ddp_is_refused_in_one_line(config, engine, tmp_path):
    """accelerate turns FSDP/DeepSpeed on only on GPUs; here it would train unsharded."""
    if config == "fsdp_cpu.yaml":  # the shipped FSDP config, with use_cpu as a CPU user sets it
        text = (CONFIGS / "fsdp.yaml").read_text().replace("num_processes: 8", "num_processes: 2")
        (tmp_path / config).write_text(text + "use_cpu: true\n")
        path = tmp_path / config
    else:
        path = CONFIGS / config
    out = tmp_path / "bc"
    run = subprocess.run(
        [str(ACCELERATE), "launch", "--config_file", str(path), "--num_processes", "2",
         str(REPO / "recipes" / "bc.py"), "--config", str(TINY / "bc.yaml"),
         "--vqvae_name_or_path", str(tmp_path / "none"), "--output_dir", str(out)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if f"{engine} needs GPUs" in line]
    assert lines, run.stderr[-3000:]
    ours = [f'File "{REPO / folder}' for folder in ("e3d2_hf", "recipes")]
    assert not any(frame in run.stderr for frame in ours), run.stderr[-3000:]  # no traceback
    assert not out.exists()


def test_sharding_without_a_gpu_is_refused_by_the_arguments(monkeypatch, tmp_path):
    from e3d2_hf.training.bc_trainer import BCConfig
    from e3d2_hf.training.launch import ShardingUnavailableError, has_accelerator

    if has_accelerator():
        pytest.skip("this machine has a GPU: FSDP would really shard")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ShardingUnavailableError, match="FSDP needs GPUs"):
        BCConfig(output_dir=str(tmp_path / "a"))
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    with pytest.raises(ShardingUnavailableError, match="DeepSpeed needs GPUs"):
        BCConfig(output_dir=str(tmp_path / "b"), deepspeed={"zero_optimization": {"stage": 2}})
    assert BCConfig(output_dir=str(tmp_path / "c")).world_size == 1


def test_two_machines_train_as_one_world_with_one_node_ddp_weights(
    tiny_clips, tiny_vqvae, tmp_path
):
    """`accelerate launch --num_machines 2` on localhost: one world of 2, one log stream, one
    saved model, and the weights of the same run as one node with two ranks."""
    args = [
        str(REPO / "recipes" / "bc.py"), "--config", str(TINY / "bc.yaml"),
        "--prepared_dir", str(tiny_clips), "--vqvae_name_or_path", str(tiny_vqvae),
        "--max_steps", "6", "--logging_steps", "2", "--save_steps", "100",
        "--disable_tqdm", "true",
    ]  # fmt: skip
    base = [str(ACCELERATE), "launch", "--config_file", str(CONFIGS / "multi_cpu.yaml")]
    one = subprocess.run(
        [*base, *args, "--output_dir", str(tmp_path / "one-node")],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]

    port, two = str(free_port()), tmp_path / "two-machines"
    cluster = ["--num_machines", "2", "--num_processes", "2", "--main_process_ip", "127.0.0.1",
               "--main_process_port", port]  # fmt: skip
    machines = [
        subprocess.Popen(
            [*base, *cluster, "--machine_rank", str(rank), *args, "--output_dir", str(two)],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    logs = [m.communicate(timeout=600)[0] for m in machines]
    assert [m.returncode for m in machines] == [0, 0], logs[0][-2000:] + logs[1][-2000:]

    checkpoint = two / "checkpoint-6"  # one checkpoint, with both ranks' RNG states
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 6
    assert sorted(p.name for p in checkpoint.glob("rng_state_*")) == [
        "rng_state_0.pth", "rng_state_1.pth"
    ]  # fmt: skip
    assert (checkpoint / "checkpoint_complete.json").is_file()
    assert [p.name for p in two.glob("*.safetensors")] == ["model.safetensors"]
    assert logs[0].count("'loss'") == 3 and logs[1].count("'loss'") == 0, logs
    expected = load_file(tmp_path / "one-node" / "model.safetensors")
    got = load_file(two / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all((expected[k] == got[k]).all() for k in expected)
