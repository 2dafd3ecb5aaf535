"""Dataclass fields as command-line flags: `HfArgumentParser`, plus positionals and repeats.

Every command's options are one dataclass (the training stages': the recipe's and its
trainer's). A field `a_b` is the flag `--a_b`, as in the YAML configs; `--a-b` is accepted
and left out of `--help`, so each option is documented once. Field metadata may add:

- `positional: True` (with `nargs`): an argument without a flag (`e3d2 dance song.mp3`);
- `repeat: True`: a flag given once per item (`--generated a=x --generated b=y`);
- `aliases`, `help`, `choices`, `metavar`: as `HfArgumentParser` passes them to argparse.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing

from transformers import HfArgumentParser

from .ranges import RangeError


class OneSpellingHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` names an option by its short form and first long spelling only; a switch
    (`HfArgumentParser`'s optional-value bool) shows no value; a default is shown once."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        short = [o for o in action.option_strings if not o.startswith("--")]
        names = ", ".join(short + [o for o in action.option_strings if o.startswith("--")][:1])
        if action.nargs == 0 or (action.nargs == "?" and action.const is True):
            return names
        return (
            f"{names} {self._format_args(action, self._get_default_metavar_for_optional(action))}"
        )

    def _get_help_string(self, action: argparse.Action) -> str:
        # argparse %-formats the help; a plain "46%" in a sentence must not break `--help`
        text = re.sub(r"%(?!\()", "%%", action.help or "")
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text + " (default: %(default)s)"
        return text


class FieldMetadata:
    """A mixin for `HfArgumentParser` and its subclasses (TRL's `TrlParser`): the `positional`
    and `repeat` metadata of this module's doc, this module's help, a group per class."""

    def __init__(self, dataclass_types=None, **kwargs):
        kwargs.setdefault("formatter_class", OneSpellingHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # `--learning_rat` must not set learning_rate
        super().__init__(dataclass_types, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        check_repeated_flags(self, args)
        return super().parse_known_args(args, namespace)

    def _add_dataclass_arguments(self, dtype: type) -> None:
        """With several dataclasses, `--help` has a group per class that defines fields: a
        trainer's own options apart from the `TrainingArguments` it extends."""
        owners = _defining_classes(dtype)
        if len(self.dataclass_types) < 2 and len(set(owners.values())) < 2:
            return super()._add_dataclass_arguments(dtype)
        hints = typing.get_type_hints(dtype)
        groups = {  # the most derived class first
            cls: self.add_argument_group(f"{cls.__name__} ({cls.__module__})")
            for cls in dtype.__mro__
            if cls in owners.values()
        }
        for f in dataclasses.fields(dtype):
            if f.init:
                f.type = hints[f.name]
                self._parse_dataclass_field(groups[owners[f.name]], f)

    def _parse_dataclass_field(self, parser: argparse.ArgumentParser, field: dataclasses.Field):
        meta = dict(field.metadata)
        if not (meta.pop("positional", False) or meta.get("repeat")):
            return super()._parse_dataclass_field(parser, field)
        if meta.pop("repeat", False):
            spellings = dict.fromkeys([f"--{field.name}", f"--{field.name.replace('_', '-')}"])
            names = [*spellings, *meta.pop("aliases", [])]
            default = None if field.default is dataclasses.MISSING else field.default
            parser.add_argument(*names, action="append", default=default, **meta)
        else:
            if field.default is not dataclasses.MISSING:
                meta.setdefault("nargs", "?")
                meta["default"] = field.default
            parser.add_argument(field.name, **meta)


def check_repeated_flags(parser: argparse.ArgumentParser, args: list[str] | None) -> None:
    """A flag given twice is an error naming it (argparse keeps the last value without a word),
    unless it is one that repeats by design (`repeat: True`)."""
    seen: dict[str, str] = {}
    for token in args or ():
        if token == "--":
            break
        action = parser._option_string_actions.get(token.split("=", 1)[0])
        if action is None or isinstance(action, (argparse._AppendAction, argparse._HelpAction)):
            continue
        flag = token.split("=", 1)[0]
        if action.dest in seen:
            spellings = "" if seen[action.dest] == flag else f" (as {seen[action.dest]} and {flag})"
            parser.error(f"{flag}: given twice{spellings}; give each option once")
        seen[action.dest] = flag


class CommandParser(FieldMetadata, HfArgumentParser):
    """The parser of a non-training command."""


def _defining_classes(dtype: type) -> dict[str, type]:
    """Each field's name -> the class of `dtype`'s MRO that declares it last."""
    owners: dict[str, type] = {}
    for cls in reversed(dtype.__mro__):
        for name in getattr(cls, "__annotations__", {}):
            owners[name] = cls
    return owners


def parse_command(cls: type, namespace: argparse.Namespace):
    """The dataclass `cls` from a parsed namespace; a value out of range names its flag."""
    values = vars(namespace)
    try:
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.init})
    except RangeError as exc:
        raise exc.where("--") from None
