"""The one markdown table renderer: every table the toolkit writes goes through it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

RULES = {"l": "---", "r": "---:", "c": ":---:"}


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None
) -> str:
    """A GitHub-flavoured table. `align`: one letter per column, `l`, `r` or `c` (default: all
    `l`, written as a plain `---`). A cell's `|` is escaped so it cannot split the row."""
    align = align or "l" * len(header)
    if len(align) != len(header):
        raise ValueError(f"{len(header)} columns, {len(align)} alignments ({align!r})")

    def line(cells: Sequence[object]) -> str:
        if len(cells) != len(header):
            raise ValueError(f"a row of {len(cells)} cells under {len(header)} columns: {cells}")
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join(RULES[a] for a in align) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
