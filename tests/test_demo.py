"""`e3d2 demo`: every stage chained on a tiny synthetic set, the report, reuse of finished stages."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from e3d2_hf.demo import DemoOptions, run_demo
from e3d2_hf.utils.outputs import ForeignFolderError, record_files

from .conftest import REPO, TINY, side_by_side


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    run_demo(DemoOptions(output_dir=out, config_dir=TINY, report_to="none"))
    return out


def test_demo_writes_every_checkpoint_the_dataset_and_the_report(demo_dir):
    from transformers import AutoModel

    from e3d2_hf.preferences import load_preferences

    types = {
        name: AutoModel.from_pretrained(demo_dir / name).config.model_type
        for name in ("vqvae", "bc", "reward", "ppo", "ppo-bailando", "ppo-physical")
    }
    assert types == {
        "vqvae": "e3d2_dance_vqvae", "bc": "e3d2_dance_policy", "reward": "e3d2_dance_reward",
        "ppo": "e3d2_dance_policy", "ppo-bailando": "e3d2_dance_policy",
        "ppo-physical": "e3d2_dance_policy",
    }  # fmt: skip
    prefs, _ = load_preferences(demo_dir / "preferences")
    assert len(prefs["train"]) > 0 and len(prefs["test"]) > 0
    report = (demo_dir / "report.md").read_text()
    for row in (
        "| pi_BC |", "| pi_RL (learned reward) |", "| pi_RL (bailando reward) |",
        "| pi_RL (learned + foot_skating + jitter reward) |",
        "| pi_BC (KL-matched to pi_RL (learned + foot_skating + jitter reward)) |",
    ):  # fmt: skip
        assert row in report
    assert "mean u" in report and "chosen \\ rejected" in report
    # pi_BC's folder carries its VQ-VAE, so the reward stage decoded the demonstrations
    traits = json.loads((demo_dir / "reward" / "reward_report.json").read_text())["traits_by_noise"]
    assert len(traits) == 5 and all(t["joint_speed"] > 0 for t in traits.values())
    assert all(0 <= t["repeated_codes"] <= 1 for t in traits.values())
    assert "correlation of u with joint speed" in report and "u correlates" in report
    # and the ground truth's own episodes of pi_BC's songs, scored beside them
    truth = json.loads((demo_dir / "reward" / "reward_report.json").read_text())["ground_truth"]
    assert set(truth) == {"training songs", "held-out songs"}
    assert all(t["episodes"] > 0 and t["root_speed"] > 0 for t in truth.values())
    assert "| ground truth, held-out songs |" in report
    # and how often each policy keeps a code on held-out music
    ppo_rows = json.loads((demo_dir / "ppo" / "ppo_report.json").read_text())["rows"]
    assert all(0 <= r["eval_repeated_codes"] <= 1 for r in ppo_rows.values())
    assert f"pi_BC {ppo_rows['pi_BC']['eval_repeated_codes']:.0%}" in report
    for name in (
        "reward/reward_accuracy.png",
        "training_curves.png",
        "dances/ppo.mp4",
        "dances/bc.bvh",
    ):
        assert (demo_dir / name).is_file(), name
        assert name in report
    html = (demo_dir / "report.html").read_text()
    assert html.count("<video") == 4 and "<table>" in html and "training_curves.png" in html
    rows = json.loads((demo_dir / "ppo" / "ppo_report.json").read_text())["rows"]
    # one comparison table, a marker per metric: a claim only where the intervals part, with
    # its sentence; otherwise the cell says no difference was shown, and no sentence
    from e3d2_hf.evaluation.claims import interval

    rl, bc = rows["pi_RL (learned reward)"], rows["pi_BC"]
    a, b = interval(rl, "score"), interval(bc, "score")
    parted = a[0] > b[1] or a[1] < b[0]
    cells = comparison_cells(report, "pi_RL (learned reward) vs pi_BC")
    if parted:
        verb = "beats" if a[0] > b[1] else "is worse than"
        assert f"pi_RL (learned reward) {verb} pi_BC on reward-model score" in report
        assert cells["reward-model score ↑"] == ("▲ better" if a[0] > b[1] else "▼ worse")
    else:
        assert cells["reward-model score ↑"] == "· none shown"
        assert "No difference on reward-model score" not in report
    assert "BAS ↑" in cells
    # the physical diagnostics per policy beside the ground truth's, and the leaderboard JSON
    section = report.split("## Physical and motion diagnostics on held-out music")[1]
    for row in ("| ground truth |", "| pi_BC, raw |", "| pi_BC, cleaned |",
                "| pi_RL (learned reward), raw |", "| pi_RL (learned reward), cleaned |"):  # fmt: skip
        assert row in section.split("\n## ")[0]
    from .test_evaluation import check_leaderboard_schema

    results = json.loads((demo_dir / "results.json").read_text())
    check_leaderboard_schema(results)
    methods = [r["method"] for r in results["rows"]]
    assert methods[0] == "ground truth" and "pi_RL (bailando reward)" in methods
    assert results["protocol"]["clip_frames"] == 29 * 8


def test_rerun_reuses_finished_stages_and_redoes_an_unfinished_one(demo_dir, capsys):
    (demo_dir / "dances" / "dances.json").unlink()  # as if the run was killed while rendering
    stale = demo_dir / "dances" / "stale.txt"
    stale.write_text("left by the killed run")
    record_files(demo_dir / "dances", [stale])  # the killed run recorded what it wrote
    mine = demo_dir / "dances" / "mine.txt"
    mine.write_text("the user's own notes")
    before = (demo_dir / "bc" / "model.safetensors").stat().st_mtime_ns
    listing = sorted(p.name for p in (demo_dir / "dances").iterdir())
    # a file the toolkit did not write stops the redo of its stage, before anything changes
    with pytest.raises(ForeignFolderError, match="mine.txt"):
        run_demo(DemoOptions(output_dir=demo_dir, config_dir=TINY, report_to="none"))
    assert sorted(p.name for p in (demo_dir / "dances").iterdir()) == listing
    mine.unlink()
    run_demo(DemoOptions(output_dir=demo_dir, config_dir=TINY, report_to="none"))
    out = capsys.readouterr().out
    assert out.count("reusing") == 16 and "[demo 9/9] dances: running" in out
    assert (demo_dir / "bc" / "model.safetensors").stat().st_mtime_ns == before
    assert (demo_dir / "dances" / "dances.json").is_file() and not stale.exists()


def test_demo_refuses_unknown_data_and_names_a_missing_config(tmp_path):
    with pytest.raises(ValueError, match="--data must be one of"):
        DemoOptions(output_dir=tmp_path, data="mnist")
    with pytest.raises(FileNotFoundError, match="vqvae.yaml"):
        run_demo(DemoOptions(output_dir=tmp_path / "o", config_dir=tmp_path, report_to="none"))


def test_real_data_runs_the_same_stages_with_the_real_data_configs(tmp_path):
    from e3d2_hf.demo import CONFIG_ROOT, build_stages, stage_options

    options = DemoOptions(output_dir=tmp_path, data="dance-with-melody", report_to="none")
    assert options.config_dir == CONFIG_ROOT / "dwm"
    assert [s.name for s in build_stages(options)] == [
        s.name for s in build_stages(DemoOptions(output_dir=tmp_path))
    ]
    data, _, config = stage_options(
        options, "vqvae", output_dir=str(tmp_path / "vqvae"), dataset="dance-with-melody"
    )
    assert (data.dataset, config.output_dir) == ("dance-with-melody", str(tmp_path / "vqvae"))
    assert config.report_to == [] or config.report_to == "none"
    dwm = yaml.safe_load((CONFIG_ROOT / "dwm" / "vqvae.yaml").read_text())
    assert config.num_train_epochs == dwm["num_train_epochs"]
    args, _ = stage_options(options, "demonstrations", policy_name_or_path="bc")  # not a Trainer
    assert args.policy_name_or_path == "bc"


def test_the_demo_hands_its_floor_to_the_stages_that_read_the_prepared_pieces(
    tmp_path, monkeypatch
):
    from e3d2_hf import demo

    seen, real = {}, demo.recipe

    def capturing(stage: str) -> SimpleNamespace:
        def run(data, *_):
            seen[stage] = data

        return SimpleNamespace(ARGUMENTS=real(stage).ARGUMENTS, run=run)

    monkeypatch.setattr(demo, "recipe", capturing)
    options = DemoOptions(
        output_dir=tmp_path, data="dance-with-melody", floor="recorded", report_to="none"
    )
    for stage in demo.build_stages(options)[1:3]:  # the VQ-VAE and behaviour cloning
        stage.run()
    assert {stage: data.floor for stage, data in seen.items()} == {
        "vqvae": "recorded",
        "bc": "recorded",
    }


@pytest.mark.parametrize("stage", ["vqvae", "bc", "demonstrations", "reward", "ppo"])
@pytest.mark.parametrize("preset", ["tiny", "demo", "dwm", "paper"])
def test_the_demo_builds_each_stage_as_its_flags_would(stage, preset, tmp_path):
    """`e3d2 demo` hands the recipes typed configs; they equal what `--config FILE --key value`
    parses to (YAML 1.1 strings such as 3e-4 typed as argparse types them)."""
    from e3d2_hf.demo import CONFIG_ROOT, recipe
    from e3d2_hf.training.config_parser import parse_stage_args, stage_config

    config, out = CONFIG_ROOT / preset / f"{stage}.yaml", str(tmp_path / "out")
    arguments = recipe(stage).ARGUMENTS
    flags = parse_stage_args(
        arguments, ["--config", str(config), "--output_dir", out, "--seed", "3"]
    )
    typed = stage_config(arguments, config, output_dir=out, seed=3)
    for c in (*flags, *typed):  # the default run_name carries the clock's second
        if hasattr(c, "run_name"):
            c.run_name = "run"
    assert [dataclasses.asdict(c) for c in typed] == [dataclasses.asdict(c) for c in flags]
    assert all(c.seed == 3 for c in typed if hasattr(c, "seed"))


def test_a_typed_override_out_of_range_or_unknown_is_named(tmp_path):
    from e3d2_hf.demo import CONFIG_ROOT, recipe
    from e3d2_hf.training.config_parser import stage_config

    config = CONFIG_ROOT / "tiny" / "ppo.yaml"
    with pytest.raises(ValueError, match="unknown options no_such_option"):
        stage_config(recipe("ppo").ARGUMENTS, config, no_such_option=1)
    with pytest.raises(ValueError, match="^seed: must be at least 0"):
        stage_config(recipe("ppo").ARGUMENTS, config, seed=-1)


def python_blocks(markdown: str) -> list[str]:
    """The ```python code blocks of a markdown text."""
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.M | re.S)


def run_snippets(snippets: list[tuple[str, Path]]) -> list[subprocess.CompletedProcess]:
    """Each (code, working directory) in a fresh interpreter, two at a time."""

    def run(snippet: tuple[str, Path]) -> subprocess.CompletedProcess:
        code, cwd = snippet
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300
        )

    return side_by_side(run, snippets)


CARD_FOLDERS = ["vqvae", "bc", "reward", "ppo", "ppo-bailando", "preferences"]


@pytest.fixture(scope="module")
def card_snippets(demo_dir, tmp_path_factory) -> dict[str, list[tuple[str, Path, object]]]:
    """Every python block of every card, with the demo's folder put in for the placeholder,
    run from an empty directory of its own: {folder: [(code, directory, result)]}."""
    snippets = []
    for folder in CARD_FOLDERS:
        placeholder = "path/to/preferences" if folder == "preferences" else "path/to/model"
        cwd = tmp_path_factory.mktemp(f"card-{folder}")
        for block in python_blocks((demo_dir / folder / "README.md").read_text()):
            assert placeholder in block or str(demo_dir / folder) in block, (folder, block)
            snippets.append((folder, block.replace(placeholder, str(demo_dir / folder)), cwd))
    results = run_snippets([(code, cwd) for _, code, cwd in snippets])
    runs: dict[str, list] = {folder: [] for folder in CARD_FOLDERS}
    for (folder, code, cwd), result in zip(snippets, results, strict=True):
        runs[folder].append((code, cwd, result))
    return runs


@pytest.mark.parametrize("folder", CARD_FOLDERS)
def test_every_card_snippet_runs_as_written_from_another_directory(demo_dir, folder, card_snippets):
    card = (demo_dir / folder / "README.md").read_text()
    assert card.index("Install the toolkit first") < card.index("```python")
    assert card_snippets[folder], f"{folder}/README.md has no python snippet"
    for code, cwd, result in card_snippets[folder]:
        assert result.returncode == 0, (
            f"{folder}/README.md snippet failed:\n{code}\n{result.stderr}"
        )
        assert list(cwd.iterdir()) == []


