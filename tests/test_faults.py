"""Faults at the boundaries (issue 10): a device that answers short, garbled or absurd replies or vanishes; QEMU
killed mid-stream; the host tool terminated or killed while QEMU runs; and the protocol's explicit learning
(a RUN without LEARN never applies a pending update). Each ends in a clear error within seconds, never a hang,
and leaves no qemu-system-arm behind."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.cli import main
from hypr_edge.host import protocol as P
from hypr_edge.host.client import Board, BoardError, DeviceGone, ProtocolError
from hypr_edge.host.protocol import Cmd, Decoder, DecodeError, Frame, Nack

FIXTURES = Path(__file__).parent / "fixtures"
HAVE_FIRMWARE_TOOLS = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))
needs_qemu = pytest.mark.skipif(not HAVE_FIRMWARE_TOOLS, reason="needs arm-none-eabi-gcc and qemu-system-arm")
needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG")


# ------------------------------------------------------------------------------------------- a fake device

class FakeDevice(threading.Thread):
    """TEST DOUBLE of a board on a local TCP port, speaking the framing of hypr_edge/host/protocol.py. It answers
    like a healthy device (a model of the given sizes, no tensors) except for `fault`: on the `nth` request of
    command `cmd` it does `action` instead, and on every later one too:

      ("reply", payload)   a reply frame with this payload     ("nack", payload)   a NACK frame with this payload
      ("frame", Frame)     this frame as it is                 ("raw", bytes)      these bytes, no frame
      ("silent",)          nothing                             ("close",)          closes the connection
      ("garbled",)         a reply with a wrong CRC
      ("flood", bytes)     these bytes over and over, for 30 s (until the host gives up and closes)
    """

    def __init__(self, *, model_hash=0x1234ABCD, n_in=8, n_hidden=12, n_out=10, buf_steps=16, version=P.VERSION,
                 max_payload=P.MAX_PAYLOAD, n_tensors=0, fault=None):
        super().__init__(daemon=True)
        self.hello = struct.pack(P.HELLO_FMT, version, 0, model_hash, n_in, n_hidden, n_out, 4, max_payload,
                                 buf_steps, n_tensors) + b"fake-board"
        self.n_out = n_out
        self.fault = fault   # (cmd, nth, action)
        self.seen: dict[int, int] = {}
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.start()

    def healthy(self, cmd: int, payload: bytes) -> bytes:
        if cmd == Cmd.HELLO:
            return self.hello
        if cmd == Cmd.PING:
            return payload
        if cmd == Cmd.RUN:
            n = struct.unpack(P.RUN_REQ_FMT, payload)[3]
            return struct.pack(P.RUN_REPLY_FMT, n, 0, 0, 100 * n)
        if cmd == Cmd.READ_OUTPUTS:
            return bytes(4 * struct.unpack(P.RANGE_FMT, payload)[1] * self.n_out)
        if cmd == Cmd.STATS:
            return struct.pack(P.STATS_FMT, 0, 0, 0, 0, 0, 0, 25_000_000)
        if cmd == Cmd.TENSOR_INFO:
            return struct.pack(P.TENSOR_INFO_FMT, 2, 1, 1, 0, 4) + b"w_readout"
        return b""

    def run(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            decoder = Decoder()
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                for ev in decoder.feed(data):
                    if isinstance(ev, DecodeError):
                        continue
                    if self.answer(conn, ev) == "closed":
                        return

    def answer(self, conn, ev: Frame):
        self.seen[ev.cmd] = self.seen.get(ev.cmd, 0) + 1
        action = None
        if self.fault and self.fault[0] == ev.cmd and self.seen[ev.cmd] >= self.fault[1]:
            action = self.fault[2]
        reply = P.encode(Frame(ev.seq, ev.cmd | P.REPLY_BIT, self.healthy(ev.cmd, ev.payload)))
        if action is None:
            pass
        elif action[0] == "reply":
            reply = P.encode(Frame(ev.seq, ev.cmd | P.REPLY_BIT, action[1]))
        elif action[0] == "nack":
            reply = P.encode(Frame(ev.seq, Cmd.NACK, action[1]))
        elif action[0] == "frame":
            reply = P.encode(action[1](ev))
        elif action[0] == "raw":
            reply = action[1]
        elif action[0] == "garbled":
            reply = garbled(ev)
        elif action[0] == "silent":
            return None
        elif action[0] == "close":
            conn.close()
            return "closed"
        elif action[0] == "flood":
            end = time.monotonic() + 30
            try:
                while time.monotonic() < end:
                    conn.sendall(action[1])
            except OSError:
                pass
            return "closed"
        try:
            conn.sendall(reply)
        except OSError:
            return "closed"
        return None

    def stop(self):
        self.server.close()


def garbled(ev: Frame) -> bytes:
    wire = bytearray(P.encode(Frame(ev.seq, ev.cmd | P.REPLY_BIT, b"abc")))
    wire[-1] ^= 0xFF   # bad CRC
    return bytes(wire)


SCENARIOS = {   # name: (device, what the host does, error class, words of the message)
    "short-hello": (dict(fault=(Cmd.HELLO, 1, ("reply", b"\x01\x00\x12"))), "hello", ProtocolError,
                    "malformed HELLO reply"),
    "hello-buf-steps-zero": (dict(buf_steps=0), "hello", ProtocolError, "buf_steps = 0"),
    "hello-n-out-zero": (dict(n_out=0), "hello", ProtocolError, "n_out = 0"),
    "hello-n-in-zero": (dict(n_in=0), "hello", ProtocolError, "n_in = 0"),
    "hello-other-version": (dict(version=7), "hello", ProtocolError, "protocol version 7"),
    "hello-tiny-payloads": (dict(max_payload=16), "hello", ProtocolError, "payloads of 16 bytes"),
    "short-nack": (dict(fault=(Cmd.HELLO, 1, ("nack", b"\x07"))), "hello", ProtocolError, "malformed NACK"),
    "nack-unknown-reason": (dict(fault=(Cmd.HELLO, 1, ("nack", struct.pack(P.NACK_FMT, 200, 1, 0)))), "hello",
                            BoardError, "reason 200"),
    "silent": (dict(fault=(Cmd.HELLO, 1, ("silent",))), "hello", ProtocolError, "no valid reply"),
    "garbled-always": (dict(fault=(Cmd.HELLO, 1, ("garbled",))), "hello", ProtocolError, "no valid reply"),
    "garbage-flood": (dict(fault=(Cmd.HELLO, 1, ("flood", bytes(range(256))))), "hello", ProtocolError,
                      "no valid reply"),
    "noise-flood-without-frames": (dict(fault=(Cmd.HELLO, 1, ("flood", b"\x00\x01\x02" * 300))), "hello",
                                   ProtocolError, "no valid reply"),
    "wrong-reply-command": (dict(fault=(Cmd.HELLO, 1, ("frame", lambda ev: Frame(ev.seq, Cmd.STATS | P.REPLY_BIT))
                                        )), "hello", ProtocolError, "reply 0x93 to command 0x01"),
    "frame-of-other-version": (dict(fault=(Cmd.HELLO, 1, ("frame", lambda ev: Frame(ev.seq, ev.cmd | P.REPLY_BIT,
                                                                                    b"", version=9)))),
                               "hello", ProtocolError, "protocol version 9"),
    "replies-to-other-requests": (dict(fault=(Cmd.HELLO, 1, ("frame", lambda ev: Frame(ev.seq + 1, Cmd.HELLO | 0x80,
                                                                                       b"x" * 900)))),
                                  "hello", ProtocolError, "no valid reply"),
    "short-run-reply": (dict(fault=(Cmd.RUN, 1, ("reply", b"\x05\x00"))), "sequence", ProtocolError,
                        "malformed RUN reply"),
    "run-reply-wrong-steps": (dict(fault=(Cmd.RUN, 1, ("reply", struct.pack(P.RUN_REPLY_FMT, 3, 0, 0, 0)))),
                              "sequence", ProtocolError, "ran 3 steps"),
    "short-outputs": (dict(fault=(Cmd.READ_OUTPUTS, 1, ("reply", b"\x00" * 6))), "sequence", ProtocolError,
                      "malformed READ_OUTPUTS"),
    "short-stats": (dict(fault=(Cmd.STATS, 1, ("reply", b"\x00" * 8))), "stats", ProtocolError,
                    "malformed STATS reply"),
    "tensor-of-3-byte-elements": (dict(n_tensors=1, fault=(Cmd.TENSOR_INFO, 1, ("reply", struct.pack(
        P.TENSOR_INFO_FMT, 3, 1, 1, 0, 4) + b"w"))), "tensor", ProtocolError, "3-byte elements"),
    "short-tensor-data": (dict(n_tensors=1, fault=(Cmd.READ_TENSOR, 1, ("reply", b"\x01"))), "tensor",
                          ProtocolError, "malformed READ_TENSOR"),
    "closes-mid-stream": (dict(fault=(Cmd.RUN, 3, ("close",))), "sequence", DeviceGone, "lost the link"),
}


def act(board: Board, what: str):
    if what == "hello":
        return board.hello()
    if what == "stats":
        return board.stats()
    if what == "tensor":
        return board.read_tensor(0)
    for _ in range(5):   # a few sequences of 40 steps: LOAD_INPUT, RUN, READ_OUTPUTS pieces
        board.run_sequence(np.zeros((40, 8), np.int16))


@pytest.mark.parametrize("name", SCENARIOS)
def test_client_gives_a_clear_error_within_seconds(name):
    spec, what, error, words = SCENARIOS[name]
    dev = FakeDevice(**spec)
    board = Board.open(dev.url, timeout=0.3, retries=1)
    t0 = time.monotonic()
    try:
        with pytest.raises(error) as info:
            act(board, what)
    finally:
        board.close()
        dev.stop()
    assert time.monotonic() - t0 < 5, f"{name}: took {time.monotonic() - t0:.1f} s"
    message = str(info.value)
    assert words in message and "\n" not in message, message


def test_client_refuses_end_chunk_without_learning():
    dev = FakeDevice()
    board = Board.open(dev.url, timeout=0.3)
    try:
        with pytest.raises(ValueError, match="needs learn=True"):
            board.run(0, 4, end_chunk=True)
        assert Cmd.RUN not in dev.seen   # refused before anything was sent
    finally:
        board.close()
        dev.stop()


# The stream command against the same fake device: one line, status 2, within seconds, nothing written.
CLI_SCENARIOS = ["short-hello", "hello-buf-steps-zero", "hello-n-out-zero", "short-nack", "garbled-always",
                 "short-run-reply", "short-outputs", "closes-mid-stream", "sizes-disagree-with-the-model"]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from hypr_edge.fixed.random_models import random_qmodel
    qm = random_qmodel(np.random.default_rng(0), "lif", 8, 12, 10, True, 4, "readout")   # the digits task's shape
    path = tmp_path_factory.mktemp("model") / "model.q.npz"
    qm.save(path)
    return qm, path


@pytest.mark.parametrize("name", CLI_SCENARIOS)
def test_stream_command_reports_a_bad_device_in_one_line(name, small_model, tmp_path, monkeypatch, capsys):
    qm, model = small_model
    if name == "sizes-disagree-with-the-model":
        spec, words = dict(n_out=5), "but reports n_in, n_hidden, n_out = 8, 12, 5"
    else:
        spec, words = dict(SCENARIOS[name][0]), SCENARIOS[name][3]
    dev = FakeDevice(**dict(spec, model_hash=qm.model_hash(), n_hidden=qm.n_hidden))
    monkeypatch.chdir(tmp_path)
    t0 = time.monotonic()
    try:
        code = main(["stream", "--port", dev.url, "--model", str(model), "--limit", "3", "--quiet"])
    finally:
        dev.stop()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("hypr-edge stream: error: ") and words in err, err
    assert time.monotonic() - t0 < 20
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- QEMU

def qemu_children(pid: int) -> list[int]:
    """Live qemu-system-arm processes whose parent is pid."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1: stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if comm.startswith("qemu-system") and int(rest[1]) == pid and rest[0] != "Z":
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"   # a zombie has ended (it waits only to be reaped)


