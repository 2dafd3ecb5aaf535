"""Bailando's checkpoints convert with output parity to Bailando's own code.

`tests/fixtures/bailando/` holds checkpoints saved by Bailando's modules at small
sizes and what those modules computed from them (see its README). Every
conversion below runs `e3d2 convert-bailando` in a fresh interpreter, as a user
types it, and the converted folders are loaded with `from_pretrained`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from .conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "bailando"
STEP1 = FIXTURES / "sep_vqvae_epoch_5.pt"
STEP2 = FIXTURES / "sep_vqvae_root_epoch_1.pt"
GPT = FIXTURES / "cc_motion_gpt_epoch_3.pt"
E3D2 = "import sys; from e3d2_hf.cli import main; sys.exit(main(sys.argv[1:]))"


def e3d2(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", E3D2, *map(str, argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def convert(out: Path, *extra: str | Path, vqvae: Path = STEP1, gpt: Path = GPT, cwd: Path):
    return e3d2("convert-bailando", "--vqvae", vqvae, "--gpt", gpt, "--output-dir", out, *extra,
                cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """Step 1 + the root decoder of step 2 + the GPT, as the README's command."""
    cwd = tmp_path_factory.mktemp("convert")
    result = convert(cwd / "bailando", "--vqvae-root", STEP2, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "bailando"


@pytest.fixture(scope="module")
def parity() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "parity.npz", allow_pickle=False) as npz:
        return dict(npz)


def _models(folder: Path):
    from transformers import AutoModel

    import e3d2_hf  # noqa: F401  (registers the model types)

    policy = AutoModel.from_pretrained(folder / "policy").eval()
    vqvae = AutoModel.from_pretrained(folder / "policy" / "vqvae").eval()
    return policy, vqvae


def test_codes_and_joints_equal_bailandos(converted, parity):
    _, vqvae = _models(converted)
    upper, lower = vqvae.encode(torch.from_numpy(parity["joints"]))
    assert torch.equal(upper, torch.from_numpy(parity["upper_ids"]))
    assert torch.equal(lower, torch.from_numpy(parity["lower_ids"]))
    assert len(np.unique(parity["upper_ids"])) > 3  # codebooks that are not trivial
    joints = vqvae.decode(upper, lower)
    expected = torch.from_numpy(parity["decoded_absolute"])
    assert joints.shape == expected.shape
    assert (joints - expected).abs().max() < 1e-5
    assert expected[:, :, :3].abs().max() > 0.1  # the root moves: the root decoder is exercised


@pytest.mark.parametrize("steps", [29, 10])
def test_logits_of_both_streams_equal_bailandos(converted, parity, steps):
    policy, _ = _models(converted)
    with torch.no_grad():
        out = policy(
            torch.from_numpy(parity[f"logits{steps}_music"]),
            torch.from_numpy(parity[f"logits{steps}_upper_ids"]),
            torch.from_numpy(parity[f"logits{steps}_lower_ids"]),
        )
    for half in ("upper", "lower"):
        expected = torch.from_numpy(parity[f"logits{steps}_{half}"])
        got = getattr(out, f"{half}_logits")
        assert got.shape == expected.shape == (2, steps, policy.config.codebook_size)
        assert (got - expected).abs().max() < 1e-5


def test_greedy_sample_equals_bailandos_token_for_token(converted, parity):
    policy, _ = _models(converted)
    music = torch.from_numpy(parity["sample_music"])
    assert music.shape[1] >= 40 > policy.sample_context  # the sliding window is exercised
    upper, lower = policy.sample_dance(
        music,
        torch.from_numpy(parity["sample_init_upper"]),
        torch.from_numpy(parity["sample_init_lower"]),
        greedy=True,
    )
    assert torch.equal(upper, torch.from_numpy(parity["sample_upper"]))
    assert torch.equal(lower, torch.from_numpy(parity["sample_lower"]))