def test_every_readme_snippet_runs_as_written_from_another_directory(demo_dir, tmp_path):
    """README paths point at the demo's outputs; the test's demo stands in for them."""
    readme = (REPO / "README.md").read_text()
    blocks = python_blocks(readme)
    assert len(blocks) >= 3
    codes = [
        block.replace('"outputs/demo/', f'"{demo_dir}/').replace(
            '"me/dance-reward"', f'"{demo_dir / "reward"}"'
        )
        for block in blocks
    ]
    for code, result in zip(codes, run_snippets([(code, tmp_path) for code in codes]), strict=True):
        assert result.returncode == 0, f"README snippet failed:\n{code}\n{result.stderr}"
    assert list(tmp_path.iterdir()) == []


def test_seeds_redo_the_stages_after_pi_bc_in_their_own_folders(tmp_path):
    from e3d2_hf.demo import build_stages

    stages = build_stages(DemoOptions(output_dir=tmp_path / "d", config_dir=TINY, seeds=3))
    names = [s.name for s in stages]
    assert names[:3] == ["data", "VQ-VAE", "behaviour cloning"] and names[-1] == "dances"
    assert len(stages) == 3 + 3 * 5 + 1  # per seed: demonstrations, reward model, 3 PPO runs
    outputs = [str(s.output.relative_to(tmp_path / "d")) for s in stages]
    assert "preferences" in outputs and "seeds/seed-2/ppo-bailando" in outputs
    assert "seeds/seed-2/ppo-physical" in outputs
    assert "reward model (seed 1)" in names
    with pytest.raises(ValueError, match="--seeds"):
        DemoOptions(output_dir=tmp_path, seeds=0)


