"""The board table is the one source of board facts: linker MEMORY, boards.mk, platformio.ini and the --target
board lists come from its rows, so a new board is one row (tests/test_firmware.py runs the real boards)."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from hypr_edge.targets import boards, cortex_m

FAKE_MODEL = Path(__file__).parent / "fixtures" / "fake_model"


def memory_regions(ld: str) -> dict[str, tuple[int, int]]:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20}
    return {m[1]: (int(m[2], 16), int(m[3]) * units[m[4]])
            for m in re.finditer(r"(\w+) \(\w+\) : ORIGIN = 0x([0-9A-F]+), LENGTH = (\d+)([KM]?)", ld)}


@pytest.mark.parametrize("name", list(boards.BOARDS))
def test_linker_memory_is_the_row(name):
    b = boards.BOARDS[name]
    assert memory_regions(b.linker_script()) == {"FLASH": (b.flash.origin, b.flash.size),
                                                 "RAM": (b.ram.origin, b.ram.size)}


def test_target_lists_come_from_the_rows():
    listed = [n for names in boards.CPU_BOARDS.values() for n in names]
    assert sorted(listed) == sorted(boards.BOARDS)
    assert all(boards.BOARDS[n].cpu == cpu for cpu, names in boards.CPU_BOARDS.items() for n in names)
    with pytest.raises(ValueError, match="unknown target"):
        boards.boards_for("cortex-m0")


def test_a_new_board_is_one_row(tmp_path, monkeypatch):
    """An invented board (the MPS2 AN386 with 4 MiB code and 256 KiB RAM at another address) is added as one row:
    the folder lists it everywhere, and the link places RAM where the row says."""
    row = replace(boards.BOARDS["mps2-an386"], name="test-board", ram=boards.Region(0x20100000, 256 * boards.KIB))
    monkeypatch.setitem(boards.BOARDS, "test-board", row)
    folder = cortex_m.write_firmware(tmp_path, target="cortex-m4", board="test-board", model_dir=FAKE_MODEL)
    assert "DEFAULT_BOARD := test-board" in (folder / "boards.mk").read_text()
    assert "[env:test-board]" in (folder / "platformio.ini").read_text()
    assert memory_regions((folder / "runtime" / "ld" / "test-board.ld").read_text())["RAM"] == (0x20100000, 256 << 10)
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc for the link")
    elf = cortex_m.build_firmware(folder)
    assert re.search(r"RAM:\s+\d+ B\s+256 KB", (elf.parent / "memory.txt").read_text())
    symbols = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    estack = int(re.search(r"^([0-9a-f]+) \w _estack$", symbols, re.M)[1], 16)
    assert 0x20100000 < estack <= 0x20100000 + (256 << 10)
