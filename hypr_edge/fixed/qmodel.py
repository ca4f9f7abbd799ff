"""The quantized model (docs/fixed-point.md §2-§4): its data, its file (.q.npz), its checks and its float view.
No algorithm: the quantizer (quantize.py) makes one, the emulator (emulator.py) and the code generator read one.

The file is read by one loader for every reader (`QuantizedModel.load`), which trusts nothing in it: every header
field's type and range, every member's dtype and shape (read from the .npy header, before anything is allocated),
every value's range, and the hash over all of it (docs/reliability.md). `check()` holds the same rules for a model
built in memory, and the code generator calls it before it formats a single value."""
from __future__ import annotations

import json
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..network_spec import LayerSpec, NetworkSpec
from ..neurons import MODELS, Neuron, make_neuron
from . import spec as fx_spec
from .spec import ELIG_BITS, FA, FEO, FQ, exp2_table, psi_shift, psi_table

FORMAT_VERSION = 1
LEARN_MODES = ("readout", "all")
MAX_CHUNK = 256            # §5: bounds the int64 sums over a chunk
MAX_UNITS = 0xFFFF         # n_in, n_hidden, n_out: uint16 in the board protocol's HELLO
MAX_COLUMNS = 0xFFFF       # M = n_in + 1 (+ n_hidden): §5 bounds the input sum for M < 2^16
MAX_ELEMENTS = 1 << 26     # per array: 64 Mi weights (128 MiB as int16), far beyond any device this targets
MAX_HEADER_BYTES = 1 << 20     # the JSON header member
MAX_NPY_HEADER = 4096          # the .npy header of a member (numpy writes ~128 bytes)
INT16 = (-(1 << 15), (1 << 15) - 1)
UNIT_FA = (0, 1 << FA)         # kao, kbo: alpha_o and 1 - alpha_o in [0, 1]
HEADER_KEYS = ("format_version", "neuron", "n_in", "n_hidden", "n_out", "recurrent", "formats", "scalars", "chunk",
               "learn", "lr_mant", "lr_shift", "seed", "fa", "fq", "feo", "info", "hash")
#: header keys a file may leave out, with the value their absence means: the storage width of the hidden
#: eligibilities (docs/fixed-point.md §2.1) is written only when it is not the default 16, so that the files and
#: hashes of every int16 model stay what they were before int8 existed
OPTIONAL_HEADER_KEYS = {"eligibility_bits": 16}
FORMAT_NAMES = ("fx", "fw", "fwo", "fs", "fe")
MAX_INFO_DEPTH = 8


class QuantizeError(ValueError):
    """A network the fixed-point design cannot represent; the message says why in one line."""


class ModelFileError(QuantizeError):
    """A .q.npz that is not a valid quantized model (damaged, edited, or from elsewhere); one line, naming the file."""


def _is_int(v) -> bool:
    """An integer, not a bool (True is an int in Python) and not a float that happens to be whole."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _int_field(name: str, v, lo: int, hi: int) -> None:
    if not _is_int(v):
        raise QuantizeError(f"{name} must be an integer, got {type(v).__name__} {_short(v)}")
    if not lo <= v <= hi:
        raise QuantizeError(f"{name} = {int(v)} outside {lo}..{hi}")


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_info(info, neuron: str) -> None:
    """info never reaches the device or the C: free JSON (str keys; strings, finite numbers, bools, null, lists,
    objects), except `constants`, the neuron model's float constants (its names, finite numbers)."""
    if not isinstance(info, dict):
        raise QuantizeError(f"info must be an object, got {type(info).__name__}")

    def walk(v, depth: int) -> None:
        if depth > MAX_INFO_DEPTH:
            raise QuantizeError(f"info nests deeper than {MAX_INFO_DEPTH} levels")
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise QuantizeError(f"info keys must be strings, got {type(k).__name__}")
                walk(item, depth + 1)
        elif isinstance(v, list):
            for item in v:
                walk(item, depth + 1)
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise QuantizeError(f"info holds a non-finite number {v}")
        elif not (v is None or isinstance(v, (str, bool, int))):
            raise QuantizeError(f"info holds a {type(v).__name__}, not a JSON value")
    walk(info, 0)
    consts = info.get("constants")
    if consts is None:
        return
    known = MODELS[neuron].default_constants
    if not isinstance(consts, dict):
        raise QuantizeError(f"info constants must be an object, got {type(consts).__name__}")
    for k, v in consts.items():
        if k not in known:
            raise QuantizeError(f"info constants: {neuron} has no constant {_short(k)} (its constants: "
                                f"{', '.join(known)})")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise QuantizeError(f"info constants: {k} must be a finite number, got {_short(v)}")


