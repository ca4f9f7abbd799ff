"""Host side of the board protocol: a `Board` that sends commands over any pyserial URL and checks replies.

Every reply is checked before it is used: its length for the command, and HELLO's sizes (a device reporting
0 outputs or a 0-step buffer is refused). Whatever the device does (silence, garbage, short or absurd replies,
closing the link) ends in a ProtocolError (DeviceGone when the link itself broke) or a BoardError (a NACK) with
a one-line message, within the timeout and retries, never a hang or a struct/numpy error."""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import numpy as np
import serial

from . import protocol as P
from .protocol import Cmd, Nack, RunFlag


FRAMING_NACKS = (Nack.BAD_CRC, Nack.BAD_ESCAPE, Nack.TOO_LONG)


class ProtocolError(Exception):
    """The link failed: no reply, garbled replies after all retries, or a reply that makes no sense."""


class DeviceGone(ProtocolError):
    """The link itself broke: the device was unplugged, QEMU ended, the socket was closed."""


class BoardError(Exception):
    """The device answered with a NACK."""

    def __init__(self, reason: int, cmd: int, detail: int):
        try:
            name = Nack(reason).name
        except ValueError:
            name = f"reason {reason}"
        super().__init__(f"device refused command 0x{cmd:02x}: {name} (detail {detail})")
        self.reason, self.cmd, self.detail = reason, cmd, detail


@dataclass(frozen=True)
class HelloInfo:
    version: int
    flags: int
    model_hash: int
    n_in: int
    n_hidden: int
    n_out: int
    chunk: int
    max_payload: int
    buf_steps: int
    n_tensors: int
    board: str


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    elem_bytes: int
    is_signed: bool
    writable: bool
    count: int

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(f"<{'i' if self.is_signed else 'u'}{self.elem_bytes}")


@dataclass(frozen=True)
class RunResult:
    steps: int
    spikes: int
    ticks: int


@dataclass(frozen=True)
class Stats:
    steps_infer: int
    steps_learn: int
    runs: int
    spikes: int
    ticks_infer: int
    ticks_learn: int
    tick_hz: int


def _unpack(fmt: str, data: bytes, what: str, exact: bool = True) -> tuple:
    """struct.unpack of a reply, or a ProtocolError that says what was short (or long)."""
    n = struct.calcsize(fmt)
    if len(data) < n or (exact and len(data) != n):
        raise ProtocolError(f"malformed {what} from the device: {len(data)} bytes, expected {n}")
    return struct.unpack(fmt, data[:n])


def _text(data: bytes) -> str:
    """A name sent by the device, printable whatever its bytes."""
    return "".join(c if c.isprintable() else "?" for c in data.decode("ascii", "replace"))


def open_port(url: str, timeout: float = 0.05):
    """Any pyserial URL: /dev/ttyACM0, socket://127.0.0.1:PORT, loop://. `timeout` is the read poll interval:
    Board keeps its own deadlines, so it stays short."""
    try:
        return serial.serial_for_url(url, baudrate=115200, timeout=timeout)
    except (serial.SerialException, ValueError) as err:
        raise ProtocolError(f"cannot open {url}: {err}") from err


