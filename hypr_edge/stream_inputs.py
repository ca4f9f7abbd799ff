"""What `hypr-edge stream --input PATH` sends: a user's own files read, checked and turned into a `StreamData`.

Formats (docs/streaming.md):
  .npy / .npz   array `x` of shape (sequences, steps, inputs) or (steps, inputs); in a .npz an optional `y`, one
                class per sequence (sequences,), or per step (sequences, steps) / (steps,)
  .csv          one row per step, one column per input; a header row may name a label column ("label")
  .wav          one recording: a continuous stream through the model's log-mel front-end
  folder        of .wav files: one sequence each, through the front-end; a class from a name "3_..." (FSDD)
A label file of (start, end, class) segments labels a continuous stream (`read_segments`).

Every check raises CommandError with one line that names the file: wrong width, dtype, NaN, absurd sizes,
labels outside the model's classes. The audio front-end's settings come from the model file (`front_end_of`),
written there by training on the fsdd task, so the host computes exactly the inputs the model was trained on.
"""
from __future__ import annotations

import csv
import json
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import CommandError

NO_LABEL = -1
MAX_VALUES = 1 << 26          # input values per stream (64 Mi: 512 MB as float64): beyond that, split the file
MAX_CSV_BYTES = 1 << 30       # 1 GiB of text
MAX_WAV_FILES = 100_000
LABEL_COLUMN = "label"
CLASS_PREFIX = re.compile(r"^(\d+)_")   # "3_jackson_12.wav" (FSDD) and any "CLASS_rest.wav"


@dataclass
class StreamData:
    """Inputs and labels as the device will see them.

    A continuous stream is one sequence (n = 1) of any length: the state starts at zero once and is never reset,
    learning uses the labelled steps only (unlabelled steps run with no loss), and accuracy counts labelled steps.
    Sequences each start from a zero state; with `sequence_labels` each is scored on its loss window."""
    x: np.ndarray                        # (n, T, n_in): float in the model's input units, or int16 Q.fx once quantized
    step_labels: np.ndarray              # int64 (n, T): the class of each step, -1 = none (no loss, not scored)
    sequence_labels: np.ndarray | None   # int64 (n,): one class per sequence (-1 = none), or None
    loss_steps: int | None = None        # the loss window of a sequence label: its last K steps (None: every step)
    continuous: bool = False
    source: str = ""

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        return int(self.x.shape[1])

    @property
    def labelled_steps(self) -> int:
        return int((self.step_labels >= 0).sum())

    def limit(self, count: int) -> "StreamData":
        """The first `count` sequences (a continuous stream: its first `count` steps)."""
        if self.continuous:
            return replace(self, x=self.x[:, :count], step_labels=self.step_labels[:, :count])
        seq = None if self.sequence_labels is None else self.sequence_labels[:count]
        return replace(self, x=self.x[:count], step_labels=self.step_labels[:count], sequence_labels=seq)

    def as_continuous(self) -> "StreamData":
        """The sequences one after another as one stream, without state resets; a sequence label becomes the
        label of the steps of its loss window."""
        n, t = self.x.shape[:2]
        return replace(self, x=self.x.reshape(1, n * t, -1), step_labels=self.step_labels.reshape(1, n * t),
                       sequence_labels=None, continuous=True)

    def require_continuous(self, what: str) -> None:
        if not self.continuous:
            raise CommandError(f"{what} labels the steps of a continuous stream, but {self.source} has {self.n} "
                               f"sequences: add --continuous to stream them as one")

    def with_step_labels(self, labels: np.ndarray, what: str) -> "StreamData":
        """A continuous stream with these per-step labels (T,) instead of its own."""
        self.require_continuous(what)
        return replace(self, step_labels=np.asarray(labels, dtype=np.int64)[None], sequence_labels=None)


def window_labels(y: np.ndarray, steps: int, loss_steps: int | None) -> np.ndarray:
    """(n,) sequence labels -> (n, steps): the label on the loss window (the last `loss_steps` steps), -1 before."""
    lab = np.repeat(np.asarray(y, dtype=np.int64)[:, None], steps, axis=1)
    if loss_steps:
        lab[:, : max(0, steps - loss_steps)] = NO_LABEL
    return lab


def sequences(x: np.ndarray, y: np.ndarray | None, loss_steps: int | None, source: str) -> StreamData:
    """StreamData of sequences x (n, T, n_in) with y: None, one class per sequence (n,) or per step (n, T)."""
    n, t = x.shape[:2]
    if y is None:
        return StreamData(x, np.full((n, t), NO_LABEL, np.int64), None, loss_steps, source=source)
    if y.shape == (n,):
        return StreamData(x, window_labels(y, t, loss_steps), y.astype(np.int64), loss_steps, source=source)
    return StreamData(x, y.astype(np.int64), None, loss_steps, source=source)


