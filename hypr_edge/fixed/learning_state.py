"""The learning state of docs/fixed-point.md §11 as one byte image: its layout, packing, validation, and the
emulator's view of it. The C twin is firmware/hypr/hypr_state.h (hypr_state_read / hypr_state_load): both write
the same image for the same state, byte for byte, so an image moves freely between a device, the emulator and a
checkpoint file (hypr_edge/checkpoint.py).

Image (little-endian): a 20-byte header, then the fields of `layout(qm)` in order, each the C variable's bytes.
Chunk buffers hold data only for the steps buffered so far (chunk position `pos`); the rest is zero, so the image
of a state is unique (`pack` zeroes it, `unpack` and the C reject an image where it is not zero).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = 0x54535948         # "HYST"
VERSION = 1
HEADER_FMT = "<IHHIII"     # magic, version, flags (1: the hidden layer learns), model hash, image bytes, body CRC-32
HEADER_BYTES = struct.calcsize(HEADER_FMT)

ALL, CHUNK, ROWS = "all", "chunk", "rows"   # a field is valid always, while pos > 0, or for its first pos rows


class StateError(ValueError):
    """An image that is not a valid learning state of this model; the message says why in one line."""


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str            # numpy dtype of the C variable (little-endian)
    shape: tuple          # shape of the array the emulator-side dict holds
    valid: str            # ALL, CHUNK or ROWS

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def spike_word_bits(chunk: int) -> int:
    """Width of the words that buffer one neuron's spikes z_1..z_lambda (hypr_step.h ZWB)."""
    return 8 if chunk <= 8 else 16 if chunk <= 16 else 32


