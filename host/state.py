"""Host side of the learning-state commands (docs/protocol.md): read a device's learning-state image, load one into
it, and drive its non-volatile store. Functions of a `Board` (host/client.py), in pieces within MAX_PAYLOAD."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from . import protocol as P
from .client import ProtocolError
from .protocol import Cmd, StoreOp

#: the library's HYPR_STATE_E_* codes (hypr_model.h), as COMMIT_STATE returns them
STATE_ERRORS = {-1: "not this model's image size or learning mode", -2: "not a learning-state image (or another "
                "layout version)", -3: "the state of another model", -4: "damaged (CRC mismatch)",
                -5: "a value no run of the library reaches (chunk position, spikes, PRNG, buffers)"}


class StateRejected(Exception):
    """The device refused a learning-state image; it is then back at its flashed weights (RESET FULL)."""


@dataclass(frozen=True)
class StateInfo:
    size: int            # bytes of the learning-state image
    model_hash: int
    chunk_pos: int
    updates: int


@dataclass(frozen=True)
class StoreInfo:
    nv_bytes: int        # the board's non-volatile bytes (0: none)
    slot_bytes: int      # 0: no room for two slots
    seq: int             # sequence number of the newest saved slot (0: none)
    every: int           # chunk updates between automatic saves (0: only on request)
    saves: int           # saves since boot
    flags: int
    result: int          # of the last save or restore: 0, or negative

    @property
    def ready(self) -> bool:
        return bool(self.flags & P.STORE_FLAG_READY)

    @property
    def restored(self) -> bool:
        """The learning state was loaded from the store at boot."""
        return bool(self.flags & P.STORE_FLAG_RESTORED)


def state_info(board) -> StateInfo:
    return StateInfo(*struct.unpack(P.STATE_INFO_FMT, board.request(Cmd.STATE_INFO)))


def read_state(board) -> bytes:
    """The device's learning-state image (hypr_state_read), as hypr_edge.fixed.learning_state.pack writes it.
    The host sends nothing else in between, so the pieces belong to one state."""
    size = state_info(board).size
    parts = [board.request(Cmd.READ_STATE, struct.pack(P.STATE_REQ_FMT, off, min(P.MAX_PAYLOAD, size - off)))
             for off in range(0, size, P.MAX_PAYLOAD)]
    image = b"".join(parts)
    if len(image) != size:
        raise ProtocolError(f"read {len(image)} bytes of a {size}-byte state image")
    return image


def write_state(board, image: bytes) -> None:
    """Load a learning-state image into the device (WRITE_STATE pieces, then COMMIT_STATE, which checks the
    header, model hash, CRC and values); raises StateRejected with the device's reason."""
    per = P.MAX_PAYLOAD - struct.calcsize(P.STATE_WRITE_FMT)
    for off in range(0, len(image), per):
        board.request(Cmd.WRITE_STATE, struct.pack(P.STATE_WRITE_FMT, off) + bytes(image[off:off + per]))
    (result,) = struct.unpack("<b", board.request(Cmd.COMMIT_STATE))
    if result:
        raise StateRejected(f"the device refused the learning state: {STATE_ERRORS.get(result, f'error {result}')}")


def store(board, op: StoreOp = StoreOp.QUERY, arg: int = 0) -> StoreInfo:
    """One STORE operation (query, save now, set the period, erase); the store's state after it."""
    data = board.request(Cmd.STORE, struct.pack(P.STORE_REQ_FMT, int(op), arg))
    return StoreInfo(*struct.unpack(P.STORE_INFO_FMT, data))
