"""The `e3d2` command: a table of subcommands, each one module's dataclass and `run`.

A training stage is its recipe (`e3d2 ppo` runs `e3d2_hf/recipes/ppo.py`, the file
`recipes/ppo.py` of the repository); every other command is a module of `e3d2_hf.commands`.
Only the module of the command given is imported.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import logging
import sys
from pathlib import Path

from .utils.arguments import CommandParser, OneSpellingHelpFormatter, parse_command
from .utils.errors import configure_logging, exit_code, run_recipe

COMMANDS = (
    "demo",
    "experiment",
    "download",
    "prepare",
    "evaluate",
    "score",
    "dance",
    "push",
    "app",
    "models",
    "convert-bailando",
)
"""Commands of `e3d2_hf.commands` (a dash in the command is an underscore in the module)."""

STAGES = {
    "train-vqvae": ("e3d2_hf.recipes.vqvae", "train the dance VQ-VAE (stage 1a)"),
    "train-bc": ("e3d2_hf.recipes.bc", "behaviour cloning of the policy (stage 1b)"),
    "collect-demonstrations": (
        "e3d2_hf.recipes.demonstrations",
        "epsilon-greedy ranked demonstrations of pi_BC",
    ),
    "train-reward": ("e3d2_hf.recipes.reward", "train the reward model on ranked pairs"),
    "ppo": ("e3d2_hf.recipes.ppo", "PPO of pi_BC against the learned or hand-designed reward"),
}
"""Training stages: each takes its recipe's options, from `--config` YAML and flags."""
RENAMED = {"collect-demos": "collect-demonstrations"}
"""Old command names that still run, with a notice naming the new one."""


def command_module(command: str):
    """The module of a non-training command: its `Arguments`, `run` and docstring."""
    return importlib.import_module(f"e3d2_hf.commands.{command.replace('-', '_')}")


def command_parser(command: str) -> CommandParser:
    """The parser of one command, its flags read from the command's dataclass."""
    module = command_module(command)
    summary, _, description = module.__doc__.partition("\n\n")
    return CommandParser(
        module.Arguments,
        prog=f"e3d2 {command}",
        description=description.strip() or summary,
        epilog="Every --a_b option is also accepted as --a-b.",
    )


def build_parser() -> argparse.ArgumentParser:
    """`e3d2 --help`: the commands and their one-line help (no command module imported)."""
    parser = argparse.ArgumentParser(
        prog="e3d2",
        description="E3D2: music-to-dance generation explored with a learned reward model and PPO.",
        formatter_class=OneSpellingHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        spec = importlib.util.find_spec(f"e3d2_hf.commands.{name.replace('-', '_')}")
        sub.add_parser(name, help=_summary(spec.origin), add_help=False)
    for name, (_, help_text) in STAGES.items():
        sub.add_parser(name, help=f"{help_text}; options: e3d2 {name} --help", add_help=False)
    return parser


def _summary(path: str) -> str:
    """The first line of a module's docstring, read without importing it."""
    return ast.get_docstring(ast.parse(Path(path).read_text())).splitlines()[0]


def run_stage(command: str, argv: list[str] | None = None) -> int:
    """Run a training stage as `e3d2 <command>` does: a user error is one line and exit
    status 2, anything else its traceback and a last line."""
    module, _ = STAGES[command]
    return run_recipe(command, importlib.import_module(module).main, argv)


def run_command(command: str, argv: list[str], verbose: bool = False) -> int:
    """Parse a command's flags into its dataclass and run it, with `exit_code`'s errors."""
    configure_logging(logging.DEBUG if verbose else logging.INFO)
    namespace = command_parser(command).parse_args(argv)  # argparse errors exit 2 itself
    module = command_module(command)
    return exit_code(command, lambda: module.run(parse_command(module.Arguments, namespace)))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = bool(argv) and argv[0] in ("-v", "--verbose")
    rest = argv[1:] if verbose else argv
    if rest and rest[0] in RENAMED:
        print(f"e3d2: `{rest[0]}` is now `{RENAMED[rest[0]]}`", file=sys.stderr)
        rest = [RENAMED[rest[0]], *rest[1:]]
    if rest and rest[0] in STAGES:
        return run_stage(rest[0], rest[1:])
    if rest and rest[0] in COMMANDS:
        return run_command(rest[0], rest[1:], verbose)
    build_parser().parse_args(argv)  # --help, or an error naming the commands
    return 2


if __name__ == "__main__":
    sys.exit(main())