def check_fields(f: dict) -> None:
    """The scalar fields of a model (what the file's header holds), by type and range: integers are ints (not
    bools, floats or strings), strings come from fixed sets, sizes are bounded (docs/fixed-point.md §2, §5)."""
    neuron = f["neuron"]
    if not isinstance(neuron, str) or neuron not in MODELS:
        raise QuantizeError(f"unknown neuron model {_short(neuron)}; expected one of {', '.join(MODELS)}")
    for name in ("n_in", "n_hidden", "n_out"):
        _int_field(name, f[name], 1, MAX_UNITS)
    if not isinstance(f["recurrent"], (bool, np.bool_)):
        raise QuantizeError(f"recurrent must be true or false, got {_short(f['recurrent'])}")
    m = f["n_in"] + 1 + (f["n_hidden"] if f["recurrent"] else 0)
    if m > MAX_COLUMNS:
        raise QuantizeError(f"{m} presynaptic columns (inputs + bias + recurrent) exceed {MAX_COLUMNS} "
                            "(docs/fixed-point.md §5)")
    for what, count in (("hidden weights", f["n_hidden"] * m), ("readout weights", f["n_out"] * (f["n_hidden"] + 1))):
        if count > MAX_ELEMENTS:
            raise QuantizeError(f"{count} {what} exceed the limit of {MAX_ELEMENTS}")
    formats = f["formats"]
    if not isinstance(formats, dict) or set(formats) != set(FORMAT_NAMES):
        raise QuantizeError(f"formats must name exactly {', '.join(FORMAT_NAMES)}, got {_short(formats)}")
    for name, (lo, hi) in zip(FORMAT_NAMES, ((0, 14), (0, 15), (0, 15), (8, 20), (0, 15))):
        _int_field(f"format {name}", formats[name], lo, hi)
    if formats["fs"] > formats["fw"] + formats["fx"]:
        raise QuantizeError(f"formats {formats}: fs exceeds fw + fx (docs/fixed-point.md §2)")
    model = MODELS[neuron]
    scalars = f["scalars"]
    if not isinstance(scalars, dict) or set(scalars) != set(model.fixed_scalars):
        raise QuantizeError(f"{neuron} scalars are {sorted(model.fixed_scalars)}, got {_short(scalars)}")
    for name, sc in model.fixed_scalars.items():
        _int_field(f"constant {name}", scalars[name], sc.lo, sc.hi)
    _int_field("chunk length", f["chunk"], 1, MAX_CHUNK)
    if not isinstance(f["learn"], str) or f["learn"] not in LEARN_MODES:
        raise QuantizeError(f"learn mode {_short(f['learn'])}; expected one of {', '.join(LEARN_MODES)}")
    _int_field("learning rate mantissa", f["lr_mant"], 0, (1 << 15) - 1)
    _int_field("learning rate shift", f["lr_shift"], 0, 40)
    for layer, fmt in (("hidden", formats["fw"]), ("readout", formats["fwo"])):
        if not 0 <= FQ + f["lr_shift"] - fmt <= 61:
            raise QuantizeError(f"learning-rate shift {f['lr_shift']} gives a {layer} SGD rounding shift outside 0..61")
    _int_field("PRNG seed", f["seed"], 1, 0xFFFFFFFF)
    check_eligibility_bits(f.get("eligibility_bits", OPTIONAL_HEADER_KEYS["eligibility_bits"]))
    _check_info(f["info"], neuron)