def qemu_running_from(folder: Path) -> list[int]:
    """qemu-system-arm processes booting an ELF under `folder` (orphans included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and b"qemu-system" in cmd[0] and any(str(folder).encode() in a for a in cmd) \
                    and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def wait_until(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture(scope="module")
def fake_firmware(tmp_path_factory):
    """The TEST DOUBLE model (tests/fixtures/fake_model) in the real firmware runtime, built for mps2-an386."""
    from hypr_edge.targets import cortex_m as fw
    root = tmp_path_factory.mktemp("fakefw")
    folder = fw.write_firmware(root / "fw", target="cortex-m4", model_dir=FIXTURES / "fake_model")
    return root, fw.build_firmware(folder, "mps2-an386")


@pytest.fixture(scope="module")
def model_firmware(tmp_path_factory, small_model):
    """A generated Cortex-M4 firmware folder of a quantized model, built: what `stream --firmware` boots."""
    from hypr_edge.targets import cortex_m as fw
    from hypr_edge.targets.registry import generate
    root = tmp_path_factory.mktemp("modelfw")
    generate(small_model[0], root / "fw", "cortex-m4")
    fw.build_firmware(root / "fw")
    return root / "fw"


@pytest.fixture(autouse=True)
def no_orphaned_qemu(request):
    """After each QEMU test: nothing left running from its folders."""
    yield
    for name in ("fake_firmware", "model_firmware"):
        if name in request.fixturenames:
            value = request.getfixturevalue(name)
            folder = value[0] if isinstance(value, tuple) else value
            assert wait_until(lambda: not qemu_running_from(folder), 5), qemu_running_from(folder)


@needs_qemu
def test_inference_run_never_applies_a_pending_update(fake_firmware):
    """Item 10: learning steps leave a partial chunk pending; a RUN with END_CHUNK but without LEARN is refused and
    changes nothing, inference steps change nothing; the next learning RUN with END_CHUNK applies the update,
    exactly as the model's twin does with the inference steps in between."""
    sys.path.insert(0, str(FIXTURES))
    from fake_model import FakeModel
    from hypr_edge.qemu import QemuSession
    _, elf = fake_firmware
    x = np.random.default_rng(5).integers(300, 900, size=(8, 3)).astype(np.int16)   # strong: neurons spike
    twin = FakeModel()
    with QemuSession(elf, "mps2-an386") as q:
        dev = q.connect()
        w0 = dev.read_tensor("w_out")
        dev.load_input(0, x)
        dev.run(0, 2, learn=True, label=1, reset_state=True)          # 2 of the chunk's 4 steps: update pending
        for t in range(2):
            twin.learn_step(x[t], 1)
        assert dev.read_tensor("chunk_pos")[0] == 2
        np.testing.assert_array_equal(dev.read_tensor("w_out"), w0)
        with pytest.raises(BoardError) as refused:                    # END_CHUNK without LEARN: refused
            dev.request(Cmd.RUN, struct.pack(P.RUN_REQ_FMT, int(P.RunFlag.END_CHUNK), 0, 2, 1, -1))
        assert refused.value.reason == Nack.BAD_ARG
        dev.run(2, 3)                                                 # inference steps
        for t in range(2, 5):
            twin.step(x[t])
        np.testing.assert_array_equal(dev.read_tensor("w_out"), w0)   # still the flashed weights
        assert dev.read_tensor("chunk_pos")[0] == 2                   # the chunk still pending, untouched
        dev.run(5, 1, learn=True, label=0, end_chunk=True)            # learning: now the update applies
        twin.learn_step(x[5], 0)
        twin.end_chunk()
        w1 = dev.read_tensor("w_out")
        assert not np.array_equal(w1, w0)
        np.testing.assert_array_equal(w1, twin.w_out.ravel())
        assert q.stop(dev) == 0
        dev.close()


