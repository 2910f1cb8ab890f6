"""Sub-commands of ``quantsr``: a lazy registry. Each module ``quantsr.commands.<module>`` has
``register(sub)`` (adds its parser(s) and handler); it is imported only when its command runs or its help is
asked for, so ``quantsr --help`` and argument errors answer without importing torch, SimpleITK or pydicom.
The modules keep their own heavy imports inside their handlers for the same reason."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # what the user types: quantsr <name>
    module: str  # quantsr.commands.<module> registers it (one module may register several commands)
    summary: str  # its line in `quantsr --help` (the module's own help= must say the same; a test checks)


COMMANDS = (
    Command("demo", "demo", "simulate a patient, super-resolve, measure lesions, write DICOM + CSV + figure"),
    Command("sr", "sr", "super-resolve fast synthetic-MRI maps ×2"),
    Command("batch", "batch", "super-resolve every study folder under ROOT (resumable; torchrun shards it)"),
    Command("series", "series", "list DICOM series and detected map kinds"),
    Command("simulate", "simulate", "simulate a paired fast/routine cohort (DICOM + truth + lesion labels + manifest)"),
    Command("synth", "synth", "synthetic weighted images (FLAIR, STIR, ...) from T1/T2/PD maps"),
    Command("report", "report", "agreement and image-quality report of a cohort (Tables 1–5, plots)"),
    Command("model-info", "models", "show a model file's metadata (or the bundled models)"),
    Command("convert-model", "models", "convert a PyTorch state-dict checkpoint (weights only)"),
    Command("train", "train", "train / export / evaluate models (the quantsr-train command)"),
    Command("view", "view", "review fast / DL / routine maps in the browser"),
)


def _installed(module: str) -> bool:
    """Whether ``quantsr.commands.<module>`` exists (without importing it): optional commands may be absent."""
    return importlib.util.find_spec(f"{__name__}.{module}") is not None


def available_commands() -> list[Command]:
    return [command for command in COMMANDS if _installed(command.module)]


def selected_command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line: the first word that is not an option (quantsr's own options,
    -h / -v / --version, take no values)."""
    return next((word for word in argv if not word.startswith("-")), None)


def register_all(sub: argparse._SubParsersAction, only: str | None = "") -> None:
    """Add every sub-command to ``sub``. ``only`` = a command name: that command's module registers its full
    parser and every other command gets a one-line placeholder (enough for `quantsr --help` and "invalid
    choice" errors); ``None`` (no command given): placeholders only; ``""`` (the default): every module in full,
    for tests and documentation tools."""
    commands = available_commands()
    wanted = {c.module for c in commands} if only == "" else {c.module for c in commands if c.name == only}
    registered: set[str] = set()
    for command in commands:
        if command.module in wanted:
            if command.module not in registered:  # a module adds all of its commands at once
                importlib.import_module(f"{__name__}.{command.module}").register(sub)
                registered.add(command.module)
        else:
            sub.add_parser(command.name, help=command.summary, add_help=False)