class Board:
    """One device behind a serial link. Requests are strictly one at a time (the device answers each frame
    before reading the next); a lost or garbled reply is retried with the same sequence number, which the
    device recognises and answers from its reply cache without running the command twice."""

    def __init__(self, port, timeout: float = 5.0, retries: int = 2):
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.seq = 0
        self.decoder = P.Decoder()
        self.garbled_replies = 0
        self.garbled_requests = 0
        self._hello: HelloInfo | None = None
        self._tensors: dict[str, TensorInfo] | None = None

    @classmethod
    def open(cls, url: str, **kw) -> "Board":
        return cls(open_port(url), **kw)

    def sync(self, timeout: float = 5.0) -> None:
        """Wait until the device answers a PING (it may still be booting, or have dropped bytes sent before its
        UART was enabled); short tries, so a lost first frame costs 0.1 s, not a full timeout."""
        deadline = time.monotonic() + timeout
        saved = self.timeout, self.retries
        self.timeout, self.retries = 0.1, 0
        try:
            while True:
                try:
                    self.ping(b"sync")
                    return
                except DeviceGone:
                    raise
                except ProtocolError:
                    if time.monotonic() > deadline:
                        raise ProtocolError(f"device does not answer (waited {timeout:.1f} s)") from None
        finally:
            self.timeout, self.retries = saved

    def close(self) -> None:
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass   # already gone

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transport ---------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as err:
            raise DeviceGone(f"lost the link to the device ({err})") from None

    def _read(self, n: int | None = None) -> bytes:
        """n bytes, or what is waiting (at least one: blocks up to the port's poll interval)."""
        try:
            return self.port.read(n or max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as err:
            raise DeviceGone(f"lost the link to the device ({err})") from None

    def request(self, cmd: int, payload: bytes = b"") -> bytes:
        self.seq = (self.seq + 1) & 0xFF
        wire = P.encode(P.Frame(self.seq, cmd, payload))
        for _attempt in range(self.retries + 1):
            self._write(wire)
            reply = self._wait_reply(self.seq)
            if reply is None:
                continue
            if reply.cmd == Cmd.NACK:
                reason, rcmd, detail = _unpack(P.NACK_FMT, reply.payload, "NACK")
                if reason in FRAMING_NACKS:  # our frame arrived damaged: send it again
                    self.garbled_requests += 1
                    continue
                raise BoardError(reason, rcmd, detail)
            if reply.cmd != (cmd | P.REPLY_BIT):
                raise ProtocolError(f"reply 0x{reply.cmd:02x} to command 0x{cmd:02x}")
            return reply.payload
        raise ProtocolError(f"no valid reply to command 0x{cmd:02x} after {self.retries + 1} tries")

    def _wait_reply_any(self) -> P.Frame | None:
        """The next frame from the device, whatever its sequence number (None on timeout or a garbled frame)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for ev in self.decoder.feed(self._read(1)):
                return ev if isinstance(ev, P.Frame) else None
        return None

    def _wait_reply(self, seq: int) -> P.Frame | None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for ev in self.decoder.feed(self._read()):
                if isinstance(ev, P.DecodeError):
                    self.garbled_replies += 1
                    return None
                if ev.version != P.VERSION:
                    raise ProtocolError(f"device speaks protocol version {ev.version}, host {P.VERSION}")
                if ev.seq == seq:
                    return ev
                # A reply to an earlier frame (e.g. a NACK for garbage sent before): not ours, skip it.
        return None

    # -- commands ----------------------------------------------------------------------------------
    def hello(self) -> HelloInfo:
        data = self.request(Cmd.HELLO)
        n = struct.calcsize(P.HELLO_FMT)
        info = HelloInfo(*_unpack(P.HELLO_FMT, data, "HELLO reply", exact=False), board=_text(data[n:]))
        if info.version != P.VERSION:
            raise ProtocolError(f"device reports protocol version {info.version}, host {P.VERSION}")
        zero = [f for f in ("n_in", "n_hidden", "n_out", "chunk", "buf_steps") if getattr(info, f) == 0]
        if zero:
            raise ProtocolError(f"device reports {' and '.join(f + ' = 0' for f in zero)}: not a usable model")
        if info.max_payload < P.MAX_PAYLOAD:
            raise ProtocolError(f"device accepts payloads of {info.max_payload} bytes, the host sends up to "
                                f"{P.MAX_PAYLOAD}")
        self._hello = info
        return info

    @property
    def info(self) -> HelloInfo:
        return self._hello or self.hello()

    def ping(self, data: bytes = b"") -> bytes:
        return self.request(Cmd.PING, data)

    def tensor_info(self, index: int) -> TensorInfo:
        data = self.request(Cmd.TENSOR_INFO, struct.pack("<H", index))
        n = struct.calcsize(P.TENSOR_INFO_FMT)
        eb, sg, wr, _pad, count = _unpack(P.TENSOR_INFO_FMT, data, "TENSOR_INFO reply", exact=False)
        if eb not in (1, 2, 4, 8):
            raise ProtocolError(f"device reports tensor {index} with {eb}-byte elements")
        return TensorInfo(index, _text(data[n:]), eb, bool(sg), bool(wr), count)

    def tensors(self) -> dict[str, TensorInfo]:
        if self._tensors is None:
            self._tensors = {t.name: t for t in (self.tensor_info(i) for i in range(self.info.n_tensors))}
        return self._tensors

    def _tensor(self, name: str | int) -> TensorInfo:
        found = [t for t in self.tensors().values() if (t.index if isinstance(name, int) else t.name) == name]
        if not found:
            raise ProtocolError(f"no tensor {name!r} on the device (has {', '.join(self.tensors()) or 'none'})")
        return found[0]

    def read_tensor(self, name: str | int) -> np.ndarray:
        t = self._tensor(name)
        per = P.MAX_PAYLOAD // t.elem_bytes
        parts = []
        for off in range(0, t.count, per):
            n = min(per, t.count - off)
            part = self.request(Cmd.READ_TENSOR, struct.pack(P.TENSOR_REQ_FMT, t.index, 0, off, n))
            if len(part) != n * t.elem_bytes:
                raise ProtocolError(f"malformed READ_TENSOR reply from the device: {len(part)} bytes, "
                                    f"expected {n * t.elem_bytes}")
            parts.append(part)
        return np.frombuffer(b"".join(parts), dtype=t.dtype).copy()

    def write_tensor(self, name: str | int, values, offset: int = 0) -> None:
        t = self._tensor(name)
        raw = np.asarray(values).astype(t.dtype).reshape(-1).tobytes()
        head = struct.calcsize(P.TENSOR_REQ_FMT)
        per = (P.MAX_PAYLOAD - head) // t.elem_bytes
        for i in range(0, len(raw) // t.elem_bytes, per):
            chunk = raw[i * t.elem_bytes:(i + per) * t.elem_bytes]
            n = len(chunk) // t.elem_bytes
            self.request(Cmd.WRITE_TENSOR, struct.pack(P.TENSOR_REQ_FMT, t.index, 0, offset + i, n) + chunk)

    def load_input(self, start: int, x: np.ndarray) -> None:
        """x: int16 (n, n_in) written to the device's input buffer from step `start` (split into frames)."""
        raw = np.ascontiguousarray(x, dtype="<i2").reshape(-1).tobytes()
        per = (P.MAX_PAYLOAD - struct.calcsize(P.LOAD_FMT)) // 2 * 2
        base = start * self.info.n_in
        for i in range(0, len(raw), per):
            self.request(Cmd.LOAD_INPUT, struct.pack(P.LOAD_FMT, base + i // 2) + raw[i:i + per])

    def run(self, start: int, n: int, *, learn: bool = False, label: int = P.NO_LABEL,
            reset_state: bool = False, end_chunk: bool = False, timing: bool = False) -> RunResult:
        """Steps [start, start + n) of the input buffer. Only a learning run changes weights: end_chunk (apply the
        buffered partial chunk's update) is part of learning and needs learn=True (docs/protocol.md)."""
        if end_chunk and not learn:
            raise ValueError("end_chunk applies a learning update: it needs learn=True")
        flags = (RunFlag.LEARN if learn else 0) | (RunFlag.RESET_STATE if reset_state else 0) \
            | (RunFlag.END_CHUNK if end_chunk else 0) | (RunFlag.TIMING if timing else 0)
        data = self.request(Cmd.RUN, struct.pack(P.RUN_REQ_FMT, int(flags), 0, start, n, label))
        steps, _pad, spikes, ticks = _unpack(P.RUN_REPLY_FMT, data, "RUN reply")
        if steps != n:
            raise ProtocolError(f"device ran {steps} steps, asked for {n}")
        return RunResult(steps, spikes, ticks)

    def read_outputs(self, start: int, n: int) -> np.ndarray:
        n_out = self.info.n_out
        per = max(1, P.MAX_PAYLOAD // (4 * n_out))
        parts = []
        for s in range(start, start + n, per):
            k = min(per, start + n - s)
            part = self.request(Cmd.READ_OUTPUTS, struct.pack(P.RANGE_FMT, s, k))
            if len(part) != 4 * k * n_out:
                raise ProtocolError(f"malformed READ_OUTPUTS reply from the device: {len(part)} bytes, "
                                    f"expected {4 * k * n_out}")
            parts.append(part)
        return np.frombuffer(b"".join(parts), dtype="<i4").reshape(n, n_out).copy()

    def stats(self) -> Stats:
        return Stats(*_unpack(P.STATS_FMT, self.request(Cmd.STATS), "STATS reply"))

    def spike_counts(self) -> np.ndarray:
        n = self.info.n_hidden
        per = P.MAX_PAYLOAD // 4
        parts = []
        for s in range(0, n, per):
            part = self.request(Cmd.SPIKE_COUNTS, struct.pack(P.RANGE_FMT, s, min(per, n - s)))
            if len(part) != 4 * min(per, n - s):
                raise ProtocolError(f"malformed SPIKE_COUNTS reply from the device: {len(part)} bytes, "
                                    f"expected {4 * min(per, n - s)}")
            parts.append(part)
        return np.frombuffer(b"".join(parts), dtype="<u4").copy()

    def clear_stats(self) -> None:
        self.request(Cmd.CLEAR_STATS)

    def reset(self, mode: P.ResetMode = P.ResetMode.STATE) -> None:
        self.request(Cmd.RESET, struct.pack("<B", int(mode)))

    def exit(self, code: int = 0) -> None:
        self.request(Cmd.EXIT, struct.pack("<B", code))

    # -- whole sequences ---------------------------------------------------------------------------
    def run_sequence(self, x: np.ndarray, *, learn: bool = False, label: int = P.NO_LABEL,
                     loss_steps: int | None = None) -> tuple[np.ndarray, int]:
        """Run one sequence x: int16 (T, n_in) from a zero state; returns (outputs int32 (T, n_out), ticks).

        Learning uses `label` on every step, or on the last `loss_steps` steps only, and applies the update of
        the last partial chunk at the end (hypr_end_chunk)."""
        T = x.shape[0]
        info = self.info
        if x.ndim != 2 or x.shape[1] != info.n_in:
            raise ValueError(f"x must be (steps, {info.n_in}) for this device, got {x.shape}")
        per_load = info.buf_steps
        first_loss = 0 if loss_steps is None else max(0, T - loss_steps)
        outputs, ticks = [], 0
        for s in range(0, T, per_load):
            n = min(per_load, T - s)
            self.load_input(0, x[s:s + n])
            # Split the piece where the label starts applying.
            cuts = sorted({0, n, *([first_loss - s] if learn and 0 < first_loss - s < n else [])})
            for a, b in zip(cuts, cuts[1:]):
                lab = label if (learn and s + a >= first_loss) else P.NO_LABEL
                r = self.run(a, b - a, learn=learn, label=lab, reset_state=(s + a == 0),
                             end_chunk=(learn and s + b == T))
                ticks += r.ticks
            outputs.append(self.read_outputs(0, n))
        return np.concatenate(outputs, axis=0), ticks