def stream(x: np.ndarray, labels: np.ndarray | None, source: str) -> StreamData:
    """StreamData of one continuous stream x (T, n_in) with per-step labels (T,) or None."""
    t = x.shape[0]
    lab = np.full(t, NO_LABEL, np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    return StreamData(x[None], lab[None], None, None, continuous=True, source=source)


# ---- checks shared by the readers -------------------------------------------------------------------------

def check_inputs(x: np.ndarray, n_in: int, name: str, allow_nan: bool = False) -> np.ndarray:
    """Float64 copy of x after the checks every input file gets (the ranks are checked by the callers)."""
    if x.dtype.kind not in "biuf":
        raise CommandError(f"{name}: inputs must be numbers (bool, integer or float), got dtype {x.dtype}")
    if x.shape[-1] != n_in:
        raise CommandError(f"{name}: {x.shape[-1]} inputs per step, the model takes {n_in}")
    if x.size == 0:
        raise CommandError(f"{name}: no steps (shape {x.shape})")
    if x.size > MAX_VALUES:
        raise CommandError(f"{name}: {x.size} input values, more than the {MAX_VALUES} one stream takes; split it")
    out = x.astype(np.float64)
    nan = np.isnan(out)
    if nan.any() and not allow_nan:
        where = np.argwhere(nan)[0].tolist()
        raise CommandError(f"{name}: {int(nan.sum())} NaN input value(s), the first at index {where} "
                           f"(--nan zero maps them to 0)")
    return out


def check_labels(y: np.ndarray, n_out: int, name: str) -> np.ndarray:
    """int64 labels in -1..n_out-1 (-1: no label)."""
    if y.dtype.kind not in "iuf":
        raise CommandError(f"{name}: labels must be integers, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise CommandError(f"{name}: labels must be whole numbers (class 0..{n_out - 1}, -1 for none)")
    lab = y.astype(np.int64)
    bad = (lab < NO_LABEL) | (lab >= n_out)
    if bad.any():
        first = lab[bad].ravel()[0]
        raise CommandError(f"{name}: label {int(first)} outside the model's classes 0..{n_out - 1} (-1: no label)")
    return lab


# ---- NumPy --------------------------------------------------------------------------------------------

def _npy_header(fh, name: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of a .npy stream, from its header alone: an absurd size is refused before it is read."""
    try:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read(fh)
    except (ValueError, OSError, EOFError) as err:
        raise CommandError(f"{name}: not a NumPy array file ({err})") from None
    return shape, dtype


def _check_header(shape: tuple, dtype: np.dtype, name: str) -> None:
    if dtype.hasobject:
        raise CommandError(f"{name}: holds Python objects (dtype {dtype}); save numbers, without pickles")
    if int(np.prod(shape, dtype=np.float64)) > MAX_VALUES:
        raise CommandError(f"{name}: shape {tuple(shape)} is more than the {MAX_VALUES} values one stream takes")


def _load_member(z: zipfile.ZipFile, member: str, name: str) -> np.ndarray:
    with z.open(member) as fh:
        _check_header(*_npy_header(fh, f"{name}[{member[:-4]}]"), f"{name}[{member[:-4]}]")
    with z.open(member) as fh:
        try:
            return np.lib.format.read_array(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise CommandError(f"{name}[{member[:-4]}]: unreadable array ({err})") from None


def read_numpy(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """x and y (or None) of a .npy (x only) or .npz file, size-checked from the headers before reading."""
    name = str(path)
    if path.suffix == ".npy":
        with open(path, "rb") as fh:
            shape, dtype = _npy_header(fh, name)
            _check_header(shape, dtype, name)
        try:
            return np.load(path, allow_pickle=False), None
        except (ValueError, OSError, EOFError) as err:
            raise CommandError(f"{name}: unreadable array ({err})") from None
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise CommandError(f"{name}: not a .npz file ({err})") from None
    with z:
        members = [m for m in z.namelist() if m.endswith(".npy")]
        if "x.npy" not in members:
            have = ", ".join(m[:-4] for m in members) or "nothing"
            raise CommandError(f"{name}: no array 'x' (has {have}); save inputs as x=, labels as y=")
        try:
            x = _load_member(z, "x.npy", name)
            y = _load_member(z, "y.npy", name) if "y.npy" in members else None
        except (zipfile.BadZipFile, OSError) as err:
            raise CommandError(f"{name}: damaged .npz ({err})") from None
    return x, y


def numpy_data(path: Path, n_in: int, n_out: int, loss_steps: int | None, allow_nan: bool) -> StreamData:
    name = str(path)
    x, y = read_numpy(path)
    if x.ndim not in (2, 3):
        raise CommandError(f"{name}: x has shape {x.shape}; expected (sequences, steps, inputs) or (steps, inputs)")
    x = check_inputs(x, n_in, f"{name}[x]", allow_nan)
    if y is not None:
        y = check_labels(y, n_out, f"{name}[y]")
        want = [x.shape[:1], x.shape[:2]] if x.ndim == 3 else [x.shape[:1]]
        if y.shape not in want:
            shapes = " or ".join(str(s) for s in want)
            raise CommandError(f"{name}: y has shape {y.shape}; for x of shape {x.shape} it must be {shapes}")
    if x.ndim == 2:
        return stream(x, y, name)
    return sequences(x, y, loss_steps, name)


# ---- CSV -------------------------------------------------------------------------------------------------

def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_csv(path: Path, n_in: int, n_out: int, label_column: str = LABEL_COLUMN,
             allow_nan: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(T, n_in) inputs and (T,) labels (None without a label column) of a CSV with one row per step.

    A first row that is not all numbers is a header; a header column named `label_column` holds the labels
    (an empty cell: no label at that step). Every other column is an input."""
    name = str(path)
    if path.stat().st_size > MAX_CSV_BYTES:
        raise CommandError(f"{name}: {path.stat().st_size} bytes, more than the {MAX_CSV_BYTES} a CSV may have")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise CommandError(f"{name}: not a readable CSV text file ({err})") from None
    if not rows:
        raise CommandError(f"{name}: no rows")
    header = None
    if any(_number(c) is None for c in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
        if not rows:
            raise CommandError(f"{name}: a header and no steps")
    width = len(header) if header else len(rows[0])
    label_at = None
    if header and label_column in header:
        label_at = header.index(label_column)
    elif header and label_column != LABEL_COLUMN:
        raise CommandError(f"{name}: no column {label_column!r} (columns: {', '.join(header)})")
    if width - (label_at is not None) != n_in:
        raise CommandError(f"{name}: {width - (label_at is not None)} input columns, the model takes {n_in}"
                           + ("" if header else " (a label column needs a header row naming it)"))
    x = np.empty((len(rows), n_in), dtype=np.float64)
    labels = np.full(len(rows), NO_LABEL, dtype=np.int64) if label_at is not None else None
    inputs = [i for i in range(width) if i != label_at]
    first = 2 if header else 1
    for r, row in enumerate(rows):
        if len(row) != width:
            raise CommandError(f"{name}: line {first + r} has {len(row)} columns, expected {width}")
        try:
            x[r] = [float(row[i]) for i in inputs]
        except ValueError:
            bad = next(row[i] for i in inputs if _number(row[i]) is None)
            raise CommandError(f"{name}: line {first + r}: {bad!r} is not a number") from None
        if labels is not None and row[label_at].strip():
            v = _number(row[label_at])
            if v is None or v != round(v) or not NO_LABEL <= v < n_out:
                raise CommandError(f"{name}: line {first + r}: label {row[label_at]!r} is not a class "
                                   f"0..{n_out - 1} (empty or -1: no label)")
            labels[r] = int(v)
    return check_inputs(x, n_in, name, allow_nan), labels


# ---- label segments --------------------------------------------------------------------------------------

def read_segments(path: Path, steps: int, n_out: int) -> np.ndarray:
    """(steps,) labels from a CSV of `start,end,class` rows (steps start..end-1; a header row is allowed);
    steps in no segment have no label. Segments may not overlap or reach past the stream."""
    name = str(path)
    if not path.exists() or path.is_dir():
        raise CommandError(f"{name}: no such label file")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise CommandError(f"{name}: not a readable CSV text file ({err})") from None
    if rows and any(_number(c) is None for c in rows[0]):
        rows = rows[1:]   # header
    labels = np.full(steps, NO_LABEL, dtype=np.int64)
    for i, row in enumerate(rows):
        vals = [_number(c) for c in row]
        if len(row) != 3 or any(v is None or v != round(v) for v in vals):
            raise CommandError(f"{name}: row {i + 1} is {','.join(row)!r}; expected start,end,class (integers)")
        start, end, cls = (int(v) for v in vals)
        if not 0 <= start < end <= steps:
            raise CommandError(f"{name}: row {i + 1}: segment {start}..{end} is not within the stream's "
                               f"{steps} steps (0 <= start < end <= {steps})")
        if not 0 <= cls < n_out:
            raise CommandError(f"{name}: row {i + 1}: class {cls} outside the model's classes 0..{n_out - 1}")
        if (labels[start:end] >= 0).any():
            raise CommandError(f"{name}: row {i + 1}: segment {start}..{end} overlaps an earlier one")
        labels[start:end] = cls
    return labels


# ---- audio: the model's own front-end ----------------------------------------------------------------------

FRONT_END_KEYS = ("kind", "rate", "bands", "frame_ms", "hop_ms", "preemphasis", "fmin", "fmax", "floor", "frames",
                  "encoding", "delta_threshold", "mean", "std", "silence")


def front_end_of(info: dict, model_name: str) -> dict:
    """The audio front-end recorded in a model's info (a JSON string after ONNX, hypr_edge/tasks/fsdd.py)."""
    fe = info.get("front_end")
    if fe is None:
        raise CommandError(f"{model_name} records no audio front-end: WAV input needs a model trained on the fsdd "
                           f"task (train, then quantize, with this version of hypr-edge)")
    try:
        fe = json.loads(fe) if isinstance(fe, str) else dict(fe)
    except (ValueError, TypeError):
        raise CommandError(f"{model_name}: its audio front-end record is not valid JSON") from None
    missing = [k for k in FRONT_END_KEYS if k not in fe]
    if missing or fe["kind"] != "fsdd-log-mel":
        raise CommandError(f"{model_name}: unknown audio front-end record (kind {fe.get('kind')!r}, "
                           f"missing {', '.join(missing) or 'nothing'})")
    return fe


def wav_inputs(signal: np.ndarray, fe: dict, fit: bool) -> np.ndarray:
    """(T, inputs) float32 inputs of one recording, computed as the fsdd task computes them for training:
    log-mel, the training set's normalisation, and (fit) padding or cropping to the training length; without
    `fit` every frame is kept (a continuous stream)."""
    from . import audio
    from .tasks import fsdd
    o = fsdd.fsdd_options(**{k: fe[k] for k in fsdd.FsddOptions.FRONT_END}, frames=int(fe["frames"]),
                          encoding=fe["encoding"], delta_threshold=fe["delta_threshold"])
    norm = fsdd.Normaliser(*(np.asarray(fe[k], dtype=np.float64) for k in ("mean", "std", "silence")))
    feats = audio.log_mel(signal, int(fe["rate"]), **o.front_end())
    if fit:
        return fsdd.encode([feats], norm, o)[0]
    x = norm(feats)[None]
    if o.encoding == "delta":
        return fsdd.delta_spikes(x, o.delta_threshold, norm(norm.silence))[0]
    return x[0].astype(np.float32)


def _read_wav(path: Path, fe: dict) -> np.ndarray:
    from . import audio
    try:
        return audio.read_wav(path, rate=int(fe["rate"]))
    except ValueError as err:
        raise CommandError(str(err)) from None


def wav_data(path: Path, fe: dict, n_in: int, n_out: int, loss_steps: int | None) -> StreamData:
    """One .wav: a continuous stream of all its frames. A folder: one sequence per .wav (sorted by name), each
    fitted to the training length; the class from a name starting "CLASS_" (else no label)."""
    if path.is_file():
        x = check_inputs(wav_inputs(_read_wav(path, fe), fe, fit=False), n_in, str(path))
        return stream(x, None, str(path))
    files = sorted(path.glob("*.wav"))
    if not files:
        raise CommandError(f"{path}: no .wav files in this folder")
    if len(files) > MAX_WAV_FILES:
        raise CommandError(f"{path}: {len(files)} .wav files, more than {MAX_WAV_FILES}")
    if len(files) * int(fe["frames"]) * n_in > MAX_VALUES:
        raise CommandError(f"{path}: {len(files)} recordings make more than the {MAX_VALUES} values one stream takes")
    x = np.stack([wav_inputs(_read_wav(f, fe), fe, fit=True) for f in files])
    x = check_inputs(x, n_in, str(path))
    classes = [CLASS_PREFIX.match(f.name) for f in files]
    y = np.array([int(m[1]) if m else NO_LABEL for m in classes], dtype=np.int64)
    y = check_labels(y, n_out, f"{path} (classes from the file names)")
    return sequences(x, y, loss_steps, str(path))


# ---- entry point -----------------------------------------------------------------------------------------

FORMATS = ".npy, .npz, .csv, .wav or a folder of .wav files"


def read_input(path: str, *, n_in: int, n_out: int, info: dict, model_name: str, loss_steps: int | None,
               label_column: str = LABEL_COLUMN, allow_nan: bool = False) -> StreamData:
    """The StreamData of a user's file or folder (float inputs; the caller quantizes with the input policy)."""
    p = Path(path)
    if not p.exists():
        raise CommandError(f"{path}: no such file or folder")
    if p.is_dir() or p.suffix.lower() == ".wav":
        return wav_data(p, front_end_of(info, model_name), n_in, n_out, loss_steps)
    suffix = p.suffix.lower()
    if suffix in (".npy", ".npz"):
        return numpy_data(p, n_in, n_out, loss_steps, allow_nan)
    if suffix in (".csv", ".txt"):
        x, labels = read_csv(p, n_in, n_out, label_column, allow_nan)
        return stream(x, labels, str(p))
    raise CommandError(f"{path}: unknown input format {p.suffix or '(no suffix)'}; expected {FORMATS}")
