"""A matrix of RL fine-tuning runs from one pi_BC: reward model variants x rewards x advantage
estimators x seeds, each PPO run measured against pi_BC and the KL-matched pi_BC, with a report
of paired differences over the seeds.

The plan is one YAML file (`recipes/configs/dwm/experiment.yaml`); every stage is the recipe its
own command runs, with the stage configs beside the plan and the plan's overrides, and a
finished stage is reused unless `force`, as in `e3d2 demo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from .cards import CARD_INFO
from .demo import Stage, run_stages, stage_run
from .reports.demo import FOLDERS
from .reports.experiment import Run, reward_model_folder, run_folder, write_experiment_report
from .utils.outputs import (
    DEMONSTRATIONS_INFO,
    PPO_REPORT,
    claim_output_dir,
    record_files,
    run_lock,
)
from .utils.yaml_files import read_yaml

LEARNED = "learned"
"""The reward that needs a reward model: runs with it are repeated for each variant."""


@dataclass
class ExperimentOptions:
    """The options of `e3d2 experiment`."""

    config: Path = field(metadata={"help": "the experiment's YAML plan"})
    output_dir: Path = field(
        default=Path("outputs/experiment"), metadata={"help": "where everything goes"}
    )
    pipeline_dir: Path | None = field(
        default=None,
        metadata={
            "help": "a finished `e3d2 demo` folder whose VQ-VAE (vqvae/) and pi_BC (bc/) every "
            "run starts from (default: the plan's `pipeline`)"
        },
    )
    seeds: int | None = field(
        default=None, metadata={"help": "PPO seeds per configuration (default: the plan's)"}
    )
    runs: list[str] | None = field(
        default=None,
        metadata={
            "help": "run only the configurations with these names or shell patterns (e.g. "
            "'*-gae'; default: all); the report covers every configuration that has finished"
        },
    )
    force: bool = field(default=False, metadata={"help": "redo finished stages"})
    report_to: str = field(default="none", metadata={"help": "trackers for every stage"})

    def __post_init__(self) -> None:
        self.config = Path(self.config)
        self.output_dir = Path(self.output_dir)
        if self.seeds is not None and self.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {self.seeds}")

    @property
    def config_dir(self) -> Path:
        """The stage configs the plan's overrides apply to: the plan's own folder."""
        return self.config.parent


@dataclass
class Plan:
    """An experiment YAML: what is crossed with what."""

    pipeline: Path
    seeds: int
    reward_models: dict[str, dict]
    """variant -> overrides of demonstrations.yaml (the ranked pairs it learns from)"""
    rewards: dict[str, dict]
    """name -> overrides of ppo.yaml (reward_funcs, reward_weights)"""
    estimators: dict[str, dict]
    """name -> overrides of ppo.yaml (advantage_estimator, num_generations)"""
    ppo: dict = field(default_factory=dict)
    """overrides of ppo.yaml for every run"""
    reward_model: dict = field(default_factory=dict)
    """overrides of reward.yaml for every variant"""

    @classmethod
    def from_yaml(cls, path: Path, options: ExperimentOptions | None = None) -> Plan:
        config = read_yaml(path)
        known = {f for f in cls.__dataclass_fields__}
        if unknown := sorted(set(config) - known):
            raise ValueError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
        if missing := [k for k in ("rewards", "estimators") if not config.get(k)]:
            raise ValueError(f"{path}: needs {missing}")
        pipeline = options.pipeline_dir if options and options.pipeline_dir else None
        pipeline = pipeline or config.get("pipeline")
        if pipeline is None:
            raise ValueError(f"{path}: name a finished demo folder (`pipeline` or --pipeline_dir)")
        plan = cls(
            pipeline=Path(pipeline),
            seeds=int(options.seeds if options and options.seeds else config.get("seeds", 1)),
            reward_models=dict(config.get("reward_models") or {"paper": {}}),
            rewards=dict(config["rewards"]),
            estimators=dict(config["estimators"]),
            ppo=dict(config.get("ppo") or {}),
            reward_model=dict(config.get("reward_model") or {}),
        )
        for group in ("reward_models", "rewards", "estimators"):
            for name, overrides in getattr(plan, group).items():
                if not isinstance(overrides, dict | None):
                    raise ValueError(f"{path}: {group}.{name} must be a mapping of options")
                getattr(plan, group)[name] = dict(overrides or {})
        return plan

    def runs(self, patterns: list[str] | None = None) -> list[Run]:
        """Every configuration, or those whose name matches one of `patterns`: each reward x
        estimator, and x reward model variant where the reward is learned."""
        runs = []
        for reward, reward_overrides in self.rewards.items():
            funcs = reward_overrides.get("reward_funcs", self.ppo.get("reward_funcs", [LEARNED]))
            variants = list(self.reward_models) if LEARNED in funcs else [None]
            for variant in variants:
                for estimator, estimator_overrides in self.estimators.items():
                    name = "-".join(p for p in (variant, reward, estimator) if p)
                    overrides = {**self.ppo, **reward_overrides, **estimator_overrides}
                    runs.append(Run(name, reward, estimator, variant, overrides))
        if patterns is None:
            return runs
        chosen = [r for r in runs if any(fnmatch(r.name, p) for p in patterns)]
        if not chosen:
            raise ValueError(
                f"--runs {' '.join(patterns)} matches none of {[r.name for r in runs]}"
            )
        return chosen


def build_experiment_stages(options: ExperimentOptions, plan: Plan) -> list[Stage]:
    """Each reward model variant (ranked demonstrations, then the reward model, seed 0), then
    every run with seed 0, every run with seed 1, ...: a stopped experiment has whole seeds."""
    out, bc = options.output_dir, plan.pipeline / FOLDERS.bc
    for needed in (bc, plan.pipeline / FOLDERS.vqvae):
        if not needed.is_dir():
            raise FileNotFoundError(f"{needed}: not found; run `e3d2 demo` into {plan.pipeline}")
    runs = plan.runs(options.runs)
    needed = {run.reward_model for run in runs} | {next(iter(plan.reward_models))}
    stages = []
    for variant, overrides in plan.reward_models.items():
        if variant not in needed:
            continue
        root = reward_model_folder(out, variant)
        preferences, reward = root / FOLDERS.preferences, root / FOLDERS.reward
        stages += [
            Stage(
                f"ranked demonstrations ({variant})", preferences, DEMONSTRATIONS_INFO,
                stage_run(
                    options, "demonstrations", output_dir=preferences, policy_name_or_path=bc,
                    seed=0, **overrides,
                ),
            ),
            Stage(
                f"reward model ({variant})", reward, CARD_INFO,
                stage_run(
                    options, "reward", output_dir=reward, preferences_dir=preferences, seed=0,
                    trunk_policy=bc, **plan.reward_model,
                ),
            ),
        ]  # fmt: skip
    first_variant = next(iter(plan.reward_models))
    for seed in range(plan.seeds):
        for run in runs:
            folder = run_folder(out, run.name, seed)
            # the held-out score of every run is the first variant's where its reward is not learned
            variant = run.reward_model or first_variant
            values = {
                **run.overrides,
                "output_dir": folder,
                "policy_name_or_path": bc,
                "reward_model_name_or_path": reward_model_folder(out, variant) / FOLDERS.reward,
                "seed": seed,
            }
            stages.append(
                Stage(f"PPO {run.name} (seed {seed})", folder, PPO_REPORT,
                      stage_run(options, "ppo", **values))
            )  # fmt: skip
    return stages


def run_experiment(options: ExperimentOptions) -> Path:
    """Run every unfinished stage of the plan, then write the report; returns its path."""
    plan = Plan.from_yaml(options.config, options)
    for config in sorted(options.config_dir.glob("*.yaml")):
        read_yaml(config)  # a broken config is refused before anything is written
    stages = build_experiment_stages(options, plan)
    claim_output_dir(options.output_dir, "choose another --output_dir")
    with run_lock(options.output_dir):
        timings = run_stages(options.output_dir, stages, options.force, "experiment")
        report = write_experiment_report(
            options.output_dir, plan.pipeline, plan.seeds, list(plan.reward_models), plan.runs(),
            timings,
        )  # fmt: skip
        record_files(options.output_dir)
    print(f"[experiment] report: {report}", flush=True)
    return report
