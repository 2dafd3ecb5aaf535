"""The one markdown table renderer and the comparison table built on it."""

from __future__ import annotations

import json

import pytest

from e3d2_hf.evaluation.claims import compare
from e3d2_hf.reports.claims import claim_sentences
from e3d2_hf.reports.tables import comparison_table
from e3d2_hf.utils.markdown import markdown_table


def test_a_table_has_its_alignment_rule_and_escapes_a_pipe_inside_a_cell():
    text = markdown_table(("name", "value"), [("a|b", 1), ("c", 2.5)], align="lr")
    assert text.splitlines() == ["| name | value |", "|---|---:|", "| a\\|b | 1 |", "| c | 2.5 |"]
    assert markdown_table(("x",), []).splitlines() == ["| x |", "|---|"]


def test_a_row_or_an_alignment_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="a row of 1 cells under 2 columns"):
        markdown_table(("a", "b"), [("only",)])
    with pytest.raises(ValueError, match="2 columns, 3 alignments"):
        markdown_table(("a", "b"), [], align="lrr")


BC = {"eval_score": 10.0, "eval_score_sem": 0.5, "eval_FID_k": 50.0, "eval_FID_k_low": 40.0,
      "eval_FID_k_high": 60.0, "eval_BAS": 0.2, "eval_BAS_low": 0.15, "eval_BAS_high": 0.25}  # fmt: skip
RL = {"eval_score": 14.0, "eval_score_sem": 0.5, "eval_FID_k": 30.0, "eval_FID_k_low": 25.0,
      "eval_FID_k_high": 35.0, "eval_BAS": 0.21, "eval_BAS_low": 0.16, "eval_BAS_high": 0.26}  # fmt: skip
WORSE = {**RL, "eval_FID_k": 80.0, "eval_FID_k_low": 70.0, "eval_FID_k_high": 90.0}


def test_a_claim_is_made_only_where_the_intervals_part():
    said = claim_sentences("pi_RL", "pi_BC", compare(RL, BC))
    assert said[0].startswith("pi_RL beats pi_BC on reward-model score")
    assert said[1].startswith("pi_RL beats pi_BC on FID_k")  # lower is better
    assert said[2].startswith("No difference on BAS")
    worse = claim_sentences("pi_RL", "pi_BC", compare(WORSE, BC))
    assert "pi_RL is worse than pi_BC on FID_k" in " ".join(worse)
    assert compare({"eval_score": 1.0}, BC) == []  # no spread, no claim
    differences = claim_sentences("pi_RL", "pi_BC", compare(RL, BC), differences_only=True)
    assert differences == said[:2]


def test_the_comparison_table_marks_each_metric_better_worse_or_no_difference():
    header, rule, row = comparison_table({("pi_RL", "pi_BC"): compare(WORSE, BC)}).splitlines()
    assert header == "| comparison | reward-model score ↑ | FID_k ↓ | BAS ↑ |"
    assert row == "| pi_RL vs pi_BC | ▲ better | ▼ worse | · none shown |"
    assert comparison_table({("pi_RL", "pi_BC"): compare({"eval_score": 1.0}, BC)}) == ""


def test_the_ppo_report_json_the_mark_of_a_finished_run_is_written_last(tmp_path, monkeypatch):
    """`e3d2 demo` and `e3d2 experiment` reuse a PPO run whose ppo_report.json exists: a run
    stopped while its report is being written must not leave one behind."""
    from types import SimpleNamespace

    from e3d2_hf.reports import ppo

    rows = {"pi_BC": {"eval_score": 1.0, "eval_kl": 0.0}, "pi_RL (x reward)": {"eval_score": 2.0}}
    state = SimpleNamespace(global_step=4, log_history=[])
    path = tmp_path / "ppo_report.json"

    def stopped(report):
        raise KeyboardInterrupt

    monkeypatch.setattr(ppo, "ppo_report_markdown", stopped)
    with pytest.raises(KeyboardInterrupt):
        ppo.write_ppo_report(path, rows, state, None, "x")
    assert not path.exists() and not list(tmp_path.iterdir())
    monkeypatch.undo()
    text = ppo.write_ppo_report(path, rows, state, None, "x")
    assert json.loads(path.read_text())["rows"] == rows and "pi_RL (x reward)" in text
    assert (tmp_path / "ppo_report.md").read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".e3d2-hf-output", "ppo_report.json", "ppo_report.md"
    ]  # fmt: skip
