"""The board protocol: framing, CRC, commands and NACK reasons (docs/protocol.md).

This module is the single definition of the protocol's constants: `c_header()` renders them as the C header
`hypr_proto_defs.h` that the firmware build uses, so the two sides cannot drift apart.

Frame on the wire (little-endian):

    0x7E | escape( version u8 | seq u8 | cmd u8 | len u16 | payload[len] | crc32 u32 )

`escape` replaces each 0x7E or 0x7D byte by 0x7D, byte ^ 0x20, so 0x7E only ever starts a frame and a receiver
resynchronises on it whatever came before. The CRC is CRC-32/IEEE (zlib.crc32) over the unescaped
version..payload bytes.
"""
from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

VERSION = 1
SOF = 0x7E            # start of frame
ESC = 0x7D            # escape: next byte is XORed with ESC_XOR
ESC_XOR = 0x20
HEADER_BYTES = 5      # version, seq, cmd, len (u16)
CRC_BYTES = 4
MAX_PAYLOAD = 1024    # largest payload either side sends or accepts
REPLY_BIT = 0x80      # reply cmd = request cmd | REPLY_BIT


class Cmd(enum.IntEnum):
    HELLO = 0x01          # -> HelloInfo
    TENSOR_INFO = 0x02    # index u16 -> elem_bytes u8, is_signed u8, writable u8, pad u8, count u32, name
    PING = 0x03           # payload -> same payload
    LOAD_INPUT = 0x10     # offset u32 (int16 elements into the step-major input buffer), int16[] -> (empty)
    RUN = 0x11            # flags u8, pad u8, start u16, n u16, label i16 -> steps u16, pad u16, spikes u32, ticks u32
    READ_OUTPUTS = 0x12   # start u16, n u16 -> int32[n * n_out] (outputs recorded by RUN at those buffer steps)
    STATS = 0x13          # -> Stats
    SPIKE_COUNTS = 0x14   # start u16, n u16 -> uint32[n] spikes per hidden neuron since CLEAR_STATS
    CLEAR_STATS = 0x15    # -> (empty)
    READ_TENSOR = 0x20    # index u16, pad u16, offset u32, count u16 -> raw little-endian elements
    WRITE_TENSOR = 0x21   # index u16, pad u16, offset u32, count u16, raw elements -> (empty)
    RESET = 0x30          # mode u8 (ResetMode) -> (empty)
    EXIT = 0x31           # code u8 -> (empty), then the device ends (QEMU: semihosting exit)
    STATE_INFO = 0x40     # -> image bytes u32, model_hash u32, chunk_pos u32, updates u32 (learning state, §11)
    READ_STATE = 0x41     # offset u32, count u16 -> bytes [offset, offset + count) of the learning-state image
    WRITE_STATE = 0x42    # offset u32, image bytes -> (empty): into the live state, to be checked by COMMIT_STATE
    COMMIT_STATE = 0x43   # -> result i8: 0, or the library's HYPR_STATE_E_* (the device is then at RESET FULL)
    STORE = 0x44          # op u8 (StoreOp), arg u32 -> StoreInfo (the non-volatile store of the learning state)
    NACK = 0x7F           # device -> host only: reason u8, cmd u8, detail u16


class Nack(enum.IntEnum):
    BAD_CRC = 1           # CRC mismatch
    BAD_ESCAPE = 2        # ESC followed by a byte that does not decode to SOF or ESC
    TOO_LONG = 3          # len > MAX_PAYLOAD
    BAD_VERSION = 4       # valid frame, other protocol version
    UNKNOWN_CMD = 5       # valid frame, unknown command
    BAD_LENGTH = 6        # payload length wrong for the command
    BAD_ARG = 7           # argument out of range (index, offset, step range, label)
    READ_ONLY = 8         # WRITE_TENSOR on a tensor that is not writable
    UNSUPPORTED = 9       # command not available on this build (EXIT without semihosting)


class RunFlag(enum.IntFlag):
    LEARN = 1             # hypr_learn_step instead of hypr_step
    RESET_STATE = 2       # hypr_reset_state() before the first step
    END_CHUNK = 4         # hypr_end_chunk() after the last step: apply a partial chunk (only with LEARN)
    TIMING = 8            # record no outputs or spike counts: the run's ticks then count the model alone


class ResetMode(enum.IntEnum):
    STATE = 0             # hypr_reset_state(): keep weights
    FULL = 1              # hypr_init(): weights from the const tables, state zero, stats cleared


class StoreOp(enum.IntEnum):
    QUERY = 0             # nothing: just the StoreInfo
    SAVE = 1              # save the learning state now (into the older of the two slots)
    EVERY = 2             # save after every `arg` chunk updates (checked after each RUN); 0: never by itself
    ERASE = 3             # invalidate both slots


NO_LABEL = -1             # RUN label for steps without a loss

