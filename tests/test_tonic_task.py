"""`load_task("tonic:SHD", root=...)` (hypr_edge/tasks/tonic_task.py): tonic's datasets and ToFrame give the same
arrays as the built-in `shd` loader, on small files in the published SHD layout (as tests/test_tasks.py writes)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from hypr_edge.tasks import load_task
from shd_files import write_shd


@pytest.fixture
def tonic_root(tmp_path):
    """ROOT/SHD/ as tonic leaves it after its download: the .h5 files beside their .zip. Unsorted times, spikes at
    and past max_time, an empty sample, random samples."""
    folder = tmp_path / "SHD"
    folder.mkdir()
    rng = np.random.default_rng(0)
    times = [[0.015, 0.0, 0.5, 0.5, 0.999, 1.0, 1.3], [0.2549], []]
    times += [rng.uniform(0, 1.3, rng.integers(1, 300)) for _ in range(5)]
    units = [[3, 0, 699, 699, 100, 5, 7], [350], []] + [rng.integers(0, 700, len(t)) for t in times[3:]]
    write_shd(folder / "shd_train.h5", times, units, [4, 19, 0, 1, 2, 3, 4, 5], tonic_extra=True)
    write_shd(folder / "shd_test.h5", times[3:], units[3:], [7, 8, 9, 10, 11], tonic_extra=True)
    for name in ("shd_train.h5.zip", "shd_test.h5.zip"):
        (folder / name).write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("options", [{}, {"steps": 10, "max_time": 2.0, "channels": 7},
                                     {"steps": 250, "channels": 70, "loss_steps": 5}])
def test_tonic_shd_equals_the_builtin_loader(tonic_root, options):
    pytest.importorskip("tonic", reason="needs the 'tonic' extra (scripts/setup.sh installs it)")
    ours = load_task("shd", data=str(tonic_root / "SHD"), **options)
    theirs = load_task("tonic:SHD", root=str(tonic_root), **options)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert ours.x_train.sum() > 100 and (theirs.n_classes, theirs.loss_steps) == (ours.n_classes, ours.loss_steps)
    assert theirs.name == "tonic:SHD"


def test_tonic_errors_are_one_line(tonic_root):
    pytest.importorskip("tonic", reason="needs the 'tonic' extra (scripts/setup.sh installs it)")
    with pytest.raises(ValueError, match="needs root=PATH"):
        load_task("tonic:SHD")
    with pytest.raises(ValueError, match="whole number of microseconds"):
        load_task("tonic:SHD", root=str(tonic_root), steps=3)
    with pytest.raises(ValueError, match="tonic tasks: tonic:SHD, tonic:SSC"):
        load_task("tonic:NMNIST", root=str(tonic_root))
    with pytest.raises(ValueError, match="has no option 'bins'"):
        load_task("tonic:SHD", root=str(tonic_root), bins=3)
    (tonic_root / "SHD" / "shd_test.h5.zip").unlink()
    with pytest.raises(FileNotFoundError, match=r"shd_test.h5.zip' not found; tonic downloads"):
        load_task("tonic:SHD", root=str(tonic_root))


def test_without_tonic_one_line_says_how_to_get_it(tonic_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "tonic", None)
    monkeypatch.setitem(sys.modules, "tonic.datasets", None)
    with pytest.raises(ValueError, match=r"pip install 'hypr-edge\[tonic\]'"):
        load_task("tonic:SHD", root=str(tonic_root))
