"""print the parameter counts of the model presets

Parameter counts of every model family at the tiny, demo and paper presets (counted on the
meta device, nothing is allocated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data.skeleton import get_skeleton
from ..models import parameter_table
from ..utils.markdown import markdown_table


@dataclass
class Arguments:
    skeleton: str = field(default="smpl24", metadata={"help": "skeleton the VQ-VAE is sized for"})

    def __post_init__(self) -> None:
        get_skeleton(self.skeleton)  # an unknown one names the known ones


def run(args: Arguments) -> int:
    rows = [(p, family, f"{n:,}") for p, family, n in parameter_table(args.skeleton)]
    print(markdown_table(("preset", "model", "parameters"), rows, align="llr"))
    return 0
