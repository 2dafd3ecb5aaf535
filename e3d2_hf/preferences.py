"""The ranked-demonstration dataset on disk and on the Hub.

On disk it is one `DatasetDict` (`save_to_disk`) with six splits plus
`demonstrations.json` (the collection config, the policy, its codebook size and
skeleton) and a dataset card. On the Hub the tables have different columns, so
each becomes a config with `train` / `test` splits: `pairs` (the default, TRL's
`chosen_*` / `rejected_*` convention), `segments` (music features per segment)
and `demonstrations` (every rollout), next to the same `demonstrations.json`.

    prefs = load_preferences("outputs/demo/preferences")      # or a Hub repo id
    push_preferences_to_hub("outputs/demo/preferences", "me/dance-preferences")
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Array2D, DatasetDict, Features, Sequence, Value, load_dataset, load_from_disk

from .data.layout import MusicLayout
from .models.loading import hub_repo_id
from .utils.errors import DataFileError
from .utils.outputs import DEMONSTRATIONS_INFO

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
# local split name -> (Hub config, Hub split)
HUB_LAYOUT = {
    "train": ("pairs", "train"),
    "test": ("pairs", "test"),
    "train_segments": ("segments", "train"),
    "test_segments": ("segments", "test"),
    "train_demonstrations": ("demonstrations", "train"),
    "test_demonstrations": ("demonstrations", "test"),
}
PREFERENCE_SPLITS = tuple(HUB_LAYOUT)


def segment_features() -> Features:
    return Features(
        {
            "segment_id": Value("int64"),
            "music_id": Value("string"),
            "start": Value("int32"),
            "init_upper": Value("int32"),
            "init_lower": Value("int32"),
            "music_features": Array2D(shape=(None, MusicLayout.DIM), dtype="float32"),
        }
    )


def demonstration_features() -> Features:
    return Features(
        {
            "segment_id": Value("int64"),
            "noise": Value("float32"),
            "upper_ids": Sequence(Value("int32")),
            "lower_ids": Sequence(Value("int32")),
        }
    )


PAIR_KIND = "kind"
"""The optional pair column that says why the chosen side ranks first: "noise" (the paper's
pairs) or a corruption of the data's own episode (`training.demonstrations.CORRUPTIONS`)."""


def pair_features(kind: bool = False) -> Features:
    """The pair columns; `kind`: with the `PAIR_KIND` column."""
    side = {
        "segment_id": Value("int64"),
        "music_id": Value("string"),
        "noise": Value("float32"),
        "upper_ids": Sequence(Value("int32")),
        "lower_ids": Sequence(Value("int32")),
    }
    columns = {f"{who}_{k}": v for who in ("chosen", "rejected") for k, v in side.items()}
    extra = {PAIR_KIND: Value("string")} if kind else {}
    return Features({**columns, "margin": Value("float32"), **extra})


def split_features(split: str) -> Features:
    """The columns of a split of a preference dataset."""
    kind = split.partition("_")[2] or "pairs"
    return {"pairs": pair_features, "segments": segment_features,
            "demonstrations": demonstration_features}[kind]()  # fmt: skip


def _check(dataset: DatasetDict, source: str) -> DatasetDict:
    missing = [s for s in PREFERENCE_SPLITS if s not in dataset]
    if missing:
        raise DataFileError(source, f"not a preference dataset: missing splits {missing}")
    for split in PREFERENCE_SPLITS:
        if missing := [c for c in split_features(split) if c not in dataset[split].column_names]:
            raise DataFileError(source, f"{split}: missing columns {', '.join(missing)}")
    for split in ("train", "test"):
        if len(dataset[split]) == 0:
            raise DataFileError(source, f"the {split!r} split has no pairs")
    for split, table in dataset.items():
        for column in table.column_names:
            if problem := _column_problem(column, table.data.column(column)):
                raise DataFileError(source, f"{split} {column}: {problem}")
    return dataset


def _column_problem(column: str, values: pa.ChunkedArray) -> str | None:
    """Token ids that are not integers, or numbers that are NaN or infinite (music features
    with NaN trained a reward model to a loss of 0)."""
    for chunk in values.chunks:
        leaf = chunk
        while True:
            if isinstance(leaf.type, pa.ExtensionType):
                leaf = leaf.storage
            elif (
                pa.types.is_list(leaf.type)
                or pa.types.is_large_list(leaf.type)
                or (pa.types.is_fixed_size_list(leaf.type))
            ):
                leaf = leaf.flatten()
            else:
                break
        if column.endswith("_ids") and not pa.types.is_integer(leaf.type):
            return f"token ids must be integers, got {leaf.type}"
        if pa.types.is_floating(leaf.type) and pc.all(pc.is_finite(leaf)).as_py() is False:
            return "holds NaN or infinite values"
    return None


