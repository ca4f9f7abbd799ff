"""Checkpoint files: a learning device's complete state with the model it belongs to (docs/firmware.md).

A checkpoint (.ckpt, an uncompressed NumPy .npz) holds three uint8 arrays:

    header  JSON: format, checkpoint_version, model_hash, the sizes of the other two, their SHA-256, and `meta`
            (where the state came from: source, board, updates, stream position)
    model   the quantized model file (.q.npz) the state belongs to, byte for byte
    state   the learning-state image of docs/fixed-point.md §11, as hypr_state_read writes it on a device and
            hypr_edge.fixed.learning_state.pack in the emulator

The loader checks, before reading an array, that the file holds exactly these three, one-dimensional uint8, of the
sizes the header states (the header itself at most 1 MiB, the model at most 256 MiB, the state exactly the size
its model needs); then the SHA-256, the embedded model (QuantizedModel's own checks) and the state image (header,
model hash, CRC, values). A checkpoint from a device loads into the emulator and the other way round.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fixed import learning_state
from .fixed.learning_state import StateError
from .fixed.qmodel import QuantizedModel, QuantizeError
from .outputs import atomic_path

FORMAT = "hypr-edge checkpoint"
CHECKPOINT_VERSION = 1
ARRAYS = ("header", "model", "state")
MAX_HEADER = 1 << 20
MAX_MODEL = 256 << 20


class CheckpointError(ValueError):
    """A file that is not a valid checkpoint, or one that does not fit where it is used; one line."""


def model_bytes(qm: QuantizedModel) -> bytes:
    """The bytes of qm's .q.npz file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.q.npz"
        qm.save(path)
        return path.read_bytes()


def model_from_bytes(data: bytes) -> QuantizedModel:
    """A .q.npz file's bytes as a model, through the model file's own loader and checks."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.q.npz"
        path.write_bytes(data)
        return QuantizedModel.load(path)


@dataclass
class Checkpoint:
    qm: QuantizedModel
    image: bytes                                 # the learning-state image (docs/fixed-point.md §11)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.image = bytes(self.image)
        try:
            self.state = learning_state.unpack(self.qm, self.image)   # checked: header, hash, CRC, values
        except StateError as err:
            raise CheckpointError(str(err)) from None

    # ---- sources
    @classmethod
    def from_emulator(cls, emu, stream: int = 0, **meta) -> "Checkpoint":
        image = learning_state.pack(emu.qm, emu.state(stream))
        return cls(emu.qm, image, {"source": "emulator", **meta})

    @classmethod
    def from_board(cls, board, qm: QuantizedModel, **meta) -> "Checkpoint":
        """Read the learning state of a device running `qm` (its HELLO model hash must match)."""
        from .host.state import read_state
        info = board.hello()
        if info.model_hash != qm.model_hash():
            raise CheckpointError(f"the device runs model {info.model_hash:08x}, not this model "
                                  f"{qm.model_hash():08x}")
        return cls(qm, read_state(board), {"source": "device", "board": info.board, **meta})

    # ---- targets
    def to_board(self, board) -> None:
        """Load the state into a device running the same model (raises host.state.StateRejected if it refuses)."""
        from .host.state import write_state
        info = board.hello()
        if info.model_hash != self.qm.model_hash():
            raise CheckpointError(f"the checkpoint belongs to model {self.qm.model_hash():08x}, the device runs "
                                  f"{info.model_hash:08x}")
        write_state(board, self.image)

    def emulator(self, batch: int = 1, learn: bool = True, **kw):
        """An Emulator of the checkpoint's model with its state in every stream."""
        from .fixed.emulator import Emulator
        emu = Emulator(self.qm, batch=batch, learn=learn, **kw)
        emu.load_state(self.image)
        return emu

    @property
    def updates(self) -> int:
        return int(self.state["updates"])

    # ---- file
    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a crash while writing leaves the previous file as it was."""
        mb = model_bytes(self.qm)
        head = {"format": FORMAT, "checkpoint_version": CHECKPOINT_VERSION,
                "model_hash": f"0x{self.qm.model_hash():08x}", "model_bytes": len(mb), "state_bytes": len(self.image),
                "sha256": hashlib.sha256(mb + self.image).hexdigest(), "meta": self.meta}
        arrays = {"header": np.frombuffer(json.dumps(head).encode(), np.uint8), "model": np.frombuffer(mb, np.uint8),
                  "state": np.frombuffer(self.image, np.uint8)}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Checkpoint":
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such file")
        try:
            with zipfile.ZipFile(path) as zf:
                head = json.loads(_read(zf, path, "header", MAX_HEADER).decode())
                if not isinstance(head, dict) or head.get("format") != FORMAT:
                    raise CheckpointError(f"{path}: not a hypr-edge checkpoint")
                if head.get("checkpoint_version") != CHECKPOINT_VERSION:
                    raise CheckpointError(f"{path}: checkpoint version {head.get('checkpoint_version')}, this "
                                          f"hypr-edge reads {CHECKPOINT_VERSION}")
                mb = _read(zf, path, "model", MAX_MODEL, head.get("model_bytes"))
                try:
                    qm = model_from_bytes(mb)
                except QuantizeError as err:
                    raise CheckpointError(f"{path}: its model does not load ({str(err).split(': ', 1)[-1]})") from None
                size = learning_state.image_size(qm)
                if head.get("state_bytes") != size:
                    raise CheckpointError(f"{path}: state of {head.get('state_bytes')} bytes, its model's is {size}")
                image = _read(zf, path, "state", size, size)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"{path}: not a hypr-edge checkpoint ({type(err).__name__})") from None
        if hashlib.sha256(mb + image).hexdigest() != head.get("sha256"):
            raise CheckpointError(f"{path}: SHA-256 mismatch (the file is damaged)")
        if head.get("model_hash") != f"0x{qm.model_hash():08x}":
            raise CheckpointError(f"{path}: header model hash {head.get('model_hash')}, its model's is "
                                  f"0x{qm.model_hash():08x}")
        try:
            return cls(qm, image, head.get("meta") or {})
        except CheckpointError as err:
            raise CheckpointError(f"{path}: {err}") from None


def _read(zf: zipfile.ZipFile, path: Path, name: str, limit: int, size: int | None = None) -> bytes:
    """Array `name` of the .npz as bytes, after checking (from the .npy header, before reading the data) that it is
    a one-dimensional uint8 array of `size` elements (None: any up to `limit`)."""
    names = sorted(zf.namelist())
    if "w.npy" in names and "wo.npy" in names:
        raise CheckpointError(f"{path}: a quantized model file, not a checkpoint (`hypr-edge stream --learn "
                              f"--checkpoint FILE` writes one)")
    if names != sorted(f"{a}.npy" for a in ARRAYS):
        raise CheckpointError(f"{path}: holds {', '.join(names) or 'nothing'}, a checkpoint holds "
                              f"{', '.join(ARRAYS)}")
    with zf.open(f"{name}.npy") as fh:
        fmt = np.lib.format
        version = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _fortran, dtype = read_header(fh)
        n = shape[0] if len(shape) == 1 else -1
        if dtype != np.uint8 or n < 0 or n > limit or (size is not None and n != size):
            raise CheckpointError(f"{path}: array {name} is {dtype}{list(shape)}, expected uint8"
                                  f"[{size if size is not None else f'<= {limit}'}]")
        data = fh.read(n)
    if len(data) != n:
        raise CheckpointError(f"{path}: array {name} is truncated")
    return data
