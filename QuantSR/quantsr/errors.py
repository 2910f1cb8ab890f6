"""QuantSR's own error types: every failure a user can cause is one of these, with a message that
names the file and the problem (the CLI prints the message, never a traceback)."""

from __future__ import annotations

from pathlib import Path


class QuantSRError(Exception):
    """Base class of every error QuantSR raises on purpose."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class InputError(QuantSRError):
    """An input file or folder cannot be used (unreadable, not a map, broken geometry, ...)."""


class ModelError(QuantSRError):
    """A model file is missing, untrusted, corrupt, or does not match the input."""


class OutputError(QuantSRError):
    """An output cannot be written (bad path, would overwrite an input, disk full, ...)."""


class CancelledError(QuantSRError):
    """The user cancelled a long-running operation."""
