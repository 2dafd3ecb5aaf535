"""fetch a public dataset (dance-with-melody) into the e3d2 cache

Download every complete piece of a public dataset, checking each file against the source's
checksums. Interrupted files resume; a piece appears only when all its files are checked;
pieces the server cannot give whole are named and skipped. The cache is $E3D2_HOME/datasets
(default ~/.cache/e3d2_hf/datasets), where --data and --source look by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data.download import DATASETS, download_dataset
from ..utils.ranges import check_ranges


@dataclass
class Arguments:
    dataset: str = field(
        metadata={"positional": True, "choices": sorted(DATASETS), "help": "which dataset"}
    )
    output_dir: str | None = field(
        default=None,
        metadata={
            "aliases": ["--to"],
            "help": "folder to fill (default: $E3D2_HOME/datasets/<dataset>)",
        },
    )
    revision: str | None = field(
        default=None, metadata={"help": "the source repository's commit (default: the pinned one)"}
    )
    pieces: str | None = field(
        default=None, metadata={"help": "comma-separated piece names, e.g. DANCE_C_2,DANCE_W_1"}
    )
    retries: int = field(default=4, metadata={"help": "resumes per file after a drop"})

    def __post_init__(self) -> None:
        check_ranges(self)


def run(args: Arguments) -> int:
    pieces = [p.strip() for p in args.pieces.split(",") if p.strip()] if args.pieces else None
    report = download_dataset(
        args.dataset, args.output_dir, revision=args.revision, pieces=pieces, retries=args.retries
    )
    print(report.summary())
    return 0