def test_the_step_2_checkpoint_alone_gives_the_same_models(converted, tmp_path):
    from safetensors.torch import load_file

    assert convert(tmp_path / "alone", vqvae=STEP2, cwd=tmp_path).returncode == 0
    for part in ("vqvae", "policy"):
        a = load_file(converted / part / "model.safetensors")
        b = load_file(tmp_path / "alone" / part / "model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_folders_carry_provenance_licence_and_the_vqvae(converted):
    card = (converted / "policy" / "README.md").read_text()
    assert "license: other" in card and "s-lab-license-1.0" in card
    assert "Converted from Bailando" in card and GPT.name in card
    record = json.loads((converted / "conversion.json").read_text())
    assert [c["file"] for c in record["checkpoints"]] == [STEP1.name, STEP2.name, GPT.name]
    assert record["checkpoints"][2]["epoch"] == 3
    config = json.loads((converted / "policy" / "config.json").read_text())
    assert config["vqvae_name_or_path"] == "vqvae"
    assert (converted / "policy" / "vqvae" / "model.safetensors").is_file()


@pytest.mark.parametrize("folder", ["vqvae", "policy"])
def test_the_converted_cards_snippets_run_as_written(converted, folder, tmp_path):
    from .test_demo import python_blocks

    blocks = python_blocks((converted / folder / "README.md").read_text())
    assert blocks
    for block in blocks:
        code = block.replace("path/to/model", str(converted / folder))
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=tmp_path, timeout=300)  # fmt: skip
        assert result.returncode == 0, f"{folder} card snippet failed:\n{code}\n{result.stderr}"


def test_a_converted_policy_dances_at_once(converted, tmp_path, tiny_clips):
    from e3d2_hf.data.schema import load_clip_dataset

    song = load_clip_dataset(tiny_clips)[0]["music_path"]
    result = e3d2("dance", song, "--policy", converted / "policy", "--duration", "5",
                  "--formats", "npz", "--output-dir", tmp_path / "d", "--name", "x",
                  cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "d" / "x.npz", allow_pickle=False) as npz:
        assert npz["joints"].shape == (300, 24, 3)
        assert len(npz["upper_ids"]) > 29  # past the first window


def test_a_converted_policy_with_tokens_collects_demonstrations(tmp_path, tiny_clips):
    from .conftest import TINY

    out = tmp_path / "bailando"
    result = convert(out, "--train-clips", tiny_clips, "--heldout-clips", tiny_clips,
                     vqvae=STEP2, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "conversion.json").read_text())["tokens"] == {"train": 4, "heldout": 4}
    demonstrations = e3d2("collect-demonstrations", "--config", TINY / "demonstrations.yaml", "--policy_name_or_path",
                 out / "policy", "--output_dir", tmp_path / "prefs", cwd=tmp_path)  # fmt: skip
    assert demonstrations.returncode == 0, demonstrations.stderr
    assert (tmp_path / "prefs" / "demonstrations.json").is_file()


def test_paper_preset_has_bailandos_parameter_counts():
    """Counted from Bailando's own modules at its configs (fixtures README)."""
    from e3d2_hf.models import count_parameters, preset_config

    counted = json.loads((FIXTURES / "facts.json").read_text())["paper_parameters"]
    assert count_parameters(preset_config("vqvae", "paper")) == counted["vqvae_total"]
    assert count_parameters(preset_config("policy", "paper")) == counted["gpt_total"]


# --- what is refused: one line, exit 2, nothing written ----------------------------------------


def _load_fixture(path: Path) -> dict:
    from e3d2_hf.convert_bailando import read_checkpoint

    checkpoint = read_checkpoint(path)
    return {"model": OrderedDict(("module." + k, v) for k, v in checkpoint.state.items()),
            "config": checkpoint.config, "epoch": checkpoint.epoch}  # fmt: skip


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path("ran.txt"),))


def _pickled_code(path: Path) -> None:
    torch.save({"model": {"w": torch.zeros(1)}, "config": _Boom()}, path)


def _truncated(path: Path) -> None:
    path.write_bytes(GPT.read_bytes()[:5000])


def _extra_tensor(path: Path) -> None:
    raw = _load_fixture(STEP2)
    raw["model"]["module.vqvae_up.bottleneck.level_blocks.0.k_sum"] = torch.zeros(24, 12)
    torch.save(raw, path)


def _missing_tensor(path: Path) -> None:
    raw = _load_fixture(STEP2)
    del raw["model"]["module.vqvae_down.decoders_root.0.out.bias"]
    torch.save(raw, path)


