"""Where the package's parts outside hypr_edge/ live: the Jinja templates, the hand-written C (firmware/) and the
board-protocol package (host/).

In the repository they are the top-level folders `templates/`, `firmware/` and `host/` (the design card's
layout); the wheel maps them into the installed package as `hypr_edge/templates`, `hypr_edge/firmware` and the
subpackage `hypr_edge.host` (setup.py). Every reader asks here, never builds a path from `__file__` itself; in a
checkout, `map_checkout_host()` (run by hypr_edge/__init__.py) makes `hypr_edge.host` import from host/.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources
from importlib.util import spec_from_file_location
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


class ResourceError(RuntimeError):
    """A packaged resource folder is missing (a broken install)."""


@lru_cache(maxsize=None)
def _resource(name: str) -> Path:
    installed = Path(str(resources.files("hypr_edge") / name))
    if installed.is_dir():
        return installed
    checkout = PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise ResourceError(f"hypr-edge's {name}/ folder is missing: looked in {installed} and {checkout}; reinstall the package")


def templates_dir() -> Path:
    """The Jinja templates of the generated C."""
    return _resource("templates")


def firmware_dir() -> Path:
    """The hand-written C: kernels, runtime, board support, linker scripts, PlatformIO platform."""
    return _resource("firmware")


class _CheckoutHostFinder:
    """Import hook (sys.meta_path) that finds the package hypr_edge.host in a checkout's top-level host/ folder;
    its submodules are then found through the package's __path__ as usual."""

    def __init__(self, folder: Path):
        self.folder = folder

    def find_spec(self, name, path=None, target=None):
        if name != "hypr_edge.host":
            return None
        return spec_from_file_location(name, self.folder / "__init__.py", submodule_search_locations=[str(self.folder)])


def map_checkout_host() -> None:
    """In a checkout (no hypr_edge/host inside the package), import hypr_edge.host from the top-level host/."""
    folder = PACKAGE_DIR.parent / "host"
    if (PACKAGE_DIR / "host").is_dir() or not (folder / "__init__.py").is_file():
        return  # installed from the wheel: hypr_edge/host is a plain subpackage
    if not any(isinstance(f, _CheckoutHostFinder) for f in sys.meta_path):
        sys.meta_path.append(_CheckoutHostFinder(folder))