# Fixed-layout payloads (struct formats, little-endian).
HELLO_FMT = "<BBIHHHHHHH"   # version, flags, model_hash, n_in, n_hidden, n_out, chunk, max_payload, buf_steps, n_tensors; then board name
TENSOR_INFO_FMT = "<BBBBI"  # then the name
RUN_REQ_FMT = "<BBHHh"
LOAD_FMT = "<I"
RUN_REPLY_FMT = "<HHII"
RANGE_FMT = "<HH"
TENSOR_REQ_FMT = "<HHIH"
STATS_FMT = "<IIIIQQI"      # steps_infer, steps_learn, runs, spikes, ticks_infer, ticks_learn, tick_hz
NACK_FMT = "<BBH"
STATE_INFO_FMT = "<IIII"    # image bytes, model_hash, chunk_pos, updates
STATE_REQ_FMT = "<IH"       # READ_STATE: offset, count
STATE_WRITE_FMT = "<I"      # WRITE_STATE: offset, then the bytes
STORE_REQ_FMT = "<BI"       # op, arg
STORE_INFO_FMT = "<IIIIIBb"  # nv bytes (0: no store), slot bytes, seq of the newest slot, every, saves since boot, flags, result
STORE_FLAG_READY = 1        # the board has non-volatile storage large enough for two slots
STORE_FLAG_RESTORED = 2     # the learning state was restored from a slot at boot
HELLO_FLAG_SEMIHOSTING = 1  # EXIT is available


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def escape(body: bytes) -> bytes:
    out = bytearray()
    for b in body:
        if b in (SOF, ESC):
            out += bytes((ESC, b ^ ESC_XOR))
        else:
            out.append(b)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    seq: int
    cmd: int
    payload: bytes = b""
    version: int = VERSION


def encode(frame: Frame) -> bytes:
    """Bytes on the wire for one frame."""
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds MAX_PAYLOAD={MAX_PAYLOAD}")
    body = struct.pack("<BBBH", frame.version, frame.seq & 0xFF, frame.cmd, len(frame.payload)) + frame.payload
    return bytes((SOF,)) + escape(body + struct.pack("<I", crc32(body)))


@dataclass(frozen=True)
class DecodeError:
    """A frame the decoder dropped: the same event after which the device sends a NACK."""
    reason: Nack
    seq: int
    cmd: int


class Decoder:
    """Byte-at-a-time frame decoder; the C decoder in firmware/src/proto.c is the same state machine.

    feed() returns the frames and framing errors completed by the bytes given. Bytes outside a frame are
    ignored. An SOF inside a frame drops the partial frame silently (it was truncated) and starts a new one.
    Version and command are not checked here: that is the dispatcher's job.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._in_frame = False
        self._esc = False
        self._buf = bytearray()
        self._need = HEADER_BYTES + CRC_BYTES

    def feed(self, data: bytes) -> list[Frame | DecodeError]:
        events: list[Frame | DecodeError] = []
        for b in data:
            ev = self._byte(b)
            if ev is not None:
                events.append(ev)
        return events

    def _error(self, reason: Nack) -> DecodeError:
        seq = self._buf[1] if len(self._buf) > 1 else 0
        cmd = self._buf[2] if len(self._buf) > 2 else 0
        self._in_frame = False
        return DecodeError(reason, seq, cmd)

    def _byte(self, b: int) -> Frame | DecodeError | None:
        if b == SOF:  # always (re)starts a frame
            self._in_frame, self._esc, self._need = True, False, HEADER_BYTES + CRC_BYTES
            self._buf = bytearray()
            return None
        if not self._in_frame:
            return None
        if self._esc:
            self._esc = False
            b ^= ESC_XOR
            if b not in (SOF, ESC):
                return self._error(Nack.BAD_ESCAPE)
        elif b == ESC:
            self._esc = True
            return None
        self._buf.append(b)
        if len(self._buf) == HEADER_BYTES:
            length = self._buf[3] | (self._buf[4] << 8)
            if length > self.max_payload:
                return self._error(Nack.TOO_LONG)
            self._need = HEADER_BYTES + length + CRC_BYTES
        if len(self._buf) < self._need:
            return None
        self._in_frame = False
        body, crc = bytes(self._buf[:-CRC_BYTES]), struct.unpack("<I", self._buf[-CRC_BYTES:])[0]
        if crc32(body) != crc:
            return DecodeError(Nack.BAD_CRC, body[1], body[2])
        return Frame(seq=body[1], cmd=body[2], payload=body[HEADER_BYTES:], version=body[0])


def c_header() -> str:
    """The protocol constants as a C header (written into each firmware build as hypr_proto_defs.h)."""
    lines = ["/* Generated from host/protocol.py: do not edit. */", "#ifndef HYPR_PROTO_DEFS_H",
             "#define HYPR_PROTO_DEFS_H", ""]
    for name, value in [("VERSION", VERSION), ("SOF", SOF), ("ESC", ESC), ("ESC_XOR", ESC_XOR),
                        ("HEADER_BYTES", HEADER_BYTES), ("CRC_BYTES", CRC_BYTES), ("MAX_PAYLOAD", MAX_PAYLOAD),
                        ("REPLY_BIT", REPLY_BIT), ("NO_LABEL", NO_LABEL),
                        ("HELLO_FLAG_SEMIHOSTING", HELLO_FLAG_SEMIHOSTING), ("STORE_FLAG_READY", STORE_FLAG_READY),
                        ("STORE_FLAG_RESTORED", STORE_FLAG_RESTORED)]:
        lines.append(f"#define HP_{name} ({value})")
    for enum_cls, prefix in [(Cmd, "HP_CMD_"), (Nack, "HP_NACK_"), (RunFlag, "HP_RUN_"), (ResetMode, "HP_RESET_"),
                             (StoreOp, "HP_STORE_")]:
        lines.append("")
        lines += [f"#define {prefix}{m.name} {int(m.value)}u" for m in enum_cls]
    lines += ["", "#endif", ""]
    return "\n".join(lines)