def spike_bytes_per_neuron(chunk: int) -> int:
    w = spike_word_bits(chunk)
    return -(-chunk // w) * w // 8


def layout(qm) -> list[Field]:
    """The fields of the image body in order (docs/fixed-point.md §11); those of the hidden layer's learning only
    when it learns (learn = "all")."""
    n, m, d, c, lam, ni = qm.n_hidden, qm.m, qm.d, qm.n_out, qm.chunk, qm.n_in
    hidden = qm.learn == "all"
    f = [Field("prng", "<u4", (), ALL), Field("updates", "<u4", (), ALL), Field("pos", "<u4", (), ALL)]
    if hidden:
        f.append(Field("w", "<i2", (n, m), ALL))
    f += [Field("wo", "<i2", (c, n + 1), ALL), Field("s", "<i4", (n, d), ALL), Field("z", "u1", (n,), ALL),
          Field("o", "<i4", (c,), ALL)]
    if hidden:   # int16 or int8 (docs/fixed-point.md §2.1): the C's elig_t
        f.append(Field("e", "<i2" if qm.eligibility_bits == 16 else "i1", (n, m, d), ALL))
    f.append(Field("eo", "<i2", (c, n + 1), ALL))
    if hidden:
        f += [Field("s0", "<i4", (n, d), CHUNK), Field("buf_x", "<i2", (lam, ni), ROWS),
              Field("buf_z0", "u1", ((n + 7) // 8,), CHUNK)]
    f += [Field("buf_z", "u1", (n, spike_bytes_per_neuron(lam)), CHUNK), Field("buf_eps", "<i4", (lam, c), ROWS)]
    return f


def image_size(qm) -> int:
    return HEADER_BYTES + sum(f.nbytes for f in layout(qm))


def _valid_rows(f: Field, pos: int) -> int:
    """How many leading rows (first axis; CHUNK fields: all or none) of a field hold data at chunk position pos."""
    if f.valid == ALL:
        return f.shape[0] if f.shape else 1
    if pos == 0:
        return 0
    return f.shape[0] if f.valid == CHUNK else pos


def pack(qm, state: dict) -> bytes:
    """The image of a state dict (the names and shapes of `layout`); buffer rows past `pos` are written as zero."""
    pos = int(state["pos"])
    body = []
    for f in layout(qm):
        a = np.asarray(state[f.name])
        if a.shape != f.shape:
            raise StateError(f"state field {f.name} has shape {a.shape}, the model needs {f.shape}")
        a = np.array(a, dtype=f.dtype, copy=True)
        if f.shape and f.valid != ALL:
            a[_valid_rows(f, pos):] = 0
        body.append(a.tobytes())
    body = b"".join(body)
    head = struct.pack(HEADER_FMT, MAGIC, VERSION, int(qm.learn == "all"), qm.model_hash(),
                       HEADER_BYTES + len(body), zlib.crc32(body) & 0xFFFFFFFF)
    return head + body


def check_header(qm, image: bytes) -> None:
    """Raise StateError unless `image` starts like a state image of this model (the C: check_head)."""
    size = image_size(qm)
    if len(image) < HEADER_BYTES:
        raise StateError(f"state image of {len(image)} bytes is shorter than its {HEADER_BYTES}-byte header")
    magic, version, flags, mhash, nbytes, _ = struct.unpack_from(HEADER_FMT, image)
    if magic != MAGIC:
        raise StateError("not a learning-state image (bad magic)")
    if version != VERSION:
        raise StateError(f"learning-state layout version {version}, this hypr-edge reads {VERSION}")
    if mhash != qm.model_hash():
        raise StateError(f"the state belongs to model {mhash:08x}, not to this model {qm.model_hash():08x}")
    if nbytes != size or len(image) != size or flags != int(qm.learn == "all"):
        raise StateError(f"state image of {len(image)} bytes (header: {nbytes}), this model's is {size}")


def unpack(qm, image: bytes) -> dict:
    """The state dict of an image, after the checks of the C's hypr_state_load: header, CRC, and values that no
    run of the library can reach (chunk position, spikes, PRNG, buffer contents past the position)."""
    image = bytes(image)
    check_header(qm, image)
    crc = struct.unpack_from(HEADER_FMT, image)[5]
    if zlib.crc32(image[HEADER_BYTES:]) & 0xFFFFFFFF != crc:
        raise StateError("state image CRC mismatch (damaged)")
    state, off = {}, HEADER_BYTES
    for f in layout(qm):
        a = np.frombuffer(image, dtype=f.dtype, count=int(np.prod(f.shape)), offset=off).reshape(f.shape)
        state[f.name] = a.copy() if f.shape else int(a)
        off += f.nbytes
    check_values(qm, state)
    return state


def check_values(qm, state: dict) -> None:
    """The value checks of hypr_state.h's state_check (StateError with the first that fails)."""
    pos, n = int(state["pos"]), qm.n_hidden
    if not 0 <= pos < qm.chunk:
        raise StateError(f"chunk position {pos} outside 0..{qm.chunk - 1}")
    if int(state["prng"]) == 0:
        raise StateError("PRNG state 0 (xorshift32 would stay 0)")
    if np.any(np.asarray(state["z"]) > 1):
        raise StateError("spikes other than 0 and 1")
    for f in layout(qm):
        if f.shape and f.valid != ALL and np.any(np.asarray(state[f.name])[_valid_rows(f, pos):]):
            raise StateError(f"buffer {f.name} holds data past the chunk position {pos}")
    bits = np.unpackbits(np.asarray(state["buf_z"], np.uint8), axis=1, bitorder="little")
    if pos and np.any(bits[:, pos:]):
        raise StateError(f"spike buffer holds spikes past the chunk position {pos}")
    if "buf_z0" in state:
        z0 = np.unpackbits(np.asarray(state["buf_z0"], np.uint8), bitorder="little")
        if np.any(z0[n:]):
            raise StateError("spike buffer z_0 has bits past the last neuron")


# ------------------------------------------------------------------------------ the emulator's learning state


def emulator_state(emu, stream: int = 0) -> dict:
    """The learning state of one stream of an Emulator, as the dict of `layout` (Emulator.state)."""
    qm, b, pos = emu.qm, stream, emu.pos
    n, lam = qm.n_hidden, qm.chunk
    st = {"prng": int(emu.prng[b]), "updates": int(emu.updates), "pos": int(pos),
          "wo": emu.wo[b], "s": emu.s[b], "z": emu.z[b], "o": emu.o[b], "eo": emu.eo[b]}
    if qm.learn == "all":
        st.update(w=emu.w[b], e=emu.e[b], s0=emu.buf_s0[b], buf_x=emu.buf_x[b],
                  buf_z0=np.packbits(emu.buf_z[b, 0].astype(np.uint8), bitorder="little"))
    # z_1..z_pos of neuron j at bits 0..pos-1 of its bytes
    bits = np.zeros((n, 8 * spike_bytes_per_neuron(lam)), np.uint8)
    bits[:, :pos] = emu.buf_z[b, 1:pos + 1].T
    st["buf_z"] = np.packbits(bits, axis=1, bitorder="little")
    st["buf_eps"] = emu.buf_eps[b]
    return {k: (np.array(v) if not isinstance(v, int) else v) for k, v in st.items()}


def load_emulator_state(emu, state, stream: int | None = None) -> None:
    """Emulator.load_state: `state` is a dict of `layout`, an image (bytes) or a Checkpoint (its `image`;
    hypr_edge/checkpoint.py, which imports this module, not the other way round); into one stream, or every stream
    (stream=None). The position and update count are shared by the emulator's streams: loading one stream of
    several needs them equal to the emulator's."""
    qm = emu.qm
    state = getattr(state, "image", state)
    if isinstance(state, dict):
        state = pack(qm, state)   # canonical, with the header of this model
    st = unpack(qm, state)
    pos, n = st["pos"], qm.n_hidden
    streams = range(emu.B) if stream is None else [stream]
    if stream is not None and emu.B > 1 and (pos != emu.pos or st["updates"] != emu.updates):
        raise StateError(f"stream {stream}: chunk position {pos} and update count {st['updates']} differ from the "
                         f"emulator's other streams ({emu.pos}, {emu.updates})")
    emu.pos, emu.updates = pos, st["updates"]
    bits = np.unpackbits(st["buf_z"], axis=1, bitorder="little")
    for b in streams:
        emu.prng[b] = st["prng"]
        emu.wo[b], emu.s[b], emu.z[b], emu.o[b], emu.eo[b] = st["wo"], st["s"], st["z"], st["o"], st["eo"]
        emu.buf_eps[b] = st["buf_eps"]
        emu.buf_z[b] = 0
        emu.buf_z[b, 1:pos + 1] = bits[:, :pos].T
        if qm.learn == "all":
            emu.w[b], emu.e[b], emu.buf_s0[b], emu.buf_x[b] = st["w"], st["e"], st["s0"], st["buf_x"]
            emu.buf_z[b, 0] = np.unpackbits(st["buf_z0"], bitorder="little")[:n]
        else:
            emu.e[b] = 0
            emu.buf_s0[b], emu.buf_x[b] = 0, 0