def _check_info(info: Any, source: str) -> dict:
    if not isinstance(info, dict) or not {"codebook_size", "skeleton"} <= set(info):
        raise DataFileError(source, f"{DEMONSTRATIONS_INFO} must name codebook_size and skeleton")
    return info


def save_preferences(dataset: DatasetDict, info: dict, output_dir: str | Path) -> None:
    """Write the dataset, its info file and its card into `output_dir` (an empty or temporary folder)."""
    from .cards import render_dataset_card

    output_dir = Path(output_dir)
    dataset.save_to_disk(str(output_dir))
    (output_dir / DEMONSTRATIONS_INFO).write_text(json.dumps(info, indent=2))
    render_dataset_card("preferences", dataset, info).save(output_dir / CARD_FILE)


def load_preferences(
    path_or_repo: str | Path, revision: str | None = None
) -> tuple[DatasetDict, dict]:
    """The six splits and the info of a preference dataset, from a folder or a Hub dataset repo."""
    if hub_repo_id(path_or_repo) is None:  # a folder
        path = Path(path_or_repo)
        if not (path / DEMONSTRATIONS_INFO).is_file():
            raise DataFileError(
                path, "preference dataset not found (run e3d2 collect-demonstrations first)"
            )
        try:
            info = json.loads((path / DEMONSTRATIONS_INFO).read_text())
        except json.JSONDecodeError as error:
            raise DataFileError(path / DEMONSTRATIONS_INFO, f"not JSON: {error}") from None
        return _check(load_from_disk(str(path)), str(path)), _check_info(
            info, str(path / DEMONSTRATIONS_INFO)
        )

    from huggingface_hub import hf_hub_download

    repo = str(path_or_repo)
    info_path = hf_hub_download(repo, DEMONSTRATIONS_INFO, repo_type="dataset", revision=revision)
    info = _check_info(json.loads(Path(info_path).read_text()), f"{repo}/{DEMONSTRATIONS_INFO}")
    splits = {}
    for config in dict.fromkeys(c for c, _ in HUB_LAYOUT.values()):
        loaded = load_dataset(repo, config, revision=revision)
        for local, (hub_config, hub_split) in HUB_LAYOUT.items():
            if hub_config == config and hub_split in loaded:
                splits[local] = loaded[hub_split]
    return _check(DatasetDict(splits), repo), info


def push_preferences_to_hub(
    path: str | Path, repo_id: str, private: bool | None = None, token: str | None = None
) -> str:
    """Upload a saved preference dataset as three configs plus its info file and card; returns the URL."""
    from huggingface_hub import DatasetCard, HfApi

    from .cards import render_dataset_card

    dataset, info = load_preferences(path)
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    configs: dict[str, DatasetDict] = {}
    for local, (config, split) in HUB_LAYOUT.items():
        configs.setdefault(config, DatasetDict())[split] = dataset[local]
    for config, splits in configs.items():
        splits.push_to_hub(
            repo_id,
            config_name=config,
            set_default=config == "pairs",
            commit_message=f"Upload the {config} config",
            token=token,
        )
    api.upload_file(
        path_or_fileobj=json.dumps(info, indent=2).encode(),
        path_in_repo=DEMONSTRATIONS_INFO,
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Upload the collection info",
    )
    # `push_to_hub` wrote the split metadata into the card's YAML; keep it and put our text around it.
    pushed = DatasetCard.load(repo_id, repo_type="dataset", token=token)
    card = render_dataset_card("preferences", dataset, info, card_data=pushed.data, repo_id=repo_id)
    card.push_to_hub(repo_id, repo_type="dataset", token=token, commit_message="Dataset card")
    logger.info("pushed the preference dataset to %s", url)
    return str(url)


def flat_pairs(prefs: DatasetDict, split: str = "train"):
    """One self-contained row per pair, for tools that want TRL's `chosen` / `rejected` columns.

    `chosen` and `rejected` are each {"music_features" (29 x 438), "upper_ids",
    "lower_ids", "noise"}, with the music copied in from the segment table;
    `margin` is the noise difference. TRL's own trainers expect text or token
    ids of one vocabulary, so this is a view for other tools, not a drop-in
    for `trl.RewardTrainer`; it is about 29 x 438 floats per side per pair.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    segments = prefs[f"{split}_segments"].with_format("numpy")
    music = {
        int(s): m for s, m in zip(segments["segment_id"], segments["music_features"], strict=True)
    }

    def flatten(row: dict) -> dict:
        side = {
            who: {
                "music_features": music[int(row[f"{who}_segment_id"])].tolist(),
                "upper_ids": row[f"{who}_upper_ids"],
                "lower_ids": row[f"{who}_lower_ids"],
                "noise": row[f"{who}_noise"],
            }
            for who in ("chosen", "rejected")
        }
        return {**side, "margin": row["margin"]}

    pairs = prefs[split]
    return pairs.map(flatten, remove_columns=pairs.column_names, desc=f"flat {split} pairs")