def check_eligibility_bits(bits) -> int:
    """The storage width of the hidden eligibilities (docs/fixed-point.md §2.1): 16 or 8, an int (not a bool)."""
    if not _is_int(bits) or bits not in ELIG_BITS:
        raise QuantizeError(f"eligibility_bits = {_short(bits)}; expected one of {', '.join(map(str, ELIG_BITS))} "
                            "(docs/fixed-point.md §2.1)")
    return int(bits)


def expected_arrays(f: dict) -> dict[str, tuple[tuple[int, ...], tuple[int, int]]]:
    """Every array of a model with checked fields: name (as in the file) -> (shape, (lo, hi) of its values)."""
    n, c = int(f["n_hidden"]), int(f["n_out"])
    m = int(f["n_in"]) + 1 + (n if f["recurrent"] else 0)
    out = {"w": ((n, m), INT16), "wo": ((c, n + 1), INT16)}
    out.update({f"k_{name}": ((n,), r) for name, r in MODELS[f["neuron"]].fixed_consts.items()})
    out.update({"kao": ((c,), UNIT_FA), "kbo": ((c,), UNIT_FA)})
    return out


def check_array(name: str, a, shape: tuple[int, ...], bounds: tuple[int, int]) -> None:
    """An integer array (no float, bool, complex or object) of the given shape, its values within bounds."""
    if not isinstance(a, np.ndarray):
        raise QuantizeError(f"array {name} is a {type(a).__name__}, not an array")
    if a.dtype.kind not in "iu" or a.dtype.fields is not None:
        raise QuantizeError(f"array {name} holds {a.dtype} values; integers expected")
    if a.shape != tuple(shape):
        raise QuantizeError(f"array {name} has shape {a.shape}; the header's sizes need {tuple(shape)}")
    lo, hi = bounds
    if a.size and (int(a.min()) < lo or int(a.max()) > hi):
        raise QuantizeError(f"array {name} holds values outside {lo}..{hi} (docs/fixed-point.md §3, §4)")


@dataclass(frozen=True)
class QuantizedInputs:
    """Float inputs under the input policy (docs/reliability.md): int64 values in Q.fx (int16 range), how many
    were beyond the format and saturated to its rails with their sign, and how many NaN were mapped to 0."""
    values: np.ndarray
    saturated: int
    nan_zeroed: int = 0


NAN_POLICIES = ("refuse", "zero")


def quantize_input_values(x, fx: int, nan: str = "refuse") -> QuantizedInputs:
    """Float -> int16 Q.fx by the input policy: round to nearest, values beyond the format (±Inf included)
    saturate to -32768 / 32767 with their sign; NaN is refused (QuantizeError) or, with nan="zero", becomes 0."""
    if nan not in NAN_POLICIES:
        raise ValueError(f"nan policy {nan!r}; expected one of {', '.join(NAN_POLICIES)}")
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise QuantizeError(f"inputs must be real numbers ({err})") from None
    nan_mask = np.isnan(x)
    n_nan = int(np.count_nonzero(nan_mask))
    if n_nan:
        if nan == "refuse":
            raise QuantizeError(f"{n_nan} input value(s) are NaN (not a number): refused (map them to 0 by option)")
        x = np.where(nan_mask, 0.0, x)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.round(x * float(1 << fx))
    lo, hi = INT16
    beyond = (scaled > hi) | (scaled < lo)
    values = np.clip(scaled, lo, hi).astype(np.int64)
    return QuantizedInputs(values, int(np.count_nonzero(beyond)), n_nan)


