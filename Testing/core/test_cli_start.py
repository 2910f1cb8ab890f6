"""The command starts at once: `quantsr --help`, a sub-command's help and argument errors import no torch,
SimpleITK or pydicom (the lazy registry in quantsr.commands), and the registry matches what the modules register.
Checked by what is imported, not by timing (docs/benchmarks.md has the times)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from quantsr.cli import build_parser
from quantsr.commands import COMMANDS, available_commands, selected_command

HEAVY = ("torch", "SimpleITK", "pydicom", "scipy", "matplotlib")

_PROBE = """
import contextlib, io, json, sys
from quantsr.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        status = main(json.loads(sys.argv[1]))
    except SystemExit as exc:
        status = exc.code
print(json.dumps({"status": status, "loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}))
"""


def _imports_after(argv: list[str]) -> dict:
    child = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(HEAVY)],
                           capture_output=True, text=True, check=True, timeout=120)
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv, status", [
    (["--help"], 0),
    ([], 2),  # no command: the overview
    (["sr", "--help"], 0),
    (["sr"], 2),  # argparse: the input and -o are missing
    (["sr", "in.nrrd", "-o", "out.nrrd", "--map", "T9"], 2),  # argparse: not a map kind
    (["sr", "in.nrrd", "-o", "out.nrrd", "--batch-size", "0"], 1),  # our own check, before any input is read
    (["batch", "--help"], 0),
    (["series", "--help"], 0),
    (["bogus"], 2),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_help_and_argument_errors_import_nothing_heavy(argv, status) -> None:
    probe = _imports_after(argv)
    assert probe["status"] == status
    assert probe["loaded"] == [], f"quantsr {' '.join(argv)} imported {probe['loaded']}"


def test_registry_lists_what_the_modules_register(capsys) -> None:
    parser = build_parser()  # every module in full
    registered = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    names = list(registered.choices)
    assert names == [command.name for command in available_commands()]
    helps = {action.dest: action.help for action in registered._choices_actions}
    for command in available_commands():
        if command.module != "view":  # another package's command: its own help text
            assert helps[command.name] == command.summary, command.name
    assert {c.name for c in COMMANDS} >= {"sr", "batch", "report", "simulate", "demo", "model-info"}
    assert "train" in names  # QuantSRTraining's, through the quantsr.commands entry point


def test_the_training_package_registers_train_and_the_core_never_names_it(capsys) -> None:
    from pathlib import Path

    import quantsr
    from quantsr.cli import main
    from quantsr.commands import delegated_main, plugin_commands
    from quantsr_training import command

    (train,) = [c for c in plugin_commands() if c.name == "train"]
    assert train.module == "quantsr_training.command" and train.delegates and train.summary == command.SUMMARY
    assert delegated_main(["train", "fit"]) is command.main and delegated_main(["sr", "train"]) is None
    with pytest.raises(SystemExit) as exit_info:  # everything after "train" is quantsr-train's, --help included
        main(["train", "--help"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("usage: quantsr-train")
    imported = set()  # every module the core imports, anywhere in its files: never the training package (no cycle)
    for path in Path(quantsr.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    assert "numpy" in imported and not [m for m in imported if m.split(".")[0] == "quantsr_training"]


def test_only_the_named_command_is_built_in_full(capsys) -> None:
    assert selected_command(["-v", "sr", "x"]) == "sr" and selected_command(["--version"]) is None
    parser = build_parser(["sr", "--help"])
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert any(a.dest == "runtime" for a in choices["sr"]._actions)  # the real parser
    assert [a.dest for a in choices["batch"]._actions] == []  # a placeholder: no options, not even --help
    with pytest.raises(SystemExit):
        build_parser(["nonsense"]).parse_args(["nonsense"])
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_sr_writes_its_phases_for_the_benchmark(tmp_path, monkeypatch) -> None:
    from helpers.dicom_factory import brain_like, write_dicom_series

    from quantsr.cli import main

    write_dicom_series(tmp_path / "study" / "T1", brain_like("T1", shape=(2, 16, 16)))
    monkeypatch.setenv("QUANTSR_TIMINGS", str(tmp_path / "timings.json"))
    assert main(["sr", str(tmp_path / "study"), "-o", str(tmp_path / "out"), "--method", "bicubic"]) == 0
    report = json.loads((tmp_path / "timings.json").read_text())
    assert {"imports", "read", "compute", "write", "write (waited for)"} <= set(report["phases"])
    assert report["handler_finished"] >= report["handler_started"] > 0
    assert all(seconds >= 0 for seconds in report["phases"].values())
    assert (tmp_path / "out" / "T1_bicubic.nrrd").exists()
