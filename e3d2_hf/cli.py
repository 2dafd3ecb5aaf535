"""The `e3d2` command."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .data.layout import SEAM_TOKENS
from .errors import exit_code, run_recipe
from .ranges import above, at_least


class ArgumentParser(argparse.ArgumentParser):
    """Every `--a-b` option is spelled `--a_b`, as the training commands and their YAML keys are,
    and still accepts `--a-b`."""

    def add_argument(self, *names, **kwargs):
        spelled = []
        for name in names:
            stem = name[2:]
            if name.startswith("--") and ("-" in stem or "_" in stem):
                spelled += ["--" + stem.replace("-", "_"), "--" + stem.replace("_", "-")]
            else:
                spelled.append(name)
        return super().add_argument(*dict.fromkeys(spelled), **kwargs)


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    from .data.prepare import SOURCES, PrepareConfig

    d = PrepareConfig()
    p = sub.add_parser(
        "prepare",
        help="build a clip dataset (joints + music features) and save it with save_to_disk",
        description="Read a source dataset, extract 438-d music features at 60 and 7.5 FPS, and save one row "
        "per sequence. The output folder appears only when everything succeeded.",
    )
    p.add_argument(
        "--source",
        "--data",
        dest="source",
        choices=SOURCES,
        default=d.source,
        help="which reader (default: %(default)s)",
    )
    p.add_argument(
        "--output_dir", default=None, help="where to save (default: outputs/data/<source>)"
    )
    p.add_argument(
        "--path",
        help="source folder (dance-with-melody: the DANCE_* parent; aistpp: the root with motions/)",
    )
    p.add_argument(
        "--split",
        choices=("train", "test"),
        default=d.split,
        help="AIST++ split (default: %(default)s)",
    )
    p.add_argument("--music-dir", help="AIST++ music folder with mXXX.wav (default: <path>/wav)")
    p.add_argument(
        "--smpl_model_path", help="folder with SMPL model files; default: built-in skeleton FK"
    )
    p.add_argument(
        "--num-sequences",
        type=at_least(1, int),
        default=d.num_sequences,
        help="synthetic: sequences (default: %(default)s)",
    )
    p.add_argument(
        "--duration",
        type=above(0),
        default=d.duration,
        help="synthetic: seconds each (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=at_least(0, int),
        default=d.seed,
        help="synthetic: seed (default: %(default)s)",
    )
    p.add_argument(
        "--num_workers",
        type=at_least(1, int),
        default=d.num_workers,
        help="processes for feature extraction",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> int:
    from .data.prepare import PrepareConfig, prepare

    config = PrepareConfig(
        source=args.source,
        output_dir=args.output_dir or f"outputs/data/{args.source}",
        path=args.path,
        split=args.split,
        music_dir=args.music_dir,
        smpl_model_path=args.smpl_model_path,
        num_sequences=args.num_sequences,
        duration=args.duration,
        seed=args.seed,
        num_workers=args.num_workers,
        overwrite=args.overwrite,
    )
    out = prepare(config)
    print((Path(out) / "prepare.json").read_text())
    return 0


def _add_download(sub: argparse._SubParsersAction) -> None:
    from .data.download import DATASETS

    p = sub.add_parser(
        "download",
        help="fetch a public dataset (dance-with-melody) into the e3d2 cache",
        description="Download every complete piece of a public dataset, checking each file against "
        "the source's checksums. Interrupted files resume; a piece appears only when all its files "
        "are checked; pieces the server cannot give whole are named and skipped. The cache is "
        "$E3D2_HOME/datasets (default ~/.cache/e3d2_hf/datasets), where --data and --source "
        "look by default.",
    )
    p.add_argument("dataset", choices=sorted(DATASETS), help="which dataset")
    p.add_argument(
        "--to",
        "--output-dir",
        dest="to",
        help="folder to fill (default: $E3D2_HOME/datasets/<dataset>)",
    )
    p.add_argument("--revision", help="the source repository's commit (default: the pinned one)")
    p.add_argument("--pieces", help="comma-separated piece names, e.g. DANCE_C_2,DANCE_W_1")
    p.add_argument(
        "--retries",
        type=at_least(0, int),
        default=4,
        help="resumes per file after a drop (default: 4)",
    )
    p.set_defaults(func=_run_download)


def _run_download(args: argparse.Namespace) -> int:
    from .data.download import download_dataset

    pieces = [p.strip() for p in args.pieces.split(",") if p.strip()] if args.pieces else None
    report = download_dataset(
        args.dataset, args.to, revision=args.revision, pieces=pieces, retries=args.retries
    )
    print(report.summary())
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    from .demo import DATA_SOURCES

    p = sub.add_parser(
        "demo",
        help="the whole E3D2 pipeline with the demo configs, and a report",
        description="prepare -> VQ-VAE -> BC -> ranked demonstrations -> reward model -> PPO (learned reward) "
        "-> PPO (Bailando reward, the baseline) -> dances on a held-out song -> report.md/report.html. "
        "Finished stages are reused unless --force.",
    )
    p.add_argument(
        "--output_dir", default="outputs/demo", help="where everything goes (default: %(default)s)"
    )
    p.add_argument(
        "--data",
        choices=DATA_SOURCES,
        default="synthetic",
        help="synthetic (embedded, the default), dance-with-melody or aistpp",
    )
    p.add_argument(
        "--data-path",
        help="the real data's folder (dance-with-melody: default the folder `e3d2 download "
        "dance-with-melody` fills; aistpp: the root with motions/ and splits/)",
    )
    p.add_argument("--music-dir", help="aistpp: the folder with the mXXX.wav songs")
    p.add_argument("--force", action="store_true", help="redo finished stages")
    p.add_argument(
        "--report_to", default="tensorboard", help="trackers for every stage (default: %(default)s)"
    )
    p.add_argument(
        "--seeds",
        type=at_least(1, int),
        default=1,
        help="seeds of the stages after pi_BC (demonstrations, reward model, both PPO runs); the "
        "report gives each policy's mean and spread over them (default: %(default)s)",
    )
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import DemoOptions, run_demo

    run_demo(
        DemoOptions(
            output_dir=Path(args.output_dir),
            data=args.data,
            data_path=args.data_path,
            music_dir=args.music_dir,
            force=args.force,
            report_to=args.report_to,
            seeds=args.seeds,
        )
    )
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="FID_k, FID_g, DIV_k, DIV_g, BAS of generated dances (Bailando protocol)",
        description="Score sets of generated SMPL-24 dances against a ground-truth set and print the table of "
        "the paper's Table 1 columns. A PATH is a clip dataset folder (from `e3d2 prepare`) or a folder of "
        ".npz files (joints (T, 72) or (T, 24, 3) at 60 FPS, optional beat_frames) or .npy joint arrays.",
    )
    p.add_argument(
        "--generated",
        action="append",
        required=True,
        metavar="NAME=PATH",
        help="a set of generated dances; repeat for several rows",
    )
    p.add_argument(
        "--ground-truth",
        required=True,
        metavar="PATH",
        help="the ground-truth dances (features are cached)",
    )
    p.add_argument(
        "--ground-truth-row",
        action="store_true",
        help="also score the ground-truth dances themselves",
    )
    p.add_argument(
        "--fixed-energy",
        action="store_true",
        help="use the corrected energy-expenditure formula (not comparable to published numbers)",
    )
    p.add_argument(
        "--fid-method",
        choices=("sqrtm", "svd"),
        default="sqrtm",
        help="sqrtm: the reference (default); svd: exact",
    )
    p.add_argument(
        "--output-dir",
        default="outputs/evaluation",
        help="where metrics.json and metrics.md go (default: %(default)s)",
    )
    p.set_defaults(func=_run_evaluate)


def _load_dances(path: str):
    from .evaluation.protocol import dances_from_dataset, dances_from_folder

    folder = Path(path)
    if (folder / "dataset_info.json").is_file() or (folder / "state.json").is_file():
        from .data.schema import load_clip_dataset

        return dances_from_dataset(load_clip_dataset(folder))
    return dances_from_folder(folder)


def _run_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.leaderboard import results_document, write_results
    from .evaluation.physical import diagnostics_table
    from .evaluation.protocol import (
        diagnose_sets,
        evaluate_dances,
        ground_truth_features,
        markdown_table,
        write_report,
    )
    from .outputs import check_replaceable

    check_replaceable(args.output_dir, "choose another --output-dir")  # before the work
    bug = not args.fixed_energy
    ground_truth = _load_dances(args.ground_truth)
    gt_features = ground_truth_features([d.joints for d in ground_truth], reference_bug=bug)
    sets = []
    if args.ground_truth_row:
        sets.append(("Ground truth", ground_truth))
    for item in args.generated:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).name, item
        sets.append((name, _load_dances(path)))
    rows = {
        name: evaluate_dances(dances, gt_features, reference_bug=bug, fid_method=args.fid_method)
        for name, dances in sets
    }
    diagnostics = diagnose_sets(
        {name: dances for name, dances in sets if name != "Ground truth"}, ground_truth
    )
    json_path, md_path = write_report(rows, args.output_dir, diagnostics)
    results = write_results(
        results_document(
            rows,
            diagnostics,
            dataset=str(args.ground_truth),
            population=max(len(dances) for name, dances in sets),
            reference_pool=len(ground_truth),
            reference_bug=bug,
        ),
        Path(args.output_dir) / "results.json",
    )
    print(markdown_table(rows))
    print("\n" + diagnostics_table(diagnostics))
    print(f"\nwrote {json_path}, {md_path} and {results} (leaderboard schema)")
    return 0


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="the learned reward of dance files (mean u per 29-step window)",
        description="Score dances with a reward model R_theta: the total reward u of every 29-token window "
        "(3.9 s, the length R_theta was trained on) and their mean. A DANCE is a .npz with tokens "
        "(upper_ids, lower_ids) or joints, optionally with music_tokens; a .npy joint array (T, 24, 3) at "
        "60 FPS; or a clip dataset folder from `e3d2 prepare` (every clip is scored).",
    )
    p.add_argument(
        "dances", nargs="+", metavar="DANCE", help="dance files or a clip dataset folder"
    )
    p.add_argument(
        "--reward_model", required=True, help="reward model folder or Hub repo id (namespace/name)"
    )
    p.add_argument("--vqvae", help="VQ-VAE folder or repo id; needed to encode joints")
    p.add_argument(
        "--music", help="audio file the dances were danced to (if a file has no music_tokens)"
    )
    p.add_argument(
        "--stride",
        type=at_least(1, int),
        help="window stride in tokens (default: the window, no overlap)",
    )
    p.add_argument("--output", help="also write the scores to this JSON file")
    p.set_defaults(func=_run_score)


def _run_score(args: argparse.Namespace) -> int:
    import json

    from .data.layout import TOKEN_FPS
    from .data.music import music_features
    from .data.schema import load_clip_dataset
    from .models import DanceRewardModel, DanceVQVAE
    from .scoring import (
        check_score_output,
        dances_from_clip_dataset,
        load_dance_file,
        score_dances,
    )
    from .training.common import load_model

    if args.output:
        check_score_output(Path(args.output))
    reward_model = load_model(DanceRewardModel, args.reward_model)
    vqvae = load_model(DanceVQVAE, args.vqvae) if args.vqvae else None
    music = music_features(args.music, TOKEN_FPS) if args.music else None
    dances = []
    for path in args.dances:
        if Path(path).is_dir():
            dances += dances_from_clip_dataset(load_clip_dataset(path), vqvae, path)
        else:
            dances.append(load_dance_file(path, music, vqvae, reward_model.config.codebook_size))
    scores = score_dances(reward_model, dances, vqvae, args.stride)
    print("| dance | tokens | windows | mean u |\n|---|---:|---:|---:|")
    for score in scores:
        print(f"| {score.name} | {score.num_tokens} | {len(score.window_u)} | {score.mean_u:.3f} |")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps([s.as_dict() for s in scores], indent=2))
        print(f"\nwrote {args.output}")
    return 0


def _add_dance(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dance",
        help="dance to any song: video with the song, BVH and npz",
        description="Generate a dance for an audio file (wav, mp3, flac, ogg; any length: past the "
        "policy's 29-step window the sampler slides, as Bailando's) and write <name>.mp4 (the song as "
        "its audio track), <name>.bvh (Blender and other DCC tools) and <name>.npz (joints, fps, tokens); "
        "with --formats ...,glb also <name>.glb, an animated glTF of the figure.",
    )
    p.add_argument("song", help="audio file")
    p.add_argument("--policy", required=True, help="policy folder or Hub repo id")
    p.add_argument("--vqvae", help="VQ-VAE folder or repo id (default: the policy's own)")
    p.add_argument(
        "--start", type=at_least(0), default=0.0, help="start of the song segment, seconds"
    )
    p.add_argument(
        "--duration", type=above(0), help="segment length in seconds (default: to the end)"
    )
    p.add_argument("--output-dir", default="outputs/dances", help="(default: %(default)s)")
    p.add_argument("--name", help="file stem (default: the song's)")
    p.add_argument(
        "--formats",
        default="mp4,bvh,npz",
        help="comma-separated: mp4, gif, bvh, npz, glb (animated glTF: Blender, browsers) "
        "(default: %(default)s)",
    )
    p.add_argument("--seed", type=at_least(0, int), default=0)
    p.add_argument("--temperature", type=above(0), default=1.0)
    p.add_argument("--greedy", action="store_true", help="argmax codes instead of sampling")
    p.add_argument("--start-pose", help=".npy/.npz joints whose first 8 frames start the dance")
    p.add_argument(
        "--edge-tokens",
        type=at_least(0, int),
        default=SEAM_TOKENS,
        help="code pairs repeated past each end before decoding, so the first and last frames "
        "do not jump; 0 decodes as Bailando does (default: %(default)s)",
    )
    p.add_argument("--video-fps", type=above(0), default=30.0, help="(default: %(default)s)")
    p.add_argument("--bvh-scale", type=above(0), default=1.0, help="BVH units per metre (100: cm)")
    p.add_argument(
        "--bvh-rotations-only",
        action="store_true",
        help="no per-joint position channels: a rigid skeleton (the nearest to the dance)",
    )
    p.set_defaults(func=_run_dance)


def _run_dance(args: argparse.Namespace) -> int:
    import time

    from .inference import check_dance_targets, dance_to_song, load_dancer, save_dance

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    name = args.name or Path(args.song).stem
    check_dance_targets(Path(args.output_dir), name, formats)  # before minutes of work
    start = time.perf_counter()
    policy, vqvae = load_dancer(args.policy, args.vqvae)
    dance = dance_to_song(
        policy, vqvae, args.song, offset=args.start, duration=args.duration, seed=args.seed,
        temperature=args.temperature, greedy=args.greedy, start_pose=args.start_pose,
        edge_tokens=args.edge_tokens,
    )  # fmt: skip
    written = save_dance(
        dance, args.output_dir, name, formats,
        video_fps=args.video_fps, bvh_scale=args.bvh_scale,
        joint_translations=not args.bvh_rotations_only,
    )  # fmt: skip
    print(
        f"{len(dance.upper_ids)} tokens, {dance.duration:.2f} s of {dance.skeleton.name} dance "
        f"in {time.perf_counter() - start:.1f} s"
    )
    for path in written.values():
        print(f"wrote {path}")
    return 0


def _add_push(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="upload an output (policy, VQ-VAE, reward model, preference or clip dataset) to the Hub",
        description="Push an output folder with its card. A policy takes its VQ-VAE along (in vqvae/), "
        "so `e3d2 dance --policy namespace/name` works from the repo alone. Uses the usual Hub "
        "settings (HF_TOKEN, HF_ENDPOINT).",
    )
    p.add_argument("path", help="output folder")
    p.add_argument("repo_id", help="namespace/name")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--vqvae", help="for a policy: the VQ-VAE to include (default: its own)")
    p.set_defaults(func=_run_push)


def _run_push(args: argparse.Namespace) -> int:
    from .hub import push_output

    url = push_output(args.path, args.repo_id, private=args.private or None, vqvae=args.vqvae)
    print(f"pushed {args.path} to {url}")
    return 0


def _add_app(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="the web page: upload a song, get the dance video and BVH",
        description="A Gradio app (the Spaces convention: `app.py` at the repository root runs the same).",
    )
    p.add_argument(
        "--policy",
        action="append",
        help="a policy folder or repo id to offer; repeat (default: the demo's policies)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(func=_run_app)


def _run_app(args: argparse.Namespace) -> int:
    from .app import launch

    launch(args.policy, host=args.host, port=args.port)
    return 0


def _add_convert_bailando(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-bailando",
        help="convert Bailando's released checkpoints (VQ-VAE + GPT .pt) to e3d2-hf models",
        description="Read Bailando's checkpoints tensor-only (torch.load weights_only=True; a file "
        "that would run code is refused), map every key to DanceVQVAE and DancePolicy, and write "
        "OUTPUT_DIR/vqvae and OUTPUT_DIR/policy (which carries its VQ-VAE), ready for "
        "from_pretrained and `e3d2 dance song.mp3 --policy OUTPUT_DIR/policy`. A key left over or "
        "a weight not filled is an error listing them. Bailando's weights are under the NTU "
        "S-Lab License 1.0 (non-commercial); the model cards say so.",
    )
    p.add_argument(
        "--vqvae",
        required=True,
        help="Bailando's VQ-VAE: step 2 (experiments/sep_vqvae_root/ckpt/epoch_500.pt, with the "
        "root decoder), or step 1 (sep_vqvae) together with --vqvae-root",
    )
    p.add_argument(
        "--vqvae-root",
        "--vqvae_root",
        dest="vqvae_root",
        help="Bailando's step-2 checkpoint, for its root-velocity decoder when --vqvae is step 1",
    )
    p.add_argument(
        "--gpt",
        required=True,
        help="Bailando's GPT (experiments/cc_motion_gpt/ckpt/epoch_400.pt), or an actor-critic "
        "checkpoint with --ignore-critic",
    )
    p.add_argument(
        "--config",
        help="Bailando's YAML (configs/cc_motion_gpt.yaml); default: the config saved in the "
        "checkpoints",
    )
    p.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True)
    p.add_argument("--overwrite", action="store_true", help="replace an earlier conversion")
    p.add_argument(
        "--ignore-critic",
        "--ignore_critic",
        dest="ignore_critic",
        action="store_true",
        help="convert the actor of an actor-critic checkpoint and leave its critic out",
    )
    p.add_argument(
        "--train-clips",
        "--train_clips",
        dest="train_clips",
        help="a clip dataset (e3d2 prepare) to encode into policy/tokens/train, with "
        "--heldout-clips: collect-demos and ppo then run from the converted policy",
    )
    p.add_argument(
        "--heldout-clips",
        "--heldout_clips",
        dest="heldout_clips",
        help="the held-out clip dataset, encoded into policy/tokens/heldout",
    )
    p.set_defaults(func=_run_convert_bailando)


def _run_convert_bailando(args: argparse.Namespace) -> int:
    from .convert_bailando import convert_bailando

    out = convert_bailando(
        args.vqvae,
        args.gpt,
        args.output_dir,
        vqvae_root=args.vqvae_root,
        config=args.config,
        overwrite=args.overwrite,
        ignore_critic=args.ignore_critic,
        train_clips=args.train_clips,
        heldout_clips=args.heldout_clips,
    )
    print(f"wrote {out.vqvae_dir} and {out.policy_dir}")
    print(f"next: e3d2 dance song.mp3 --policy {out.policy_dir}")
    return 0


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="print the parameter counts of the model presets",
        description="Parameter counts of every model family at the tiny, demo and paper presets "
        "(counted on the meta device, nothing is allocated).",
    )
    p.add_argument("--skeleton", default="smpl24", help="skeleton the VQ-VAE is sized for")
    p.set_defaults(func=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from .models import parameter_table

    print("| preset | model | parameters |\n|---|---|---:|")
    for preset, family, count in parameter_table(args.skeleton):
        print(f"| {preset} | {family} | {count:,} |")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="e3d2",
        description="E3D2: music-to-dance generation explored with a learned reward model and PPO.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_download(sub)
    _add_prepare(sub)
    _add_evaluate(sub)
    _add_score(sub)
    _add_dance(sub)
    _add_push(sub)
    _add_app(sub)
    _add_models(sub)
    _add_convert_bailando(sub)
    for name, (_, _, help_text) in STAGES.items():
        sub.add_parser(name, help=f"{help_text}; options: e3d2 {name} --help", add_help=False)
    return parser


STAGES = {
    "train-vqvae": ("e3d2_hf.recipes.vqvae", "main", "train the dance VQ-VAE (stage 1a)"),
    "train-bc": (
        "e3d2_hf.recipes.bc",
        "main",
        "behaviour cloning of the policy (stage 1b)",
    ),
    "collect-demos": (
        "e3d2_hf.recipes.demos",
        "main",
        "epsilon-greedy ranked demonstrations of pi_BC",
    ),
    "train-reward": (
        "e3d2_hf.recipes.reward",
        "main",
        "train the reward model on ranked pairs",
    ),
    "ppo": (
        "e3d2_hf.recipes.ppo",
        "main",
        "PPO of pi_BC against the learned or hand-designed reward",
    ),
}
"""Training stages: each takes the recipe's own options (`e3d2 train-bc --help`)."""


def run_stage(command: str, argv: list[str] | None = None) -> int:
    """Run a training stage as `e3d2 <command>` does: a user error is one line and exit
    status 2, anything else its traceback and a last line."""
    import importlib

    module, function, _ = STAGES[command]
    return run_recipe(command, getattr(importlib.import_module(module), function), argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in STAGES:
        return run_stage(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return exit_code(args.command, lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