def test_the_report_states_each_policys_spread_over_seeds_and_claims_by_pairs(tmp_path):
    from e3d2_hf.reports.demo import render_markdown, report_blocks

    def write(folder, score_bc, score_rl, fid_rl, accuracy):
        moves = {"eval_joint_speed": 0.8, "eval_root_relative_speed": 0.7,
                 "eval_pose_range": 0.3, "eval_root_travel": 0.8}  # fmt: skip
        rows = {
            "pi_BC": {
                "eval_score": score_bc, "eval_FID_k": 50.0, **moves, "eval_score_ref_logp_corr": 0.9
            },
            "pi_BC (temperature 0.8)": {"eval_score": score_rl + 5, "eval_FID_k": 50.0, **moves},
            "pi_RL (learned reward)": {
                "eval_score": score_rl, "eval_FID_k": fid_rl, **moves, "eval_joint_speed": 0.5
            },
        }  # fmt: skip
        truth = {"eval_joint_speed": 0.9, "eval_root_relative_speed": 0.75,
                 "eval_pose_range": 0.31, "eval_root_travel": 0.85}  # fmt: skip
        (folder / "ppo").mkdir(parents=True)
        spread = {"eval_joint_speed": [0.45, 1.3], "eval_root_travel": [0.6, 1.1]}
        report = {"rows": rows, "ground_truth": truth, "ground_truth_intervals": spread}
        (folder / "ppo" / "ppo_report.json").write_text(json.dumps(report | {"dance_pieces": 8}))
        (folder / "reward").mkdir()
        report = {"test_metrics": {"accuracy": accuracy}, "noise_levels": [],
                  "accuracy_per_epoch": [], "mean_u_by_noise": {}, "accuracy_by_noise_pair": []}  # fmt: skip
        (folder / "reward" / "reward_report.json").write_text(json.dumps(report))

    out = tmp_path / "demo"
    write(out, 10.0, 12.0, 49.0, 0.95)
    write(out / "seeds" / "seed-1", 10.2, 12.1, 52.0, 0.96)
    write(out / "seeds" / "seed-2", 9.9, 12.3, 50.5, 0.97)
    text = render_markdown(report_blocks(out, {}))
    assert "## Spread over 3 seeds" in text
    assert "score correlates 0.90 with pi_BC's log-likelihood" in text
    assert "| pi_RL (learned reward) | 12.13 ± 0.15 (3) |" in text
    assert "pi_RL (learned reward) beats pi_BC on reward-model score" in text
    cells = comparison_cells(
        text.split("## Spread over 3 seeds")[1], "pi_RL (learned reward) vs pi_BC"
    )
    assert cells["FID_k ↓"].startswith("· none shown") and "FID_k between" not in text
    assert cells["reward-model score ↑"].startswith("▲ better +")  # with the paired difference
    # pi_RL is also held against pi_BC sharpened by a lower temperature, which is held
    # against pi_BC; the two pi_BC rows are not held against each other twice
    assert "pi_RL (learned reward) is worse than pi_BC (temperature 0.8) on reward-model" in text
    assert "pi_BC (temperature 0.8) beats pi_BC on reward-model score" in text
    assert "pi_BC beats pi_BC (temperature 0.8)" not in text
    assert "| pi_BC vs pi_BC (temperature 0.8) |" not in text
    # the movement figures over the seeds, beside the ground truth's, and a verdict each
    assert "| ground truth (same music) | – |" in text and "| 0.9 |" in text
    assert "pi_BC moves within 30% of the ground truth on all four movement figures" in text
    assert (
        "pi_RL (learned reward), mean over the seeds: joint speed 0.5 is more than 30% below "
        "the ground truth's 0.9 (inside its 95% interval over the pieces, 0.45 to 1.3)." in text
    )
    assert "0.9600 ± 0.01 (each: 0.9500, 0.9600, 0.9700)" in text


