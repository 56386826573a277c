"""Errors the command line reports as one message and an exit status (never a traceback)."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
"""A destructive command was not confirmed (declined, or no --yes in a non-interactive session)."""
EXIT_INTERRUPTED: Final = 130


class CliError(Exception):
    """A failure with a message meant for the person at the terminal."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class Refused(CliError):
    """The person (or the lack of one) did not confirm a destructive command."""

    exit_code = EXIT_REFUSED
