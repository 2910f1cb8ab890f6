"""Sub-commands of ``quantsr``: a lazy registry. Each module ``quantsr.commands.<module>`` has
``register(sub)`` (adds its parser(s) and handler); it is imported only when its command runs or its help is
asked for, so ``quantsr --help`` and argument errors answer without importing torch, SimpleITK or pydicom.
The modules keep their own heavy imports inside their handlers for the same reason.

Other installed packages add commands through the entry point group ``quantsr.commands`` (name: the command;
value: a module with ``SUMMARY``, ``register(sub)`` and, optionally, ``main(arguments)``, which then gets everything
after the command's name, ``--help`` included). QuantSRTraining registers ``quantsr train`` so
(``quantsr_training/command.py``, pyproject.toml); the core never imports its consumers."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ENTRY_POINT_GROUP = "quantsr.commands"

log = logging.getLogger("quantsr")


@dataclass(frozen=True)
class Command:
    name: str  # what the user types: quantsr <name>
    # quantsr.commands.<module> registers it (one module may register several commands); another package's command
    # (an entry point) gives its module's full name
    module: str
    summary: str  # its line in `quantsr --help` (the module's own help= must say the same; a test checks)
    delegates: bool = False  # the module's main(arguments) takes the whole command line after the name


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
    Command("view", "view", "review fast / DL / routine maps in the browser"),
)


def _module_name(command: Command) -> str:
    return command.module if "." in command.module else f"{__name__}.{command.module}"


def _installed(command: Command) -> bool:
    """Whether the command's module exists (without importing it): optional commands may be absent."""
    return importlib.util.find_spec(_module_name(command)) is not None


def plugin_commands() -> list[Command]:
    """The commands other installed packages register under :data:`ENTRY_POINT_GROUP` (their modules are imported
    here: they must be light). A name QuantSR already uses is ignored; a plugin that fails to load is skipped with a
    warning, so it cannot break ``quantsr``."""
    from importlib.metadata import entry_points

    taken = {command.name for command in COMMANDS}
    found = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in taken:
            continue
        try:
            module = point.load()
            found.append(Command(point.name, module.__name__, module.SUMMARY, callable(getattr(module, "main", None))))
        except Exception as exc:  # any error in another package's code
            log.warning("command %r from %s could not be loaded: %s", point.name, point.value, exc)
            continue
        taken.add(point.name)
    return found


def available_commands(plugins: bool = True) -> list[Command]:
    """QuantSR's own commands that are installed, then (``plugins``) those of other packages."""
    own = [command for command in COMMANDS if _installed(command)]
    return own + plugin_commands() if plugins else own


def delegated_main(argv: Sequence[str]) -> Callable[[list[str]], int] | None:
    """The ``main`` of a command whose module takes the whole rest of the command line, when ``argv`` starts with
    its name (``quantsr train ...``); None otherwise (QuantSR's own commands never delegate)."""
    if not argv or argv[0].startswith("-") or argv[0] in {command.name for command in COMMANDS}:
        return None
    for command in plugin_commands():
        if command.name == argv[0] and command.delegates:
            return importlib.import_module(_module_name(command)).main
    return None


def selected_command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line: the first word that is not an option (quantsr's own options,
    -h / -v / --version, take no values)."""
    return next((word for word in argv if not word.startswith("-")), None)


def register_all(sub: argparse._SubParsersAction, only: str | None = "") -> None:
    """Add every sub-command to ``sub``. ``only`` = a command name: that command's module registers its full
    parser and every other command gets a one-line placeholder (enough for `quantsr --help` and "invalid
    choice" errors); ``None`` (no command given): placeholders only; ``""`` (the default): every module in full,
    for tests and documentation tools."""
    # Another package's commands matter only for the overview, an unknown name or one of theirs: not for `quantsr sr`.
    commands = available_commands(plugins=only is None or only not in {c.name for c in COMMANDS})
    wanted = {c.module for c in commands} if only == "" else {c.module for c in commands if c.name == only}
    registered: set[str] = set()
    for command in commands:
        if command.module in wanted:
            if command.module not in registered:  # a module adds all of its commands at once
                importlib.import_module(_module_name(command)).register(sub)
                registered.add(command.module)
        else:
            sub.add_parser(command.name, help=command.summary, add_help=False)
