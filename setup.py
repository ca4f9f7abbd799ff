"""Which files the wheel carries (the rest of the metadata is in pyproject.toml).

The repository keeps the design card's top-level folders; the wheel maps them into the package, so an installed
hypr-edge finds them with importlib.resources (hypr_edge/resources.py):
    hypr_edge/  -> hypr_edge          (Python)
    host/       -> hypr_edge.host     (Python: the board protocol and client)
    templates/  -> hypr_edge/templates  (data: the Jinja templates of the generated C)
    firmware/   -> hypr_edge/firmware   (data: C runtime and kernels, linker scripts, PlatformIO platform)
"""
from pathlib import Path

from setuptools import find_packages, setup

MAPPED = {"hypr_edge.host": "host", "hypr_edge.templates": "templates", "hypr_edge.firmware": "firmware"}
DATA = ("hypr_edge.templates", "hypr_edge.firmware")


def data_packages(package: str) -> list[str]:
    """The package and one entry per subfolder (package data is listed per folder)."""
    root = Path(MAPPED[package])
    subs = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_dir() and p.name != "__pycache__")
    return [package] + [".".join((package, *p.parts)) for p in subs]


packages = find_packages(include=["hypr_edge", "hypr_edge.*"]) + ["hypr_edge.host"]
data = [name for package in DATA for name in data_packages(package)]
setup(packages=packages + data, package_dir=MAPPED, package_data={name: ["*"] for name in data},
      exclude_package_data={"": ["*.pyc"]})
