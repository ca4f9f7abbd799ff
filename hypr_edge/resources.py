"""Where the package's non-Python files live: the Jinja templates and the hand-written C (firmware/).

In the repository they are the top-level folders `templates/` and `firmware/` (the design card's layout); the
wheel maps them into the installed package as `hypr_edge/templates` and `hypr_edge/firmware`. Every reader asks
here, never builds a path from `__file__` itself.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path


class ResourceError(RuntimeError):
    """A packaged resource folder is missing (a broken install)."""


@lru_cache(maxsize=None)
def _resource(name: str) -> Path:
    installed = Path(str(resources.files("hypr_edge") / name))
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[1] / name
    if checkout.is_dir():
        return checkout
    raise ResourceError(f"hypr-edge's {name}/ folder is missing: looked in {installed} and {checkout}; reinstall the package")


def templates_dir() -> Path:
    """The Jinja templates of the generated C."""
    return _resource("templates")


def firmware_dir() -> Path:
    """The hand-written C: kernels, runtime, board support, linker scripts, PlatformIO platform."""
    return _resource("firmware")