@dataclass
class QuantizedModel:
    neuron: str
    n_in: int
    n_hidden: int
    n_out: int
    recurrent: bool
    formats: dict[str, int]        # fx, fw, fwo, fs, fe (fractional bits), §2
    w: np.ndarray                  # (N, M) int16 Q.fw: [W_in | bias | W_rec] (§3.1)
    wo: np.ndarray                 # (C, N + 1) int16 Q.fwo: [W_out | b_out]
    k: dict[str, np.ndarray]       # per-neuron constants (N,) int32 Q.24, the model's fixed_consts
    scalars: dict[str, int]        # the model's fixed_scalars
    kao: np.ndarray                # (C,) alpha_o in Q.FA
    kbo: np.ndarray                # (C,) 1 - alpha_o in Q.FA
    chunk: int = 16                # lambda
    learn: str = "all"             # what on-device learning updates
    lr_mant: int = 1               # learning rate = lr_mant * 2^-lr_shift
    lr_shift: int = 10
    seed: int = fx_spec.XORSHIFT_DEFAULT_SEED
    info: dict = field(default_factory=dict)
    eligibility_bits: int = 16     # storage of the hidden eligibilities: int16 or int8 (§2.1)

    # ---- the neuron model and derived sizes and tables
    @property
    def model(self) -> Neuron:
        """The neuron model (its integer kernels and constant descriptions; float constants from `info`)."""
        return make_neuron(self.neuron, self.info.get("constants"))

    @property
    def state_names(self) -> tuple[str, ...]:
        return MODELS[self.neuron].state_names

    @property
    def const_names(self) -> tuple[str, ...]:
        """The per-neuron constants, in the order the C declares them."""
        return tuple(MODELS[self.neuron].fixed_consts)

    @property
    def scalar_names(self) -> tuple[str, ...]:
        return tuple(MODELS[self.neuron].fixed_scalars)

    @property
    def d(self) -> int:
        return len(self.state_names)

    @property
    def m(self) -> int:
        """Presynaptic columns of the hidden layer: inputs, the bias column, recurrent spikes."""
        return self.n_in + 1 + (self.n_hidden if self.recurrent else 0)

    @property
    def surrogate(self) -> str:
        return MODELS[self.neuron].surrogate.name

    @property
    def psi_table(self) -> np.ndarray:
        return psi_table(MODELS[self.neuron].surrogate)

    @property
    def psi_shift(self) -> int:
        return psi_shift(MODELS[self.neuron].surrogate, self.formats["fs"])

    @property
    def exp2_table(self) -> np.ndarray:
        return exp2_table()

    def shifts(self) -> dict[str, int]:
        """The stochastic-rounding shifts of the SGD step (§7.2)."""
        f = self.formats
        return {"hidden": FQ + self.lr_shift - f["fw"], "readout": FQ + self.lr_shift - f["fwo"]}

    def model_hash(self) -> int:
        """FNV-1a (32 bit) over the header numbers and the little-endian integer arrays, in file order."""
        h = 0x811C9DC5
        for blob in self._hash_blobs():
            for byte in blob:
                h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
        return h

    def _hash_blobs(self):
        yield json.dumps(self._header(with_info=False), sort_keys=True).encode()
        yield self.w.astype("<i2").tobytes()
        yield self.wo.astype("<i2").tobytes()
        for name in self.const_names:
            yield self.k[name].astype("<i4").tobytes()
        yield self.kao.astype("<i4").tobytes()
        yield self.kbo.astype("<i4").tobytes()

    def _header(self, with_info=True) -> dict:
        head = {"format_version": FORMAT_VERSION, "neuron": self.neuron, "n_in": int(self.n_in),
                "n_hidden": int(self.n_hidden), "n_out": int(self.n_out), "recurrent": bool(self.recurrent),
                "formats": {k: int(v) for k, v in sorted(self.formats.items())},
                "scalars": {k: int(v) for k, v in sorted(self.scalars.items())},
                "chunk": int(self.chunk), "learn": self.learn, "lr_mant": int(self.lr_mant),
                "lr_shift": int(self.lr_shift), "seed": int(self.seed), "fa": FA, "fq": FQ, "feo": FEO}
        if self.eligibility_bits != OPTIONAL_HEADER_KEYS["eligibility_bits"]:   # absent means 16: old files, old hashes
            head["eligibility_bits"] = int(self.eligibility_bits)
        if with_info:
            head["info"] = self.info
        return head

    def fields(self) -> dict:
        """The scalar fields (what the file's header holds besides its constants)."""
        return {name: getattr(self, name) for name in ("neuron", "n_in", "n_hidden", "n_out", "recurrent", "formats",
                                                       "scalars", "chunk", "learn", "lr_mant", "lr_shift", "seed",
                                                       "info", "eligibility_bits")}

    def check(self) -> None:
        """Reject any field or array outside its type, shape and range (docs/fixed-point.md §2-§5): the file loader
        and the code generator rely on it, so nothing but checked integers reaches the C."""
        f = self.fields()
        check_fields(f)
        if not isinstance(self.k, dict) or set(self.k) != set(MODELS[self.neuron].fixed_consts):
            raise QuantizeError(f"{self.neuron} constants are {sorted(MODELS[self.neuron].fixed_consts)}, got "
                                f"{_short(sorted(self.k) if isinstance(self.k, dict) else self.k)}")
        arrays = {"w": self.w, "wo": self.wo, "kao": self.kao, "kbo": self.kbo,
                  **{f"k_{n}": v for n, v in self.k.items()}}
        for name, (shape, bounds) in expected_arrays(f).items():
            check_array(name, arrays[name], shape, bounds)

    def scalar_format(self, name: str) -> int:
        """Fractional bits of a model-wide constant: fs for state values (thresholds), else FA."""
        return self.formats["fs"] if MODELS[self.neuron].fixed_scalars[name].fmt == "fs" else FA

    # ---- dequantized float view (host side: reports and the float reference of tests)
    def to_spec(self) -> NetworkSpec:
        f = self.formats
        w = self.w / 2.0 ** f["fw"]
        ni = self.n_in
        k = {n: v / 2.0 ** FA for n, v in self.k.items()}
        sc = {n: v / 2.0 ** self.scalar_format(n) for n, v in self.scalars.items()}
        consts = dict(self.info.get("constants", {}))
        params, updates = self.model.from_fixed(k, sc)
        consts.update(updates)
        layer = LayerSpec(w_in=w[:, :ni].copy(), bias=w[:, ni].copy(),
                          w_rec=w[:, ni + 1:].copy() if self.recurrent else None, params=params)
        wo = self.wo / 2.0 ** f["fwo"]
        return NetworkSpec(neuron=self.neuron, layers=[layer], w_out=wo[:, :-1].copy(), b_out=wo[:, -1].copy(),
                           alpha_out=self.kao / 2.0 ** FA, constants=consts, info={"quantized": "1"})

    def quantize_inputs(self, x, nan: str = "refuse") -> np.ndarray:
        """Float inputs -> int16 values in Q.fx (int64 array) by the input policy (quantize_input_values)."""
        return quantize_input_values(x, self.formats["fx"], nan).values

    def quantize_inputs_counted(self, x, nan: str = "refuse") -> QuantizedInputs:
        """quantize_inputs, with the count of values that saturated (and of NaN mapped to 0 with nan="zero")."""
        return quantize_input_values(x, self.formats["fx"], nan)

    # ---- file
    def save(self, path: str | os.PathLike) -> None:
        """Write the .q.npz (checked first; written to a temporary file and moved into place)."""
        from ..outputs import atomic_path
        self.check()
        arrays = {"w": self.w.astype(np.int16), "wo": self.wo.astype(np.int16),
                  "kao": self.kao.astype(np.int32), "kbo": self.kbo.astype(np.int32)}
        arrays.update({f"k_{n}": np.asarray(v).astype(np.int32) for n, v in self.k.items()})
        head = self._header()
        head["hash"] = f"0x{self.model_hash():08x}"
        arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "QuantizedModel":
        """Read and validate a .q.npz: any failure is one ModelFileError line naming the file (docs/reliability.md)."""
        name = os.fspath(path)
        try:
            head, arrays = _read_model_file(name)
        except QuantizeError as err:   # ModelFileError included: every message names the file once
            raise (err if str(err).startswith(f"{name}: ") else ModelFileError(f"{name}: {err}")) from None
        except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, ValueError, KeyError,
                NotImplementedError, RuntimeError, MemoryError) as err:
            if isinstance(err, FileNotFoundError):
                raise ModelFileError(f"{name}: no such file") from None
            if isinstance(err, IsADirectoryError):
                raise ModelFileError(f"{name}: is a folder, not a quantized model file") from None
            if isinstance(err, PermissionError):
                raise ModelFileError(f"{name}: cannot read it (permission denied)") from None
            detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise ModelFileError(f"{name}: damaged quantized model file ({detail})") from None
        qm = cls(neuron=head["neuron"], n_in=head["n_in"], n_hidden=head["n_hidden"], n_out=head["n_out"],
                 recurrent=head["recurrent"], formats=dict(head["formats"]), w=arrays["w"], wo=arrays["wo"],
                 k={n: arrays[f"k_{n}"] for n in MODELS[head["neuron"]].fixed_consts}, scalars=dict(head["scalars"]),
                 kao=arrays["kao"], kbo=arrays["kbo"], chunk=head["chunk"], learn=head["learn"],
                 lr_mant=head["lr_mant"], lr_shift=head["lr_shift"], seed=head["seed"], info=head["info"],
                 eligibility_bits=head.get("eligibility_bits", OPTIONAL_HEADER_KEYS["eligibility_bits"]))
        try:
            qm.check()
        except QuantizeError as err:
            raise ModelFileError(f"{name}: {err}") from None
        stored, actual = int(head["hash"], 16), qm.model_hash()
        if stored != actual:
            raise ModelFileError(f"{name}: its contents do not match its hash (the header says 0x{stored:08x}, the "
                                 f"contents give 0x{actual:08x}): edited or damaged; quantize the model again")
        return qm