def test_the_reports_say_why_each_n_a_is_undefined():
    from e3d2_hf.reports.ppo import ppo_report_markdown

    why = "the ground truth never varies in feature(s) #4 (move belly-chest-rwrist), ..."
    rows = {
        "pi_BC": {"eval_score": 1.0, "eval_FID_g": None, "eval_DIV_g": None, "eval_BAS": None,
                  "eval_undefined": {"FID_g": why, "DIV_g": why, "BAS": "no beats"}},
        "pi_RL (learned reward)": {"eval_score": 2.0, "eval_FID_g": 3.0},
    }  # fmt: skip
    text = ppo_report_markdown({"rows": rows})
    assert "| pi_BC | 1 | n/a |" in text
    assert f"FID_g, DIV_g of pi_BC n/a: {why}." in text and "BAS of pi_BC n/a: no beats." in text
    assert "of pi_RL (learned reward) n/a" not in text
    skeleton = {"FID_g": "SMPL-24 only", "DIV_g": "SMPL-24 only"}
    rows = {name: {"eval_FID_g": None, "eval_undefined": skeleton} for name in ("a", "b", "c")}
    rows["c"] = {"eval_FID_g": None, "eval_undefined": {"FID_g": "other"}}
    text = ppo_report_markdown({"rows": rows})
    assert "FID_g, DIV_g of a, b n/a: SMPL-24 only." in text and "FID_g of c n/a: other." in text
    rows["c"]["eval_undefined"] = skeleton
    assert "FID_g, DIV_g of every row n/a: SMPL-24 only." in ppo_report_markdown({"rows": rows})


