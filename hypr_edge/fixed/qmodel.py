"""The quantized model (docs/fixed-point.md §2-§4): its data, its file (.q.npz), its checks and its float view.
No algorithm: the quantizer (quantize.py) makes one, the emulator (emulator.py) and the code generator read one."""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..network_spec import LayerSpec, NetworkSpec
from ..neurons import MODELS, Neuron, make_neuron
from . import spec as fx_spec
from .spec import FA, FEO, FQ, exp2_table, psi_shift, psi_table, to_q

FORMAT_VERSION = 1
LEARN_MODES = ("readout", "all")
MAX_CHUNK = 256            # §5: bounds the int64 sums over a chunk


class QuantizeError(ValueError):
    """A network the fixed-point design cannot represent; the message says why in one line."""


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
        head = {"format_version": FORMAT_VERSION, "neuron": self.neuron, "n_in": self.n_in,
                "n_hidden": self.n_hidden, "n_out": self.n_out, "recurrent": self.recurrent,
                "formats": {k: int(v) for k, v in sorted(self.formats.items())},
                "scalars": {k: int(v) for k, v in sorted(self.scalars.items())},
                "chunk": self.chunk, "learn": self.learn, "lr_mant": self.lr_mant, "lr_shift": self.lr_shift,
                "seed": self.seed, "fa": FA, "fq": FQ, "feo": FEO}
        if with_info:
            head["info"] = self.info
        return head

    def check(self) -> None:
        """Reject settings outside the proven bounds (§5)."""
        if self.neuron not in MODELS:
            raise QuantizeError(f"unknown neuron model {self.neuron!r}; expected one of {', '.join(MODELS)}")
        if not 1 <= self.chunk <= MAX_CHUNK:
            raise QuantizeError(f"chunk length {self.chunk} outside 1..{MAX_CHUNK}")
        if self.learn not in LEARN_MODES:
            raise QuantizeError(f"learn mode {self.learn!r}; expected one of {', '.join(LEARN_MODES)}")
        if not (0 <= self.lr_mant < 1 << 15 and 0 <= self.lr_shift <= 40):
            raise QuantizeError(f"learning rate mantissa {self.lr_mant} / shift {self.lr_shift} outside 0..32767 / 0..40")
        if any(not 0 <= s <= 61 for s in self.shifts().values()):
            raise QuantizeError(f"learning-rate shift {self.lr_shift} gives an SGD rounding shift outside 0..61")
        if not 1 <= self.seed <= 0xFFFFFFFF:
            raise QuantizeError("the PRNG seed must be a nonzero 32-bit value")
        model = MODELS[self.neuron]
        if set(self.k) != set(model.fixed_consts) or set(self.scalars) != set(model.fixed_scalars):
            raise QuantizeError(f"{self.neuron} constants are {sorted(model.fixed_consts)} and "
                                f"{sorted(model.fixed_scalars)}, got {sorted(self.k)} and {sorted(self.scalars)}")
        unit = (0, 1 << FA)
        for name, v, (lo, hi) in [*((n, self.k[n], r) for n, r in model.fixed_consts.items()),
                                  ("kao", self.kao, unit), ("kbo", self.kbo, unit)]:
            if np.any(np.asarray(v) < lo) or np.any(np.asarray(v) > hi):
                raise QuantizeError(f"constant {name} outside [{lo}, {hi}] (docs/fixed-point.md §4)")
        for name, sc in model.fixed_scalars.items():
            v = self.scalars[name]
            if not sc.lo <= v <= sc.hi:
                raise QuantizeError(f"constant {name} = {v} outside [{sc.lo}, {sc.hi}] (docs/fixed-point.md §4)")
        if np.abs(self.w).max(initial=0) > 32768 or np.abs(self.wo).max(initial=0) > 32768:
            raise QuantizeError("weights outside int16")
        f = self.formats
        if not (0 <= f["fx"] <= 14 and 0 <= f["fw"] <= 15 and 0 <= f["fwo"] <= 15 and 8 <= f["fs"] <= 20
                and 0 <= f["fe"] <= 15 and f["fs"] <= f["fw"] + f["fx"]):
            raise QuantizeError(f"formats {f} outside the ranges of docs/fixed-point.md §2")

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

    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """Float inputs -> int16 Q.fx, saturated (host side)."""
        return np.clip(to_q(x, self.formats["fx"]), -32768, 32767)

    # ---- file
    def save(self, path: str | os.PathLike) -> None:
        arrays = {"w": self.w.astype(np.int16), "wo": self.wo.astype(np.int16),
                  "kao": self.kao.astype(np.int32), "kbo": self.kbo.astype(np.int32)}
        arrays.update({f"k_{n}": v.astype(np.int32) for n, v in self.k.items()})
        head = self._header()
        head["hash"] = f"0x{self.model_hash():08x}"
        arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "QuantizedModel":
        try:
            with np.load(path, allow_pickle=False) as z:
                head = json.loads(bytes(z["header"]).decode())
                if head.get("format_version") != FORMAT_VERSION:
                    raise QuantizeError(f"{path}: quantized-model format {head.get('format_version')}, "
                                        f"this version reads {FORMAT_VERSION}")
                if head["neuron"] not in MODELS:
                    raise QuantizeError(f"{path}: neuron model {head['neuron']!r} is not one this hypr-edge knows "
                                        f"({', '.join(MODELS)})")
                k = {n: z[f"k_{n}"].astype(np.int64) for n in MODELS[head["neuron"]].fixed_consts}
                qm = cls(neuron=head["neuron"], n_in=head["n_in"], n_hidden=head["n_hidden"], n_out=head["n_out"],
                         recurrent=head["recurrent"], formats=head["formats"], w=z["w"].astype(np.int64),
                         wo=z["wo"].astype(np.int64), k=k, scalars=head["scalars"], kao=z["kao"].astype(np.int64),
                         kbo=z["kbo"].astype(np.int64), chunk=head["chunk"], learn=head["learn"],
                         lr_mant=head["lr_mant"], lr_shift=head["lr_shift"], seed=head["seed"],
                         info=head.get("info", {}))
        except (OSError, KeyError, ValueError, zlib.error) as err:
            if isinstance(err, QuantizeError):
                raise
            if isinstance(err, FileNotFoundError):
                raise QuantizeError(f"{path}: no such file") from None
            hint = ("an ONNX model: run `hypr-edge quantize` on it first" if str(path).endswith(".onnx")
                    else "expected a .q.npz written by `hypr-edge quantize`")
            raise QuantizeError(f"{path}: not a quantized model file ({hint})") from None
        qm.check()
        return qm