# ---- the file reader: everything is checked before it is used, sizes before anything is allocated

def _not_a_model(path: str, why: str) -> ModelFileError:
    hint = ("an ONNX model: run `hypr-edge quantize` on it first" if path.endswith(".onnx")
            else "expected a .q.npz written by `hypr-edge quantize`")
    return ModelFileError(f"{path}: not a quantized model file ({hint}; {why})")


def _read_model_file(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays as int64) of a .q.npz, each checked against the header; raises on anything unexpected."""
    if os.path.isdir(path):
        raise IsADirectoryError(path)
    if os.path.getsize(path) == 0:
        raise ModelFileError(f"{path}: empty file, not a quantized model")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            zip_start = fh.read(4) == b"PK\x03\x04"
        raise _not_a_model(path, "a truncated or damaged zip archive" if zip_start else "not a zip archive")
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > 64:
            raise ModelFileError(f"{path}: {len(infos)} members; a quantized model has a dozen at most")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise ModelFileError(f"{path}: a member appears twice in the archive")
        members = {}
        for info in infos:
            if not info.filename.endswith(".npy") or info.is_dir():
                raise ModelFileError(f"{path}: unexpected member {_short(info.filename)} (only .npy arrays belong)")
            members[info.filename[:-4]] = info
        if "header" not in members:
            raise _not_a_model(path, "no header member")
        raw = _read_member(zf, members["header"], "header", None, MAX_HEADER_BYTES, kinds="u")
        head = _parse_header(raw.astype(np.uint8).tobytes(), path)
        expected = expected_arrays(head)
        missing = sorted(set(expected) - set(members))
        extra = sorted(set(members) - set(expected) - {"header"})
        if missing or extra:
            raise ModelFileError(f"{path}: members do not match the header ({head['neuron']}): "
                                 + "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                                               f"unexpected {', '.join(extra)}" if extra else "")
                                             if part))
        arrays = {}
        for name, (shape, bounds) in expected.items():
            a = _read_member(zf, members[name], name, shape, None)
            check_array(name, a, shape, bounds)
            arrays[name] = a.astype(np.int64)
    return head, arrays


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, shape: tuple[int, ...] | None,
                 max_elements: int | None, kinds: str = "iu") -> np.ndarray:
    """One .npy member: its header read and checked (dtype an integer kind, shape as expected, declared size equal
    to the member's size) before its data is read, so a member declaring a huge array costs nothing."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(f"member {name}: unsupported compression (method {info.compress_type})")
    if info.flag_bits & 0x1:
        raise ModelFileError(f"member {name}: encrypted")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            arr_shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=MAX_NPY_HEADER)
        elif version == (2, 0):
            arr_shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=MAX_NPY_HEADER)
        else:
            raise ModelFileError(f"member {name}: .npy format version {version} is not one numpy writes for this")
        header_bytes = fh.tell()
        if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize > 8:
            raise ModelFileError(f"array {name} holds {dtype} values; integers expected")
        if shape is not None and tuple(arr_shape) != tuple(shape):
            raise ModelFileError(f"array {name} has shape {tuple(arr_shape)}; the header's sizes need {tuple(shape)}")
        if shape is None and len(arr_shape) != 1:
            raise ModelFileError(f"array {name} has shape {tuple(arr_shape)}; a 1-D array expected")
        count = math.prod(arr_shape)
        if max_elements is not None and count > max_elements:
            raise ModelFileError(f"array {name} declares {count} elements, more than {max_elements}")
        nbytes = count * dtype.itemsize
        if info.file_size != header_bytes + nbytes:
            raise ModelFileError(f"array {name}: the member holds {info.file_size - header_bytes} data bytes, its "
                                 f"header declares {nbytes} (truncated or damaged)")
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise ModelFileError(f"array {name} is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(arr_shape, order="F" if fortran else "C")


def _parse_header(raw: bytes, path: str) -> dict:
    """The JSON header: an object with exactly HEADER_KEYS (no duplicate keys, no NaN or Infinity), fields checked."""
    def refuse_constant(name):
        raise ModelFileError(f"{path}: the header holds {name}, which JSON does not allow")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ModelFileError(f"{path}: the header repeats a key")
        return dict(pairs)

    try:
        head = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=refuse_constant)
    except ModelFileError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ModelFileError(f"{path}: the header is not valid JSON ({str(err).splitlines()[0][:80]})") from None
    if not isinstance(head, dict):
        raise ModelFileError(f"{path}: the header is a JSON {type(head).__name__}, not an object")
    missing = [k for k in HEADER_KEYS if k not in head]
    extra = sorted(k for k in head if k not in HEADER_KEYS and k not in OPTIONAL_HEADER_KEYS)
    if missing or extra:
        raise ModelFileError(f"{path}: header keys do not match this format: "
                             + "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                                           f"unexpected {', '.join(map(_short, extra))}" if extra
                                                           else "") if part))
    version = head["format_version"]
    if not _is_int(version) or version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: quantized-model format {_short(version)}, this version reads {FORMAT_VERSION}")
    for key, value in (("fa", FA), ("fq", FQ), ("feo", FEO)):
        if not _is_int(head[key]) or head[key] != value:
            raise ModelFileError(f"{path}: header {key} = {_short(head[key])}; this format fixes it at {value}")
    if not isinstance(head["hash"], str) or not re.fullmatch(r"0x[0-9a-fA-F]{8}", head["hash"]):
        raise ModelFileError(f"{path}: header hash {_short(head['hash'])} is not a 32-bit hex value (0x........)")
    try:
        check_fields(head)
    except QuantizeError as err:
        raise ModelFileError(f"{path}: {err}") from None
    return head
