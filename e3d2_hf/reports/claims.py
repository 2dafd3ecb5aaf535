"""The verdicts of evaluation/claims.py in words: one sentence per claimed difference."""

from __future__ import annotations

from ..evaluation.claims import Verdict


def sentence(name: str, baseline_name: str, verdict: Verdict) -> str:
    title, evidence = verdict.metric.label, verdict.evidence
    if verdict.outcome == "none":
        supports = "supports" if verdict.source == "spread" else "support"
        return (
            f"No difference on {title} between {name} and {baseline_name} that the "
            f"{verdict.source} {supports}: {evidence}."
        )
    verb = "beats" if verdict.outcome == "better" else "is worse than"
    return f"{name} {verb} {baseline_name} on {title}: {evidence}."


def claim_sentences(
    name: str, baseline_name: str, verdicts: list[Verdict], differences_only: bool = False
) -> list[str]:
    """A sentence per verdict; `differences_only`: leave out the "no difference" ones (a
    comparison table shows them)."""
    return [
        sentence(name, baseline_name, v)
        for v in verdicts
        if not (differences_only and v.outcome == "none")
    ]


def claimed_differences(comparisons: dict[tuple[str, str], list[Verdict]]) -> list[str]:
    """One paragraph per (policy, baseline) that differ somewhere: its claimed differences with
    their evidence (the comparison table shows the rest)."""
    paragraphs = (
        claim_sentences(name, baseline, verdicts, differences_only=True)
        for (name, baseline), verdicts in comparisons.items()
    )
    return [" ".join(sentences) for sentences in paragraphs if sentences]
