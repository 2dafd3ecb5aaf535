"""One flag style across `e3d2`: underscores documented (as the trainers and YAML keys), dashes
accepted; every command's flags come from its dataclass."""

from __future__ import annotations

import dataclasses

import pytest

from e3d2_hf.cli import COMMANDS, STAGES, command_module, command_parser, main


def test_every_multi_word_flag_takes_both_spellings_underscore_first():
    checked = 0
    for name in COMMANDS:
        for action in command_parser(name)._actions:
            long = [o for o in action.option_strings if o.startswith("--")]
            words = [o for o in long if "_" in o or "-" in o[2:]]
            if not words:
                continue
            checked += 1
            first = long[0]
            assert "-" not in first[2:], (name, long)  # documented spelling: underscores
            assert first.replace("_", "-") in long, (name, long)
    assert checked >= 20


def test_both_spellings_parse_to_the_same_value():
    parser = command_parser("dance")
    dashed = parser.parse_args(["song.wav", "--policy", "p", "--output-dir", "x"])
    underscored = parser.parse_args(["song.wav", "--policy", "p", "--output_dir", "x"])
    assert dashed.output_dir == underscored.output_dir == "x"


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_one_flag_per_field_of_its_dataclass(name):
    """The dataclass is the one definition: no flag without a field, no field without a flag."""
    parser = command_parser(name)
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    fields = {f.name for f in dataclasses.fields(command_module(name).Arguments) if f.init}
    assert dests == fields
    help_text = parser.format_help()
    assert "--output-dir" not in help_text and "(default: None)" not in help_text


def test_help_documents_one_spelling_and_groups_a_trainer_apart(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ppo", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    groups = [line for line in text.splitlines() if line.endswith("):") and "(" in line]
    assert groups[:2] == [
        "PPOArguments (e3d2_hf.recipes.ppo):",
        "PPOConfig (e3d2_hf.training.ppo_trainer):",
    ]
    assert "TrainingArguments (transformers.training_args):" in groups
    assert "--kl_coef KL_COEF" in text and "--kl-coef" not in text


def test_a_renamed_command_still_runs_and_names_its_new_name(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["collect-demos", "--help"])
    assert exit_.value.code == 0
    out, err = capsys.readouterr()
    assert "`collect-demos` is now `collect-demonstrations`" in err
    assert "--noise_levels" in out and "by 46%" in out  # a % in a help sentence is text


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_stage_prints_its_help(stage, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([stage, "--help"])
    assert exit_.value.code == 0 and "--output_dir" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_prints_its_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("usage: e3d2 ") and "options:" in out


def test_repeated_and_positional_fields(tmp_path):
    args = command_parser("evaluate").parse_args(
        ["--generated", "a=x", "--generated", "b=y", "--ground_truth", "gt"]
    )
    assert args.generated == ["a=x", "b=y"]
    score = command_parser("score").parse_args(["a.npz", "b.npz", "--reward_model", "r"])
    assert score.dances == ["a.npz", "b.npz"]


def test_a_flag_out_of_range_names_the_flag_and_exits_2(capsys):
    assert main(["download", "dance-with-melody", "--retries", "-1"]) == 2
    assert "e3d2 download: error: --retries: must be at least 0, got -1" in capsys.readouterr().err