@pytest.mark.parametrize(
    "corr, meaning",
    [
        (0.43, "favours held poses"),
        (-0.31, "favours changing codes"),
        (0.16, "hardly follows"),
        (0.05, "hardly follows"),
    ],
)
def test_the_repetition_sentence_reads_the_correlations_sign(corr, meaning):
    from e3d2_hf.reports.demo import _repetition_sentence

    by_noise = {
        "1.0": {"repeated_codes": 0.01, "score_repeated_codes_corr": 0.0},
        "0.02": {"repeated_codes": 0.48, "score_repeated_codes_corr": corr},
    }
    (block,) = _repetition_sentence({"traits_by_noise": by_noise})
    assert "ε=0.02 demonstrations" in block.text and "at 48% of steps" in block.text
    assert "the ε=1 ones, uniform random codes, at 1%" in block.text
    assert f"correlates {corr:+.2f}" in block.text and meaning in block.text
    # the data's own episodes at noise 0 are not pi_BC's least noisy rollouts
    truth = {"0.0": {"repeated_codes": 0.57, "score_repeated_codes_corr": -0.9}}
    report = {"traits_by_noise": {**by_noise, **truth}, "ground_truth_demonstrations": True}
    assert _repetition_sentence(report) == [block]
    (at_zero,) = _repetition_sentence({"traits_by_noise": {**by_noise, **truth}})
    assert "ε=0 demonstrations" in at_zero.text  # without the flag, 0 is a rollout level
    none = {"0.02": {"repeated_codes": 0.5, "score_repeated_codes_corr": None}, "1.0": {}}
    assert _repetition_sentence({"traits_by_noise": none}) == []


