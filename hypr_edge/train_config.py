"""`hypr-edge train --config run.toml`: every option of the command from a TOML file, flags overriding it, and the
resolved options written back (`config.toml` beside `metrics.json`) so that `--config out/config.toml` repeats a run.

The file holds one `key = value` per option, the option's name without its dashes (`batch-size = 32`, `lr = 0.01`,
`no-recurrent = true`; `batch_size` is read too). A switch takes true or false; `hidden` takes "64,64" or [64, 64].
Values go through the same checks as on the command line.

How a flag is told from a default: `defer_defaults(parser)`, the last line of the command's add_arguments, records
each option's default and sets it to None, so after parsing a None means "not on the command line"; `resolve`
then takes, per option, the flag, else the file's value, else the default."""
from __future__ import annotations

import argparse
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import CommandError

OPTIONS = "_options"            # namespace attribute holding {dest: Option} (set by defer_defaults)
FILE_OPTIONS = ("config", "resume")   # options about files of options: never read from or written to a file
NOT_WRITTEN = FILE_OPTIONS + ("out",)  # a written config leaves the output folder to the next run's --out


@dataclass(frozen=True)
class Option:
    flag: str          # "--batch-size"
    default: object
    type: object       # the argparse type function, or None
    switch: bool       # store_true / store_false

    @property
    def key(self) -> str:
        return self.flag.lstrip("-")


def defer_defaults(parser: argparse.ArgumentParser) -> None:
    """Record every option's default and make it None (see the module's docstring)."""
    options = {}
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "debug"):
            continue
        flag = max(action.option_strings, key=len)
        switch = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        options[action.dest] = Option(flag, action.default, action.type, switch)
        action.default = None
    parser.set_defaults(**{OPTIONS: options})


def read_file(path: str | Path, options: dict[str, Option]) -> dict[str, object]:
    """The options a TOML file sets, by dest, checked and converted as their flags would be."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CommandError(f"{path}: cannot read it ({getattr(err, 'strerror', None) or err})") from None
    except tomllib.TOMLDecodeError as err:
        raise CommandError(f"{path}: not a valid TOML file ({err})") from None
    by_key = {}
    for dest, opt in options.items():
        if dest not in FILE_OPTIONS:
            by_key[opt.key] = by_key[dest] = dest
    values = {}
    for key, value in raw.items():
        dest = by_key.get(key)
        if dest is None:
            known = ", ".join(sorted(options[d].key for d in set(by_key.values())))
            raise CommandError(f"{path}: unknown option {key!r}; the file may set {known}")
        values[dest] = _convert(path, options[dest], value)
    return values


def _convert(path, opt: Option, value):
    """A TOML value as the option's flag would have produced it."""
    if opt.switch:
        if not isinstance(value, bool):
            raise CommandError(f"{path}: {opt.key} must be true or false, got {value!r}")
        return value
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value) and value:
        value = ",".join(map(str, value))   # hidden = [64, 64]
    if isinstance(value, (bool, dict, list)) or not isinstance(value, (str, int, float)):
        raise CommandError(f"{path}: {opt.key} must be a number or a string, got {value!r}")
    if opt.type is None:
        return str(value)
    try:
        return opt.type(repr(value) if isinstance(value, float) else str(value))
    except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
        raise CommandError(f"{path}: {opt.key} {err}") from None


def resolve(args: argparse.Namespace, file_values: dict[str, object] | None = None) -> argparse.Namespace:
    """Per option: the command line's value, else the file's, else the default."""
    options: dict[str, Option] = getattr(args, OPTIONS)
    merged = {}
    for dest, opt in options.items():
        given = getattr(args, dest, None)
        if given is not None:
            merged[dest] = given
        elif file_values and dest in file_values:
            merged[dest] = file_values[dest]
        elif isinstance(opt.default, str) and opt.type is not None:
            merged[dest] = opt.type(opt.default)   # argparse converts string defaults through the type
        else:
            merged[dest] = opt.default
    merged[OPTIONS] = options
    return argparse.Namespace(**merged)


def given_flags(args: argparse.Namespace) -> list[str]:
    """The flags that were on the command line (before resolve)."""
    return [opt.flag for dest, opt in getattr(args, OPTIONS).items() if getattr(args, dest, None) is not None]


def recorded(args: argparse.Namespace) -> dict[str, object]:
    """The resolved options a config file records, by key (options left unset, e.g. no --data, are left out)."""
    out = {}
    for dest, opt in getattr(args, OPTIONS).items():
        value = getattr(args, dest)
        if dest not in NOT_WRITTEN and value is not None:
            out[opt.key] = value
    return out


def to_toml(values: dict[str, object]) -> str:
    """Flat TOML of strings, integers, finite floats and booleans (tomllib reads; nothing in the standard library
    writes): floats as repr, which reads back to the same double."""
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{key} = {value} has no TOML form here")
            text = repr(value)
        elif isinstance(value, str):
            text = json.dumps(value)   # a TOML basic string: JSON's escapes are TOML's
        else:
            raise ValueError(f"{key} = {value!r}: not a flat TOML value")
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def write_file(path: Path, args: argparse.Namespace) -> None:
    text = ("# hypr-edge train: the resolved options of this run. `hypr-edge train --config config.toml --out NEW` "
            "repeats it.\n" + to_toml(recorded(args)))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
