"""Stage-1 trainers: losses fall, killed runs resume exactly, two DDP ranks agree, bad input fails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from e3d2_hf.recipes.bc import main as main_bc
from e3d2_hf.recipes.vqvae import main as main_vqvae
from transformers import TrainerCallback

from e3d2_hf.data.layout import MusicLayout
from e3d2_hf.data.schema import load_clip_dataset
from e3d2_hf.models import DancePolicy, DanceVQVAE, preset_config
from e3d2_hf.training import BCConfig, BCTrainer, TokenWindows, tokenize_clips
from e3d2_hf.utils.errors import DataFileError

from .conftest import TINY


def _argv(stage: str, clips: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--config",
        str(TINY / f"{stage}.yaml"),
        "--dataset",
        str(clips),
        "--output_dir",
        str(out),
        *extra,
    ]


def _logged_losses(output_dir: Path, step: int = 30) -> list[float]:
    state = json.loads((output_dir / f"checkpoint-{step}" / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def test_vqvae_loss_falls_and_model_loads(tiny_vqvae):
    losses = _logged_losses(tiny_vqvae)
    assert len(losses) >= 5 and losses[-1] < 0.8 * losses[0]
    model = DanceVQVAE.from_pretrained(tiny_vqvae)
    assert bool(model.upper.codebook.initialized)
    final = json.loads((tiny_vqvae / "final_results.json").read_text())
    assert final["eval_mpjpe_mm"] > 0 and 0 <= final["bas_reconstructed"] <= 1
    card = (tiny_vqvae / "README.md").read_text()
    assert "library_name: e3d2-hf" in card and "smpl24" in card and "eval_mpjpe_mm" in card


def _count_threaded_steps(monkeypatch) -> list[str]:
    """Each threaded VQ-VAE step appends the name of a thread that ran a half."""
    import threading

    steps, original = [], DanceVQVAE.forward_backward

    def counted(self, joints, map_halves, *args):
        names = map_halves(lambda _: threading.current_thread().name, (0, 1))
        steps.append(sorted(set(names))[0])
        return original(self, joints, map_halves, *args)

    monkeypatch.setattr(DanceVQVAE, "forward_backward", counted)
    return steps


def test_vqvae_halves_trained_apart_end_as_trained_together(tiny_clips, tmp_path, monkeypatch):
    """`parallel_body_halves` (the demo's) trains the same weights; thread counts are restored."""
    threaded_steps = _count_threaded_steps(monkeypatch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the threaded halves use one intra-op thread; so does this run
    try:
        main_vqvae(_argv("vqvae", tiny_clips, tmp_path / "together", "--max_steps", "12"))
    finally:
        torch.set_num_threads(threads)
    main_vqvae(
        _argv(
            "vqvae", tiny_clips, tmp_path / "apart", "--max_steps", "12",
            "--parallel_body_halves", "true",
        )
    )  # fmt: skip
    assert torch.get_num_threads() == threads
    assert len(threaded_steps) == 12 and threaded_steps[0].startswith("vqvae-half")
    together = DanceVQVAE.from_pretrained(tmp_path / "together").state_dict()
    apart = DanceVQVAE.from_pretrained(tmp_path / "apart").state_dict()
    assert together.keys() == apart.keys()
    for name, value in together.items():
        assert torch.equal(value, apart[name]), name
    assert _logged_losses(tmp_path / "apart", 10) == _logged_losses(tmp_path / "together", 10)


def test_vqvae_halves_train_together_where_threads_do_not_apply(
    tiny_clips, tmp_path, caplog, monkeypatch
):
    threaded_steps = _count_threaded_steps(monkeypatch)
    with caplog.at_level("WARNING", logger="e3d2_hf.training.vqvae_trainer"):
        main_vqvae(
            _argv(
                "vqvae", tiny_clips, tmp_path / "bf16", "--max_steps", "2", "--bf16", "true",
                "--parallel_body_halves", "true",
            )
        )  # fmt: skip
    assert "parallel_body_halves is for one CPU process in fp32" in caplog.text
    assert "mixed precision" in caplog.text and not threaded_steps
    assert (tmp_path / "bf16" / "model.safetensors").is_file()


def test_bc_loss_falls_and_reports_seen_and_unseen_accuracy(tiny_clips, tiny_vqvae, tmp_path):
    metrics = main_bc(
        _argv("bc", tiny_clips, tmp_path / "bc", "--vqvae_name_or_path", str(tiny_vqvae))
    )
    losses = _logged_losses(tmp_path / "bc")
    assert losses[-1] < 0.8 * losses[0]
    for split in ("seen", "unseen"):
        assert (
            0
            <= metrics[f"eval_{split}_accuracy_complete"]
            <= metrics[f"eval_{split}_accuracy_partial"]
            <= 1
        )
    policy = DancePolicy.from_pretrained(tmp_path / "bc")
    # the VQ-VAE travels with the policy, named relative to its folder (#14: paths that travel)
    assert policy.config.vqvae_name_or_path == "vqvae"
    bundled = tmp_path / "bc" / "vqvae" / "model.safetensors"
    assert bundled.read_bytes() == (tiny_vqvae / "model.safetensors").read_bytes()
    assert (tmp_path / "bc" / "tokens" / "train" / "dataset_info.json").exists()


def test_token_dataset_layout(tiny_tokens, tiny_clips):
    clips = load_clip_dataset(tiny_clips)
    row = tiny_tokens.with_format("numpy")[0]
    assert len(row["upper_ids"]) == len(row["lower_ids"]) == row["num_tokens"]
    assert np.asarray(row["music_tokens"]).shape == (row["num_tokens"], MusicLayout.DIM)
    assert row["num_tokens"] == min(clips[0]["num_frames"] // 8, len(clips[0]["music_tokens"]))


def test_token_windows_pair_code_i_with_music_i_plus_1(tiny_tokens):
    windows = TokenWindows(tiny_tokens, window_tokens=30, stride=1)
    item = windows[3]
    row, start = windows.index[3]
    source = tiny_tokens.with_format("numpy")[row]
    np.testing.assert_array_equal(
        item["upper_ids"].numpy(), source["upper_ids"][start : start + 29]
    )
    np.testing.assert_array_equal(
        item["upper_labels"].numpy(), source["upper_ids"][start + 1 : start + 30]
    )
    np.testing.assert_array_equal(
        item["music_features"].numpy(), np.asarray(source["music_tokens"])[start + 1 : start + 30]
    )


class _Crash(TrainerCallback):
    """Kills training after `at` steps, as a machine failure would."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt("simulated crash")


def _bc_trainer(tokens, out: Path, callbacks=()) -> BCTrainer:
    torch.manual_seed(0)
    model = DancePolicy(preset_config("policy", "tiny"))
    args = BCConfig(
        output_dir=str(out),
        max_steps=16,
        save_steps=8,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        lr_milestones=[1],
        report_to="none",
        logging_steps=4,
        disable_tqdm=True,
        window_stride=2,
    )
    return BCTrainer(
        model=model,
        args=args,
        train_dataset=TokenWindows(tokens, stride=2),
        callbacks=list(callbacks),
    )


def test_killed_run_resumes_to_the_uninterrupted_weights(tiny_tokens, tmp_path):
    reference = _bc_trainer(tiny_tokens, tmp_path / "straight")
    reference.train()
    crashed = _bc_trainer(tiny_tokens, tmp_path / "crashed", [_Crash(at=11)])
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    assert (tmp_path / "crashed" / "checkpoint-8").is_dir()
    assert not (tmp_path / "crashed" / "checkpoint-16").exists()
    resumed = _bc_trainer(tiny_tokens, tmp_path / "crashed")
    resumed.train(resume_from_checkpoint=True)
    for key, value in reference.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, atol=0, rtol=0)


def test_milestones_divide_the_learning_rate(tiny_tokens, tmp_path):
    trainer = _bc_trainer(tiny_tokens, tmp_path)
    trainer.create_optimizer_and_scheduler(num_training_steps=16)
    steps_per_epoch = len(trainer.get_train_dataloader())
    factors = [
        trainer.lr_scheduler.lr_lambdas[0](s) for s in (0, steps_per_epoch - 1, steps_per_epoch)
    ]
    assert factors == [1.0, 1.0, pytest.approx(0.1)]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(tokens_dir: str, out_dir: str) -> None:
    from accelerate import PartialState
    from datasets import load_from_disk

    state = PartialState()
    tokens = load_from_disk(tokens_dir)
    trainer = _bc_trainer(tokens, Path(out_dir))
    seen = sorted(int(i) for batch in trainer.get_train_dataloader() for i in batch["window_index"])
    trainer.train()
    weights = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    torch.save({"seen": seen, "weights": weights}, Path(out_dir) / f"rank{state.process_index}.pt")
    state.wait_for_everyone()
    # Leave without tearing gloo down: its shutdown can abort, or hang for good when the other
    # rank (the host of the rendezvous store) has already gone. The results are on disk.
    os._exit(0)


def test_two_ddp_ranks_end_identical_and_see_different_data(tiny_tokens, tmp_path):
    # accelerate's debug_launcher forks, and a fork of this process (its OpenMP pool has run the
    # fixtures' training) can hang in the child's first tensor op; fresh ranks are what a user runs
    from accelerate.utils import PrepareForLaunch, patch_environment
    from torch.multiprocessing import start_processes

    tiny_tokens.save_to_disk(str(tmp_path / "tokens"))
    with patch_environment(
        world_size=2, master_addr="127.0.0.1", master_port=str(_free_port()),
        accelerate_mixed_precision="no", accelerate_debug_rdv_file=str(tmp_path / "rendezvous"),
        accelerate_use_cpu="yes", gloo_socket_ifname="lo",
    ):  # fmt: skip
        start_processes(
            PrepareForLaunch(_ddp_worker, debug=True),
            args=(str(tmp_path / "tokens"), str(tmp_path / "run")),
            nprocs=2,
            start_method="spawn",
        )
    rank0 = torch.load(tmp_path / "run" / "rank0.pt")
    rank1 = torch.load(tmp_path / "run" / "rank1.pt")
    torch.testing.assert_close(rank0["weights"], rank1["weights"], atol=0, rtol=0)
    assert rank0["seen"] and rank1["seen"] and set(rank0["seen"]) != set(rank1["seen"])
    assert len(set(rank0["seen"]) & set(rank1["seen"])) < len(rank0["seen"]) // 2


# --- bad input -----------------------------------------------------------------------------


def test_unknown_config_key_names_the_file(tiny_clips, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text((TINY / "vqvae.yaml").read_text() + "learning_rte: 0.1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*learning_rte"):
        main_vqvae(
            [
                "--config",
                str(config),
                "--dataset",
                str(tiny_clips),
                "--output_dir",
                str(tmp_path / "o"),
            ]
        )


def test_dataset_of_the_wrong_schema_is_named(tiny_tokens, tmp_path):
    tiny_tokens.save_to_disk(str(tmp_path / "tokens"))
    with pytest.raises(DataFileError, match=r"tokens.*not a clip dataset"):
        main_vqvae(_argv("vqvae", tmp_path / "tokens", tmp_path / "o"))


def test_checkpoint_of_another_family_is_refused(tiny_clips, tiny_vqvae, tmp_path):
    with pytest.raises(
        ValueError, match="holds a 'e3d2_dance_vqvae' model.*needs a 'e3d2_dance_policy'"
    ):
        main_bc(
            _argv(
                "bc",
                tiny_clips,
                tmp_path / "bc",
                "--vqvae_name_or_path",
                str(tiny_vqvae),
                "--model_name_or_path",
                str(tiny_vqvae),
            )
        )


def test_finished_run_is_not_overwritten(tiny_clips, tiny_vqvae):
    with pytest.raises(FileExistsError, match="holds a finished run"):
        main_vqvae(_argv("vqvae", tiny_clips, tiny_vqvae))


def test_tokenizing_with_another_skeletons_vqvae_fails(tiny_clips):
    vqvae = DanceVQVAE(preset_config("vqvae", "tiny", skeleton="dance_with_melody23"))
    with pytest.raises(ValueError, match="smpl24.*dance_with_melody23"):
        tokenize_clips(load_clip_dataset(tiny_clips), vqvae)
