"""FID_k, FID_g, DIV_k, DIV_g, BAS of generated dances (Bailando protocol)

Score sets of generated dances against a ground-truth set of the same skeleton and print the
table of the paper's Table 1 columns (FID_g and DIV_g are n/a, with the reason, off SMPL-24).
A PATH is a clip dataset folder (from `e3d2 prepare`) or a folder of .npz files (what
`e3d2 dance` writes: joints (T, J, 3) or (T, 3J) at 60 FPS, optional beat_frames) or .npy
joint arrays. A dance without beats takes those of the ground-truth clip of its name; one
that `e3d2 dance` stood on the floor is placed on the ground truth's floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.schema import load_clip_dataset
from ..evaluation.leaderboard import results_document, write_results
from ..evaluation.protocol import (
    dances_from_dataset,
    dances_from_folder,
    diagnose_sets,
    evaluate_dances,
    ground_truth_features,
    match_ground_truth,
)
from ..reports.evaluate import write_report
from ..reports.tables import diagnostics_table, metrics_table
from ..utils.outputs import check_writable
from ..utils.ranges import check_ranges


@dataclass
class Arguments:
    generated: list[str] = field(
        metadata={
            "repeat": True,
            "required": True,
            "metavar": "NAME=PATH",
            "help": "a set of generated dances; repeat for several rows",
        }
    )
    ground_truth: str = field(
        metadata={"metavar": "PATH", "help": "the ground-truth dances (features are cached)"}
    )
    ground_truth_row: bool = field(
        default=False, metadata={"help": "also score the ground-truth dances themselves"}
    )
    fixed_energy: bool = field(
        default=False,
        metadata={
            "help": "use the corrected energy-expenditure formula (not comparable to published "
            "numbers)"
        },
    )
    fid_method: str = field(
        default="sqrtm",
        metadata={"choices": ("sqrtm", "svd"), "help": "sqrtm: the reference; svd: exact"},
    )
    output_dir: str = field(
        default="outputs/evaluation", metadata={"help": "where metrics.json and metrics.md go"}
    )

    def __post_init__(self) -> None:
        check_ranges(self)


def load_dances(path: str) -> list:
    """The dances of a clip dataset folder, or of a folder of .npz/.npy files."""
    folder = Path(path)
    if (folder / "dataset_info.json").is_file() or (folder / "state.json").is_file():
        return dances_from_dataset(load_clip_dataset(folder))
    return dances_from_folder(folder)


def run(args: Arguments) -> int:
    check_writable(args.output_dir, "choose another --output_dir")  # before the work
    bug = not args.fixed_energy
    ground_truth = load_dances(args.ground_truth)
    if not ground_truth:
        raise ValueError(f"{args.ground_truth}: no ground-truth dances")
    read = {}
    for item in args.generated:  # every file is read before minutes of features
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).name, item
        read[name] = (path, load_dances(path))
    sets = [("Ground truth", ground_truth)] if args.ground_truth_row else []
    sets += list(match_ground_truth(read, ground_truth).items())
    gt_features = ground_truth_features([d.joints for d in ground_truth], reference_bug=bug)
    rows = {
        name: evaluate_dances(dances, gt_features, reference_bug=bug, fid_method=args.fid_method)
        for name, dances in sets
    }
    generated = {name: dances for name, dances in sets if name != "Ground truth"}
    diagnostics = diagnose_sets(generated, ground_truth)
    json_path, md_path = write_report(rows, args.output_dir, diagnostics)
    document = results_document(
        rows,
        diagnostics,
        dataset=str(args.ground_truth),
        population=max(len(dances) for name, dances in sets),
        reference_pool=len(ground_truth),
        reference_bug=bug,
    )
    results = write_results(document, Path(args.output_dir) / "results.json")
    print(metrics_table(rows))
    print("\n" + diagnostics_table(diagnostics))
    print(f"\nwrote {json_path}, {md_path} and {results} (leaderboard schema)")
    return 0
