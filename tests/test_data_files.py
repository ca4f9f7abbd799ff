"""The other files hypr-edge reads are validated like the model file: a bad SHD HDF5 file, a bad WAV or a damaged
firmware folder is one clear error naming the file, never a traceback or a silently wrong result."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from hypr_edge.audio import read_wav, write_wav
from hypr_edge.cli import main
from hypr_edge.targets.cortex_m import FirmwareBuildError, default_board
from hypr_edge.tasks import load_task

import shd_files

h5py = pytest.importorskip("h5py")


def write_shd(path, times, units, labels, time_dtype=np.float32, label_dtype=np.int64):
    """float32 times, int32 units and int64 labels: the loader must take any integer and float dtypes."""
    shd_files.write_shd(path, times, units, labels, time_dtype, np.int32, label_dtype)


GOOD = dict(times=[[0.1, 0.2], [0.5]], units=[[1, 2], [3]], labels=[0, 19])

SHD_CASES = {
    "label 20": dict(GOOD, labels=[0, 20]),
    "negative label": dict(GOOD, labels=[-1, 3]),
    "float labels": dict(GOOD, label_dtype=np.float64),
    "no samples": dict(times=[], units=[], labels=[]),
    "NaN spike time": dict(GOOD, times=[[0.1, np.nan], [0.5]]),
    "infinite spike time": dict(GOOD, times=[[0.1, 0.2], [np.inf]]),
    "negative spike time": dict(GOOD, times=[[-0.1, 0.2], [0.5]]),
    "unit 700": dict(GOOD, units=[[1, 700], [3]]),
    "negative unit": dict(GOOD, units=[[1, -2], [3]]),
    "times and units of different lengths": dict(GOOD, units=[[1], [3]]),
    "fewer labels than samples": dict(GOOD, labels=[4]),
}


@pytest.mark.parametrize("case", list(SHD_CASES))
def test_bad_shd_files_are_refused(tmp_path, case):
    write_shd(tmp_path / "shd_train.h5", **SHD_CASES[case])
    write_shd(tmp_path / "shd_test.h5", **GOOD)
    with pytest.raises(ValueError) as info:
        load_task("shd", data=str(tmp_path))
    assert "shd_train.h5" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all", b"\x89HDF\r\n\x1a\n" + b"\0" * 50])
def test_unreadable_shd_file(tmp_path, content):
    (tmp_path / "shd_train.h5").write_bytes(content)
    write_shd(tmp_path / "shd_test.h5", **GOOD)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_task("shd", data=str(tmp_path))


def test_shd_layout_errors(tmp_path):
    with h5py.File(tmp_path / "shd_train.h5", "w") as f:
        f.create_group("labels")
        f.create_dataset("spikes/times", data=np.zeros(1))
        f.create_dataset("spikes/units", data=np.zeros(1, np.int32))
    write_shd(tmp_path / "shd_test.h5", **GOOD)
    with pytest.raises(ValueError, match="labels is not a data set"):
        load_task("shd", data=str(tmp_path))


def test_a_good_shd_file_still_loads(tmp_path):
    write_shd(tmp_path / "shd_train.h5", **GOOD)
    write_shd(tmp_path / "shd_test.h5", **GOOD)
    d = load_task("shd", data=str(tmp_path), steps=10)
    assert d.x_train.sum() == 3 and list(d.y_train) == [0, 19]


def test_train_reports_a_bad_shd_file_in_one_line(tmp_path, capsys):
    write_shd(tmp_path / "shd_train.h5", **SHD_CASES["label 20"])
    write_shd(tmp_path / "shd_test.h5", **GOOD)
    assert main(["train", "--task", "shd", "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "label 20, outside 0..19" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# ---- WAV -------------------------------------------------------------------------------------------------

def _wav_bytes(tmp_path, n=800, rate=8000, channels=1, width=2):
    p = tmp_path / "src.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x01" * (n * channels * width))
    return p.read_bytes()


def test_bad_wav_files_are_one_line(tmp_path):
    good = _wav_bytes(tmp_path)
    cases = {
        "empty": b"",
        "text": b"hello",
        "truncated header": good[:30],
        "truncated data": good[:-101],
        "odd byte count": good[:-1],
        "huge declared size": good[:40] + (2 ** 31).to_bytes(4, "little") + good[44:],
        "stereo": _wav_bytes(tmp_path, channels=2),
        "8-bit": _wav_bytes(tmp_path, width=1),
        "no samples": _wav_bytes(tmp_path, n=0),
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.wav"
        p.write_bytes(data)
        with pytest.raises(ValueError) as info:
            read_wav(p, rate=8000)
        assert str(p) in str(info.value) and "\n" not in str(info.value), name
    for p in (tmp_path, tmp_path / "missing.wav"):
        with pytest.raises(ValueError, match="not a readable PCM WAV"):
            read_wav(p)
    with pytest.raises(ValueError, match="sample rate 16000 Hz, expected 8000"):
        (tmp_path / "r.wav").write_bytes(_wav_bytes(tmp_path, rate=16000))
        read_wav(tmp_path / "r.wav", rate=8000)


def test_a_good_wav_round_trips(tmp_path):
    x = np.sin(np.arange(400) / 7) * 0.5
    write_wav(tmp_path / "a.wav", x, 8000)
    np.testing.assert_allclose(read_wav(tmp_path / "a.wav", rate=8000), x, atol=1 / 32768)


# ---- firmware folders --------------------------------------------------------------------------------------

@pytest.mark.parametrize("boards_mk,match", [
    ("BOARDS := a b\n", "names no DEFAULT_BOARD"),
    ("DEFAULT_BOARD := no-such-board\n", "is not a board hypr-edge knows"),
    ("DEFAULT_BOARD := ../../../etc\n", "is not a board hypr-edge knows"),
    ("DEFAULT_BOARD := \n", "names no DEFAULT_BOARD"),
])
def test_boards_mk_without_a_known_default_board(tmp_path, boards_mk, match):
    (tmp_path / "boards.mk").write_text(boards_mk)
    with pytest.raises(FirmwareBuildError, match=match):
        default_board(tmp_path)


def test_run_refuses_a_damaged_firmware_folder_in_one_line(tmp_path, capsys):
    (tmp_path / "boards.mk").write_text("BOARDS := x\n")
    assert main(["run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "names no DEFAULT_BOARD" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "empty.elf").write_bytes(b"")
    assert main(["run", str(tmp_path / "empty.elf"), "--board", "mps2-an386"]) == 2
    assert "is not an ELF file (it is empty)" in capsys.readouterr().err
