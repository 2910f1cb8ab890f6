"""``quantsr``: the headless command (super-resolution, series listing, model tools, simulator, demo)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from . import __version__
from .errors import CancelledError, QuantSRError

Handler = Callable[[argparse.Namespace], int]


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("quantsr: %(levelname)s: %(message)s"))
    root = logging.getLogger("quantsr")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    quiet_third_party(verbose)


def quiet_third_party(verbose: bool = False) -> None:
    """pydicom logs decoder tracebacks and warns about odd values; our errors already say what failed and
    where, so the user sees those only with --verbose."""
    if verbose:
        return
    pydicom_log = logging.getLogger("pydicom")
    pydicom_log.handlers[:] = [logging.NullHandler()]
    pydicom_log.propagate = False
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``quantsr`` parser. Given the command line, only the named sub-command's module is imported (the others
    get one-line placeholders), so ``--help`` and argument errors come back at once; without it, every
    sub-command is registered in full."""
    from .commands import register_all, selected_command

    parser = argparse.ArgumentParser(
        prog="quantsr",
        description="Super-resolution of fast synthetic-MRI T1/T2/PD maps (Liu et al. 2026 SRGAN), "
        "with a physics simulator, batch processing, lesion ROI statistics and model training.",
    )
    parser.add_argument("--version", action="version", version=f"quantsr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_all(sub, "" if argv is None else selected_command(argv))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``quantsr ARGS`` (``argv`` None: the process's own arguments; then, once a command has finished, the process
    ends at once: see :func:`_exit_now`)."""
    program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    from .commands import delegated_main

    delegate = delegated_main(argv)  # another package's command that takes the rest, --help included (quantsr train)
    if delegate is not None:
        return delegate(argv[1:])
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    status = run_guarded("quantsr", lambda: handler(args), "no partial output was kept")
    if program:
        _exit_now(status)
    return status


def _exit_now(status: int) -> None:
    """End the process without the interpreter's teardown. Freeing torch's modules, its thread pools and a CUDA
    context is a noticeable share of a short `quantsr sr` (docs/benchmarks.md has the times), and nothing is left
    to do: every output is written (atomically) and closed, and the writer threads joined."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it anyway
            stream.flush()
    os._exit(status)


def run_guarded(prog: str, call: Callable[[], int], on_interrupt: str) -> int:
    """Run a command; QuantSR's errors become one line on stderr and an exit status, never a traceback."""
    try:
        return call()
    except CancelledError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {on_interrupt}", file=sys.stderr)
        return 130
    except QuantSRError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
