"""Errors shared across the package's layers.

CommandError is raised by any command (or the code under it) for bad user input; `hypr-edge` prints it as one
line and exits with code 2. It lives here, not in cli.py, so that commands import it without importing the CLI.
Terminated is what SIGTERM / SIGHUP become inside `hypr-edge` (hypr_edge/cli.py): like Ctrl-C it unwinds the
stack, so every `finally` and context manager runs (QEMU is stopped, temporary files removed).
"""


class CommandError(Exception):
    """A user error: printed as one line, exit code 2, no traceback."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, SIGHUP); a KeyboardInterrupt so that `except Exception` never
    swallows it."""
