"""Outputs never destroy (hypr_edge/outputs.py): `generate` into a folder holding the user's files keeps every one of
them or refuses clearly, regenerating replaces only the files hypr-edge wrote (its manifest), and a failed run
leaves the folder as it was."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hypr_edge.cli import main
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.outputs import MANIFEST, OutputError, OutputFolder, atomic_path
from hypr_edge.targets import registry
from hypr_edge.targets.registry import TARGETS, generate


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    qm = random_qmodel(np.random.default_rng(5), "lif", 3, 4, 2, True, 4, "all")
    path = tmp_path_factory.mktemp("model") / "m.q.npz"
    qm.save(path)
    return qm, path


def snapshot(folder) -> dict[str, bytes]:
    """Every file under `folder` (the manifest included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def user_folder(root, makefile: bool = True):
    """A folder of the user's: notes at the top, files in model/ and runtime/, and (optionally) a Makefile."""
    (root / "model").mkdir(parents=True)
    (root / "runtime").mkdir()
    (root / "notes.txt").write_text("my notes\n")
    (root / "model" / "my_model.txt").write_text("keep me\n")
    (root / "runtime" / "my_driver.c").write_text("int my_driver;\n")
    if makefile:
        (root / "Makefile").write_text("all:\n\techo mine\n")
    return root


def generate_cli(model_path, out, *extra) -> int:
    return main(["generate", str(model_path), "-o", str(out), *extra])


@pytest.mark.parametrize("target", ["cortex-m4", "host", "library", "spinnaker"])
def test_a_folder_of_the_users_is_refused_and_left_as_it_was(tmp_path, model, capsys, target):
    out = user_folder(tmp_path / "proj")
    before = snapshot(out)
    assert generate_cli(model[1], out, "--target", target) == 2
    err = capsys.readouterr().err
    assert "the folder holds files hypr-edge did not write" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(out) == before


def test_force_never_replaces_a_users_makefile(tmp_path, model, capsys):
    out = user_folder(tmp_path / "proj")
    before = snapshot(out)
    assert generate_cli(model[1], out, "--target", "cortex-m4", "--force") == 2
    err = capsys.readouterr().err
    assert "Makefile (yours: hypr-edge did not write it)" in err and "nothing was written" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("target", list(TARGETS))
def test_force_writes_beside_the_users_files(tmp_path, model, capsys, target):
    out = user_folder(tmp_path / "proj", makefile=not target.startswith("cortex"))   # a firmware folder has one
    before = snapshot(out)
    assert generate_cli(model[1], out, "--target", target, "--force") == 0, capsys.readouterr().err
    after = snapshot(out)
    assert all(after[name] == data for name, data in before.items())     # every user file, byte for byte
    listed = json.loads((out / MANIFEST).read_text())["files"]
    assert not set(listed) & set(before)                                  # none of them claimed as hypr-edge's
    assert set(listed) | set(before) | {MANIFEST} == set(after)           # and nothing unlisted appeared


def test_regenerating_replaces_only_listed_files(tmp_path, model, capsys):
    qm, path = model
    out = tmp_path / "fw"
    assert generate_cli(path, out, "--target", "cortex-m4") == 0
    (out / "model" / "mine.h").write_text("/* the user's */\n")      # the user adds files later: allowed, kept
    (out / "build").mkdir()
    (out / "build" / "firmware.elf").write_bytes(b"\x7fELF")
    assert generate_cli(path, out, "--target", "cortex-m4", "--chunk", "2") == 0
    assert (out / "model" / "mine.h").read_text() == "/* the user's */\n"
    assert (out / "build" / "firmware.elf").read_bytes() == b"\x7fELF"
    assert "#define HYPR_CHUNK       2" in (out / "model" / "hypr_model.h").read_text()
    # an edited generated file: refused, then replaced with --force
    (out / "Makefile").write_text("# my edits\n")
    capsys.readouterr()
    assert generate_cli(path, out, "--target", "cortex-m4") == 2
    assert "Makefile (edited since hypr-edge wrote it; --force replaces it)" in capsys.readouterr().err
    assert (out / "Makefile").read_text() == "# my edits\n"
    assert generate_cli(path, out, "--target", "cortex-m4", "--force") == 0
    assert (out / "Makefile").read_text() != "# my edits\n"


def test_files_a_new_run_no_longer_writes_go_unless_edited(tmp_path, model):
    qm, _ = model
    from hypr_edge.spinnaker.generate import generate_spinnaker
    out = tmp_path / "sp"
    generate_spinnaker(qm, out, 3, readout="separate")          # cores 0..3
    (out / "core_2.c").write_text((out / "core_2.c").read_text() + "/* edited */\n")
    generate_spinnaker(qm, out, 1, readout="separate")          # cores 0..1
    assert not (out / "core_3.c").exists()                     # unedited: removed
    assert (out / "core_2.c").read_text().endswith("/* edited */\n")   # edited: kept, and now the user's
    assert "core_2.c" not in json.loads((out / MANIFEST).read_text())["files"]


def test_a_failed_run_changes_nothing(tmp_path, model, monkeypatch):
    qm, _ = model
    out = tmp_path / "lib"
    generate(qm, out, "library")
    before = snapshot(out)

    def half_then_fail(qm, folder):
        (folder / "library.json").write_text("half")
        raise RuntimeError("disk full")
    monkeypatch.setitem(TARGETS, "library", registry.Target("library", "", half_then_fail))
    with pytest.raises(RuntimeError):
        generate(qm, out, "library")
    assert snapshot(out) == before and [p.name for p in out.iterdir() if p.name.startswith(".hypr")] == [MANIFEST]
    new = tmp_path / "a" / "b" / "new"
    with pytest.raises(RuntimeError):
        generate(qm, new, "library")
    assert not (tmp_path / "a").exists()                       # folders it created for the run are gone too


def test_links_and_damaged_manifests_are_never_followed(tmp_path, model):
    qm, _ = model
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("precious")
    out = tmp_path / "lib"
    generate(qm, out, "library")
    # a manifest that claims a file outside the folder: damaged, refused
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"]["../outside/precious.txt"] = "0" * 64
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(OutputError, match="damaged"):
        generate(qm, out, "library")
    (out / MANIFEST).write_text("[not json")
    with pytest.raises(OutputError, match="damaged"):
        generate(qm, out, "library")
    # a generated subfolder replaced by a link to somewhere else: refused, nothing written through it
    out2 = tmp_path / "lib2"
    generate(qm, out2, "library")
    import shutil
    shutil.rmtree(out2 / "src")
    os.symlink(outside, out2 / "src")
    with pytest.raises(OutputError, match="a link where hypr-edge writes a folder"):
        generate(qm, out2, "library")
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]


def test_output_path_that_is_a_file(tmp_path, model):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        generate(model[0], tmp_path / "f", "host")
    assert (tmp_path / "f").read_text() == "x"


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "first" and sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "new" / "deeper" / "x.npz"):
            raise ValueError
    assert not (tmp_path / "new").exists()


def test_model_save_is_atomic(tmp_path, model, monkeypatch):
    qm, _ = model
    path = tmp_path / "m.q.npz"
    qm.save(path)
    before = path.read_bytes()

    def broken(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError):
        qm.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.q.npz"]


def test_staging_of_a_killed_run_is_cleaned(tmp_path, model):
    out = tmp_path / "lib"
    generate(model[0], out, "library")
    dead = out / ".hypr-edge-staging-999999999-deadbeef"      # no such process
    dead.mkdir()
    (dead / "half.c").write_text("half")
    with OutputFolder(out) as folder:
        assert not dead.exists()
        folder.commit()