@needs_qemu
def test_qemu_killed_mid_stream_is_a_clear_error(fake_firmware):
    from hypr_edge.qemu import QemuSession
    _, elf = fake_firmware
    x = np.random.default_rng(1).integers(-400, 700, size=(300, 3)).astype(np.int16)
    with QemuSession(elf, "mps2-an386") as q:
        dev = q.connect()
        dev.run_sequence(x)
        q.proc.kill()
        t0 = time.monotonic()
        with pytest.raises(ProtocolError) as info:
            for _ in range(3):
                dev.run_sequence(x)
        assert time.monotonic() - t0 < 5
        assert isinstance(info.value, DeviceGone) or "no valid reply" in str(info.value)
        assert q.has_exited() and "killed by signal 9" in str(q.exit_error())
        dev.close()


def start_stream(folder: Path, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """`hypr-edge stream --firmware folder` as a user runs it; returns (process, its QEMU's pid) once streaming."""
    proc = subprocess.Popen([sys.executable, "-m", "hypr_edge", "stream", "--firmware", str(folder), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert wait_until(lambda: qemu_children(proc.pid) or proc.poll() is not None, 60), "QEMU did not start"
    assert proc.poll() is None, proc.communicate()
    qemu = qemu_children(proc.pid)[0]
    time.sleep(1.0)   # connected and streaming: the whole test set takes tens of seconds
    return proc, qemu


@needs_qemu
@needs_linux
def test_stream_reports_qemu_killed_mid_stream(model_firmware, tmp_path):
    proc, qemu = start_stream(model_firmware, tmp_path)
    os.kill(qemu, signal.SIGKILL)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 2, (out, err)
    assert err.count("\n") == 1 and "QEMU was killed by signal 9" in err, err


@needs_qemu
@needs_linux
def test_sigterm_stops_the_stream_and_its_qemu(model_firmware, tmp_path):
    proc, qemu = start_stream(model_firmware, tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, (out, err)
    assert err.strip().endswith("error: terminated (SIGTERM)") and err.count("\n") == 1, err
    assert wait_until(lambda: not alive(qemu), 5)


@needs_qemu
@needs_linux
def test_sigkill_of_the_parent_takes_qemu_with_it(model_firmware, tmp_path):
    """No cleanup code can run on SIGKILL: the kernel ends QEMU (PR_SET_PDEATHSIG, hypr_edge/qemu.py)."""
    proc, qemu = start_stream(model_firmware, tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_until(lambda: not alive(qemu), 3), "QEMU outlived its parent"