def _critic(path: Path) -> None:
    raw = _load_fixture(GPT)
    raw["model"]["module.critic_net.ln_f.weight"] = torch.ones(32)
    torch.save(raw, path)


def _other_run(path: Path) -> None:
    raw = _load_fixture(STEP2)
    raw["model"]["module.vqvae_up.decoders.0.out.bias"] += 1.0
    torch.save(raw, path)


REFUSED = {
    "pickled code": (_pickled_code, "gpt", "not a tensor-only checkpoint (Unsupported global"),
    "truncated file": (_truncated, "gpt", "not a readable torch checkpoint"),
    "a GPT given as the VQ-VAE": (None, "vqvae=gpt", "pass it as --gpt"),
    "step 1 without a root decoder": (None, "step1 alone", "no root decoder"),
    "a tensor left over": (_extra_tensor, "vqvae", "vqvae_up.bottleneck.level_blocks.0.k_sum"),
    "a tensor missing": (_missing_tensor, "vqvae", "vqvae_down.decoders_root.0.out.bias"),
    "an actor-critic's critic": (_critic, "gpt", "--ignore_critic"),
    "steps 1 and 2 of different runs": (_other_run, "root", "not steps 1 and 2 of one"),
}


def _refuse(case: str, folder: Path) -> tuple[subprocess.CompletedProcess, list[str], list[str]]:
    """Run one REFUSED case in `folder`: the result, and the folder's names before and after."""
    make, role, _ = REFUSED[case]
    bad = folder / "bad.pt"
    if make is not None:
        make(bad)
    vqvae, gpt, extra = STEP1, GPT, ["--vqvae-root", STEP2]
    if role == "gpt":
        gpt = bad
    elif role == "vqvae":
        vqvae, extra = bad, []
    elif role == "root":
        extra = ["--vqvae-root", bad]
    elif role == "vqvae=gpt":
        vqvae = GPT
    elif role == "step1 alone":
        extra = []
    before = sorted(p.name for p in folder.iterdir())
    result = convert(folder / "out", *extra, vqvae=vqvae, gpt=gpt, cwd=folder)
    return result, before, sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def refusals(tmp_path_factory) -> dict:
    """Every REFUSED case, each in a fresh interpreter and its own folder, three at a time."""
    folders = {case: tmp_path_factory.mktemp("refused") for case in REFUSED}
    with ThreadPoolExecutor(3) as pool:
        futures = {case: pool.submit(_refuse, case, folders[case]) for case in REFUSED}
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_checkpoints_are_refused_in_one_line_and_nothing_is_written(case, refusals):
    result, before, after = refusals[case]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert REFUSED[case][2] in lines[0] and "e3d2 convert-bailando: error:" in lines[0]
    assert after == before  # no output folder, and no ran.txt from the pickled code


def test_the_critic_is_left_out_when_asked(tmp_path):
    _critic(tmp_path / "ac.pt")
    result = convert(tmp_path / "out", "--ignore-critic", vqvae=STEP2, gpt=tmp_path / "ac.pt",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "left out the critic's 1 tensors" in result.stderr


def test_an_earlier_conversion_is_replaced_only_with_overwrite(converted, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(converted, out)
    again = convert(out, vqvae=STEP2, cwd=tmp_path)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert convert(out, "--overwrite", vqvae=STEP2, cwd=tmp_path).returncode == 0
    assert json.loads((out / "conversion.json").read_text())["checkpoints"][0]["file"] == STEP2.name
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("the user's")
    refused = convert(mine, "--overwrite", vqvae=STEP2, cwd=tmp_path)
    assert refused.returncode == 2 and "did not write" in refused.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["keep.txt"]
    assert (mine / "keep.txt").read_text() == "the user's"


def test_checkpoints_load_from_several_threads_at_once():
    """torch's safe-globals allow-list is process-wide: without a lock, one thread leaving its
    `safe_globals` block refused another thread's EasyDict config (200 loads on 4 threads
    failed within the first few before the lock)."""
    from e3d2_hf.convert_bailando import read_checkpoint

    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: read_checkpoint(STEP2), range(200)))
    assert len(loaded) == 200 and all(c.config == loaded[0].config for c in loaded)