def test_the_ground_truth_sentence_names_only_the_moves_u_clearly_punishes():
    from e3d2_hf.reports.demo import _ground_truth_sentence

    held_out = {
        "score_repeated_codes_corr": 0.8,
        "score_joint_speed_corr": -0.35,
        "score_root_speed_corr": -0.23,
    }
    (block,) = _ground_truth_sentence({"held-out songs": held_out})
    assert "u correlates -0.35 with joint speed:" in block.text
    assert "root speed" not in block.text and "repeated" not in block.text
    weak = {**held_out, "score_joint_speed_corr": -0.2}
    assert _ground_truth_sentence({"held-out songs": weak}) == []
    assert _ground_truth_sentence({"training songs": held_out}) == []


def comparison_cells(report: str, pair: str) -> dict[str, str]:
    """{metric heading: cell} of the first comparison table's row for `pair` in a report."""
    lines = report.splitlines()
    header = next(r for r in lines if r.startswith("| comparison |"))
    row = next(r for r in lines if r.startswith(f"| {pair} |"))
    return dict(zip(*(r.strip("| ").split(" | ") for r in (header, row)), strict=True))


def _tiny_experiment(tmp_path: Path, pipeline: Path, estimators: tuple = ("gae", "grpo")) -> Path:
    """A plan beside the tiny stage configs: two reward models x (learned, Bailando) x
    `estimators` (default GAE, GRPO), two seeds."""
    import shutil

    configs = tmp_path / "configs"
    shutil.copytree(TINY, configs)
    plan = {
        "pipeline": str(pipeline),
        "seeds": 2,
        "reward_models": {
            "paper": {},
            "corrupted": {"ground_truth_demonstrations": True, "corruptions": ["frozen", "reversed"]},
        },
        "rewards": {"learned": {"reward_funcs": ["learned"]}, "bailando": {"reward_funcs": ["bailando"]}},
        "estimators": {
            name: overrides
            for name, overrides in (
                ("gae", {}), ("grpo", {"advantage_estimator": "grpo", "num_generations": 2})
            )
            if name in estimators
        },
        "ppo": {"num_train_epochs": 2},
    }  # fmt: skip
    (configs / "experiment.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return configs / "experiment.yaml"


def test_the_experiment_crosses_reward_models_rewards_and_estimators(tmp_path):
    from e3d2_hf.experiment import ExperimentOptions, Plan, build_experiment_stages

    config = _tiny_experiment(tmp_path, tmp_path / "missing")
    plan = Plan.from_yaml(config)
    assert [r.name for r in plan.runs()] == [
        "paper-learned-gae", "paper-learned-grpo", "corrupted-learned-gae",
        "corrupted-learned-grpo", "bailando-gae", "bailando-grpo",
    ]  # fmt: skip
    run = plan.runs()[3]
    assert run.reward_model == "corrupted" and run.overrides == {
        "num_train_epochs": 2, "reward_funcs": ["learned"], "advantage_estimator": "grpo",
        "num_generations": 2,
    }  # fmt: skip
    assert [r.name for r in plan.runs(["*-grpo", "paper-learned-gae"])] == [
        "paper-learned-gae", "paper-learned-grpo", "corrupted-learned-grpo", "bailando-grpo"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="--runs nope matches none of"):
        plan.runs(["nope"])
    options = ExperimentOptions(config=config, output_dir=tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="missing/bc: not found"):
        build_experiment_stages(options, plan)
    # a part of the plan needs only the reward models its runs use
    for folder in ("bc", "vqvae"):
        (tmp_path / "missing" / folder).mkdir(parents=True)
    part = ExperimentOptions(config=config, output_dir=tmp_path / "x", runs=["bailando-*"])
    names = [s.name for s in build_experiment_stages(part, plan)]
    assert names == [
        "ranked demonstrations (paper)", "reward model (paper)",  # bailando's held-out score
        "PPO bailando-gae (seed 0)", "PPO bailando-grpo (seed 0)",
        "PPO bailando-gae (seed 1)", "PPO bailando-grpo (seed 1)",
    ]  # fmt: skip
    (config.parent / "bad.yaml").write_text("rewards: {a: {}}\nestimators: {b: {}}\nextra: 1\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown keys \['extra'\]"):
        Plan.from_yaml(config.parent / "bad.yaml", options)


def test_the_experiment_runs_its_configurations_and_reports_paired_differences(demo_dir, tmp_path):
    from e3d2_hf.experiment import ExperimentOptions, run_experiment

    out = tmp_path / "x"
    config = _tiny_experiment(tmp_path, demo_dir, estimators=("gae",))  # GRPO: test_ppo.py
    part = ["corrupted-*", "bailando-gae"]  # paper-learned-gae left out: two seeds of two runs
    report = run_experiment(ExperimentOptions(config=config, output_dir=out, runs=part))
    text = report.read_text()
    results = json.loads((out / "results.json").read_text())["runs"]
    assert sorted(results) == ["bailando-gae", "corrupted-learned-gae"]
    assert "Not run yet (no seed finished): paper-learned-gae." in text
    for name, run in results.items():
        assert run["seeds"] == 2
        assert run["pi_RL"]["kl"] > 0 and run["pi_BC"]["kl"] == 0
        # the KL-matched pi_BC is as far from pi_BC as pi_RL is
        assert run["kl_matched_pi_BC"]["kl"] == pytest.approx(run["pi_RL"]["kl"], rel=0.1)
        # paired differences with their t-intervals, against both baselines
        assert set(run["vs_kl_matched"]) >= {"score", "FID_k", "jitter"}, name
        assert re.fullmatch(
            r"[+-][\d.e+-]+ \[[+-][\d.e+-]+, [+-][\d.e+-]+\]", run["vs_pi_BC"]["FID_k"]
        )
        assert f"**{name}**: " in text
    # the corrupted variant learned from pairs of each kind, and says how it ranks each; the
    # paper's scores the Bailando run's held-out episodes
    corrupted = json.loads(
        (out / "reward-models" / "corrupted" / "reward" / "reward_report.json").read_text()
    )
    assert set(corrupted["accuracy_by_kind"]) >= {"frozen", "reversed"}
    assert "| corrupted |" in text and "| paper | " in text
    assert (
        "## Paired differences" in text and "| corrupted-learned-gae vs KL-matched pi_BC |" in text
    )
    assert (out / "curves.png").is_file() or "curves.png" not in text
    # a second call reuses every finished stage
    timings = json.loads((out / "timings.json").read_text())
    assert len(timings) == 4 + 4
    again = run_experiment(ExperimentOptions(config=config, output_dir=out, runs=part))
    assert again == report and json.loads((out / "timings.json").read_text()) == timings


def test_a_run_passes_only_on_two_gains_one_beyond_its_reward_none_worse_and_movement_kept():
    from e3d2_hf.evaluation.claims import Verdict
    from e3d2_hf.evaluation.metrics import METRICS
    from e3d2_hf.reports.experiment import acceptance

    def verdicts(**outcomes):
        return [Verdict(METRICS[m], o, "", "seeds") for m, o in outcomes.items()]

    passed, why = acceptance(
        verdicts(jitter="better", FID_k="better", BAS="none"), ("learned", "jitter"), []
    )
    assert passed and "not its reward's terms: FID_k" in why
    passed, why = acceptance(
        verdicts(jitter="better", foot_skating="better"), ("learned", "jitter", "foot_skating"), []
    )
    assert not passed and "every gain is a term of its own reward" in why
    passed, why = acceptance(
        verdicts(jitter="better", FID_k="better", DIV_k="worse"), ("learned",), []
    )
    assert not passed and "worse on DIV_k" in why
    passed, why = acceptance(
        verdicts(jitter="better", FID_k="better"), ("learned",), ["joint speed too slow"]
    )
    assert not passed and "joint speed too slow" in why
    passed, why = acceptance(verdicts(BAS="better", score="better"), ("bailando",), [])
    assert not passed and "better on 1 (BAS), not 2" in why
    assert acceptance([], ("learned",), []) == (False, "fewer than two seeds to pair")


def test_every_run_of_the_shipped_plan_is_a_valid_stage_config(tmp_path):
    """The shipped plan's overrides parse as the recipes' typed configs, run by run."""
    from e3d2_hf.demo import CONFIG_ROOT, stage_options
    from e3d2_hf.experiment import ExperimentOptions, Plan, build_experiment_stages

    pipeline = tmp_path / "dwm-demo"
    for folder in ("bc", "vqvae"):
        (pipeline / folder).mkdir(parents=True)
    config = CONFIG_ROOT / "dwm" / "experiment.yaml"
    options = ExperimentOptions(config=config, output_dir=tmp_path / "x", pipeline_dir=pipeline)
    plan = Plan.from_yaml(config, options)
    runs = plan.runs()
    assert plan.seeds >= 3 and len(runs) == 14  # 2 reward models x 3 learned rewards x 2 + 2
    assert len(build_experiment_stages(options, plan)) == 2 * 2 + plan.seeds * len(runs)
    for variant, overrides in plan.reward_models.items():
        args = stage_options(options, "demonstrations", policy_name_or_path="bc", **overrides)[1]
        assert args.ground_truth_demonstrations == (variant != "paper")
    for run in runs:
        values = {**run.overrides, "policy_name_or_path": "bc", "reward_model_name_or_path": "r"}
        ppo = stage_options(options, "ppo", **values)[0]
        assert ppo.reward_funcs == run.overrides["reward_funcs"]
        assert ppo.reference_temperatures == []
