"""One flag style across `e3d2`: underscores documented (as the trainers and YAML keys), dashes accepted."""

from __future__ import annotations

import argparse

from e3d2_hf.cli import build_parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_multi_word_flag_takes_both_spellings_underscore_first():
    checked = 0
    for name, sub in _subcommands(build_parser()).items():
        for action in sub._actions:
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
    parser = build_parser()
    dashed = parser.parse_args(["dance", "song.wav", "--policy", "p", "--output-dir", "x"])
    underscored = parser.parse_args(["dance", "song.wav", "--policy", "p", "--output_dir", "x"])
    assert dashed.output_dir == underscored.output_dir == "x"
