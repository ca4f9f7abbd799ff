"""Firmware runtime in QEMU with the TEST DOUBLE model (tests/fixtures/fake_model): streams through the real
protocol, bit-exact against the model's Python twin; protocol fuzz against the device; reports.
Needs arm-none-eabi-gcc and qemu-system-arm (scripts/setup.sh installs them)."""
import random
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.host import protocol as P
from hypr_edge.host.client import BoardError
from hypr_edge.host.protocol import Cmd, DecodeError, Decoder, Frame, Nack
from hypr_edge.qemu import QemuSession
from hypr_edge.targets import cortex_m as fw
from hypr_edge.targets.boards import BOARDS, qemu_boards

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from fake_model import FakeModel  # noqa: E402
from test_protocol import corrupt  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="needs arm-none-eabi-gcc and qemu-system-arm")
QEMU_BOARDS = [(BOARDS[name].cpu, name) for name in qemu_boards()]  # (target, board), from the board table


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("fw")
    out = {}
    for target in ("cortex-m3", "cortex-m4", "cortex-m7"):
        folder = fw.write_firmware(root / target, target=target, model_dir=FIXTURES / "fake_model")
        for t, board in QEMU_BOARDS:
            if t == target:
                out[board] = (folder, fw.build_firmware(folder, board))
    return out


@pytest.fixture
def device(builds, request):
    board = getattr(request, "param", "mps2-an386")
    with QemuSession(builds[board][1], board) as q:
        dev = q.connect()
        yield dev
        assert q.stop(dev) == 0  # clean semihosting exit
        dev.close()


def sequences(n, T, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(-400, 700, size=(n, T, 3)).astype(np.int16), rng.integers(0, 2, size=n)


@pytest.mark.parametrize("device", [b for _, b in QEMU_BOARDS], indirect=True)
def test_stream_inference_and_learning_bit_exact(device):
    info = device.hello()
    assert (info.n_in, info.n_hidden, info.n_out, info.chunk, info.model_hash) == (3, 5, 2, 4, 0xFA4E0001)
    twin = FakeModel()
    xs, ys = sequences(6, 300, 1)  # 300 steps > the 256-step buffer: sequences cross LOAD/RUN pieces
    for x in xs[:3]:
        out, _ = device.run_sequence(x)
        np.testing.assert_array_equal(out, twin.run_sequence(x))
    for x, y in zip(xs, ys):
        out, _ = device.run_sequence(x, learn=True, label=int(y), loss_steps=37)
        np.testing.assert_array_equal(out, twin.run_sequence(x, learn=True, label=int(y), loss_steps=37))
    np.testing.assert_array_equal(device.read_tensor("w_out"), twin.w_out.ravel())
    assert not np.array_equal(twin.w_out, FakeModel().w_out)  # learning did change the weights
    st = device.stats()
    assert (st.steps_infer, st.steps_learn) == (900, 1800)
    assert st.spikes == device.spike_counts().sum() > 0


def test_tensors_read_write_and_reset(device):
    w = device.read_tensor("w_in")
    device.write_tensor("w_in", -w)
    np.testing.assert_array_equal(device.read_tensor("w_in"), -w)
    device.write_tensor("v", [1, 2], offset=3)
    assert list(device.read_tensor("v")[3:]) == [1, 2]
    device.reset(P.ResetMode.STATE)
    assert not device.read_tensor("v").any()
    np.testing.assert_array_equal(device.read_tensor("w_in"), -w)  # state reset keeps weights
    device.reset(P.ResetMode.FULL)
    np.testing.assert_array_equal(device.read_tensor("w_in"), w)


def test_nack_reasons_for_valid_frames(device):
    def nack(cmd, payload=b""):
        with pytest.raises(BoardError) as e:
            device.request(cmd, payload)
        return Nack(e.value.reason)

    assert nack(0x55) == Nack.UNKNOWN_CMD
    assert nack(Cmd.HELLO, b"x") == Nack.BAD_LENGTH
    assert nack(Cmd.RUN, b"\0" * 7) == Nack.BAD_LENGTH
    assert nack(Cmd.RUN, struct.pack(P.RUN_REQ_FMT, 0, 0, 250, 10, -1)) == Nack.BAD_ARG   # past the buffer
    assert nack(Cmd.RUN, struct.pack(P.RUN_REQ_FMT, 1, 0, 0, 1, 2)) == Nack.BAD_ARG      # label >= n_out
    assert nack(Cmd.RUN, struct.pack(P.RUN_REQ_FMT, 0x80, 0, 0, 1, -1)) == Nack.BAD_ARG  # unknown flag
    assert nack(Cmd.TENSOR_INFO, struct.pack("<H", 5)) == Nack.BAD_ARG
    assert nack(Cmd.READ_TENSOR, struct.pack(P.TENSOR_REQ_FMT, 0, 0, 10, 6)) == Nack.BAD_ARG
    assert nack(Cmd.WRITE_TENSOR, struct.pack(P.TENSOR_REQ_FMT, 4, 0, 0, 1) + b"\0\0") == Nack.READ_ONLY
    assert nack(Cmd.WRITE_TENSOR, struct.pack(P.TENSOR_REQ_FMT, 0, 0, 0, 2) + b"\0\0") == Nack.BAD_LENGTH
    assert nack(Cmd.LOAD_INPUT, struct.pack("<I", 3 * 256 - 1) + b"\0" * 4) == Nack.BAD_ARG
    assert nack(Cmd.RESET, b"\x02") == Nack.BAD_ARG
    # Another protocol version: answered with the device's version as detail.
    device.seq += 1
    device.port.write(P.encode(Frame(device.seq, Cmd.HELLO, b"", version=9)))
    reply = device._wait_reply(device.seq)
    assert reply.cmd == Cmd.NACK and struct.unpack(P.NACK_FMT, reply.payload) == (Nack.BAD_VERSION, Cmd.HELLO, P.VERSION)
    assert device.ping(b"still here") == b"still here"


def snapshot(dev):
    return {name: dev.read_tensor(name).tolist() for name in dev.tensors()} | {"stats": dev.stats()}


def test_fuzz_device_survives_thousands_of_bad_frames(device):
    """Damaged, truncated and random frames (of commands that would change state), each followed by a PING:
    the device answers every PING, sends exactly the NACKs a host decoder fed the same bytes predicts, and its
    weights, state and statistics are unchanged."""
    rng = random.Random(11)
    x, _ = sequences(1, 40, 2)
    device.run_sequence(x[0], learn=True, label=1)  # non-trivial state first
    before = snapshot(device)
    mirror, sent, nacks = Decoder(), 0, 0
    templates = [
        Frame(0, Cmd.WRITE_TENSOR, struct.pack(P.TENSOR_REQ_FMT, 1, 0, 0, 4) + b"\x11\x22" * 4),
        Frame(0, Cmd.RUN, struct.pack(P.RUN_REQ_FMT, 3, 0, 0, 20, 1)),
        Frame(0, Cmd.RESET, b"\x01"),
        Frame(0, Cmd.LOAD_INPUT, struct.pack("<I", 0) + bytes(60)),
        Frame(0, Cmd.CLEAR_STATS),
    ]
    for i in range(3000):
        t = rng.choice(templates)
        good = Frame(rng.randrange(256), t.cmd, t.payload)
        bad = corrupt(rng, P.encode(good))
        trial = Decoder()
        trial.__dict__.update({k: (v.copy() if isinstance(v, bytearray) else v) for k, v in mirror.__dict__.items()})
        if any(isinstance(e, Frame) for e in trial.feed(bad)):
            continue  # the damage left a valid frame (e.g. a dropped trailing byte after a complete frame)
        expect = [e for e in mirror.feed(bad) if isinstance(e, DecodeError)]
        device.seq = (device.seq + 1) & 0xFF
        probe = Frame(device.seq, Cmd.PING, struct.pack("<I", i))
        mirror.feed(P.encode(probe))
        device.port.write(bad + P.encode(probe))
        got = []
        while True:
            ev = device._wait_reply_any()
            assert ev is not None, f"device silent after bad frame {i}: {bad.hex()}"
            if ev.cmd == Cmd.NACK:
                got.append(DecodeError(Nack(ev.payload[0]), ev.seq, ev.payload[1]))
            else:
                assert (ev.seq, ev.cmd, ev.payload) == (probe.seq, Cmd.PING | P.REPLY_BIT, probe.payload)
                break
        assert got == expect, f"frame {i}: {bad.hex()}"
        sent += 1
        nacks += len(got)
    assert sent > 2500 and nacks > 1000
    assert snapshot(device) == before
    out, _ = device.run_sequence(x[0])  # and it still computes correctly
    twin = FakeModel()
    twin.run_sequence(x[0], learn=True, label=1)
    np.testing.assert_array_equal(out, twin.run_sequence(x[0]))


def test_timing_runs_are_deterministic(builds):
    """Under -icount shift=0 a TIMING run executes the same instructions every time, on a fresh QEMU too. Its tick
    count may still differ by one: ticks_sync() polls SysTick in a loop of a few instructions, so a run starts up to
    that many instructions after the tick edge, and a count that ends that close to an edge rounds either way."""
    x, _ = sequences(1, 200, 3)
    counts = []
    for _ in range(2):
        with QemuSession(builds["mps2-an386"][1], "mps2-an386") as q:
            dev = q.connect()
            dev.load_input(0, x[0])
            counts += [dev.run(0, 200, reset_state=True, timing=True).ticks for _ in range(3)]
            dev.close()
    assert max(counts) - min(counts) <= 1 and min(counts) > 0, counts


def test_exit_code_and_reports(builds):
    folder, elf = builds["mps2-an386"]
    with QemuSession(elf, "mps2-an386") as q:
        dev = q.connect()
        dev.exit(5)
        assert q.wait(5) == 5
        dev.close()
    mem = fw.elf_memory_use(elf)
    assert 1000 < mem["flash"] < 64 * 1024 and 0 < mem["ram"] < 64 * 1024
    stack = fw.worst_stack(elf, elf.parent)
    assert 32 < stack < 2048
