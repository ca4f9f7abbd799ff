"""Every command against bad input (issue 10): bad files of every kind, bad arguments, bad data. Each case runs
`hypr_edge.cli.main(argv)` in-process in a fresh folder and must give

  * a non-zero status (2: an error),
  * exactly one line on stderr, `hypr-edge COMMAND: error: ...`, no traceback and no "internal error",
  * no change in its folder: nothing written, nothing deleted, nothing modified,
  * for model files: no compiler or other process started (a file is refused before anything is built).

The bad files are generated here from small valid ones: a quantized model (.q.npz), an ONNX model, a NIR graph,
SHD HDF5 files, FSDD WAV folders, firmware folders and ELF files."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import warnings
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hypr_edge import cli
from hypr_edge.cli import main

C_TEXT = '1; __attribute__((constructor)) static void pwn(void) { system("touch PWNED"); } enum { X = 1'


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[["Goods", Path], list[str]]   # writes the case's files into the folder, returns argv
    spawns: bool = False                          # may start a process before refusing (make, QEMU)


CASES: list[Case] = []


def add(case_id: str, make, spawns: bool = False) -> None:
    assert case_id not in {c.id for c in CASES}, case_id
    CASES.append(Case(case_id, make, spawns))


# ---------------------------------------------------------------------------------------------- good files

@dataclass
class Goods:
    qnpz: Path
    onnx: Path
    nir: Path
    header: dict
    arrays: dict


@pytest.fixture(scope="module")
def goods(tmp_path_factory) -> Goods:
    from hypr_edge.fixed.random_models import random_qmodel, random_spec
    from hypr_edge.nir_io import export_nir, write_nir
    from hypr_edge.onnx_io import export_onnx

    root = tmp_path_factory.mktemp("goods")
    # 8 inputs and 10 outputs: the `digits` task's shape, so `stream` and `verify --task digits` accept it
    qm = random_qmodel(np.random.default_rng(0), "lif", 8, 12, 10, True, 4, "readout")
    qm.save(root / "model.q.npz")
    spec = random_spec(np.random.default_rng(1), "lif_zero", 8, 6, 10, True)
    export_onnx(spec, root / "model.onnx")
    write_nir(export_nir(spec), root / "model.nir")
    header, arrays = read_qnpz(root / "model.q.npz")
    assert model_hash(header, arrays) == int(header["hash"], 16)  # our replica of the file's hash is right
    return Goods(root / "model.q.npz", root / "model.onnx", root / "model.nir", header, arrays)


def read_qnpz(path: Path) -> tuple[dict, dict]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "header"}
        header = json.loads(bytes(z["header"]).decode())
    return header, arrays


def model_hash(header: dict, arrays: dict) -> int:
    """The file's FNV-1a hash as hypr_edge.fixed.qmodel computes it (header numbers, then the arrays): a mutated
    file gets a matching hash, so the loader must refuse it for the mutation itself, not for the hash."""
    from hypr_edge.neurons import MODELS
    head = {k: v for k, v in header.items() if k not in ("info", "hash")}
    model = MODELS.get(header.get("neuron")) if isinstance(header.get("neuron"), str) else None
    consts = list(model.fixed_consts) if model else sorted(k[2:] for k in arrays if k.startswith("k_"))

    def raw(name, dtype):   # any array as the loader would hash it (garbage in, but the same garbage)
        if name not in arrays:
            return b""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.asarray(arrays[name])
            a = a.real if np.iscomplexobj(a) else a
            if a.dtype.kind in "fb":
                a = np.nan_to_num(a.astype(np.float64)).astype(np.int64)
            return a.astype(dtype).tobytes()
    h = 0x811C9DC5
    for blob in [json.dumps(head, sort_keys=True).encode(), raw("w", "<i2"), raw("wo", "<i2"),
                 *(raw(f"k_{n}", "<i4") for n in consts), raw("kao", "<i4"), raw("kbo", "<i4")]:
        for byte in blob:
            h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def write_qnpz(path: Path, header, arrays: dict, rehash: bool = True) -> Path:
    """A .q.npz with this header (a dict, or raw bytes) and these members."""
    if isinstance(header, dict) and rehash:
        header = dict(header, hash=f"0x{model_hash(header, arrays):08x}")
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as fh:
        np.savez(fh, **arrays, header=np.frombuffer(raw, dtype=np.uint8))
    return path


# ---------------------------------------------------------------------------------------------- model files

QMODEL_COMMANDS = {   # every command that reads a .q.npz: argv for a model at PATH (in the case's folder)
    "generate": lambda m: ["generate", m, "-o", "out"],
    "verify": lambda m: ["verify", m, "--streams", "2", "--steps", "5"],
    "stream": lambda m: ["stream", "--port", "loop://", "--model", m, "--quiet"],
}
EVERY_QMODEL_COMMAND = {   # where the acceptance asks for every command: also every target and --build
    **QMODEL_COMMANDS,
    "generate-build": lambda m: ["generate", m, "-o", "out", "--build"],
    "generate-m4": lambda m: ["generate", m, "-o", "out", "--target", "cortex-m4"],
    "generate-spinnaker": lambda m: ["generate", m, "-o", "out", "--target", "spinnaker", "--build"],
    "generate-library": lambda m: ["generate", m, "-o", "out", "--target", "library"],
    "verify-learn": lambda m: ["verify", m, "--streams", "2", "--steps", "5", "--learn"],
}


_rotation = [0]


def qmodel_case(name: str, mutate, commands=None, rehash: bool = True) -> None:
    """mutate(header, arrays) edits copies of the good file's parts (or returns new raw bytes for the file).
    Every reader shares one loader: a mutation runs on the given commands, by default on one reader in turn."""
    if commands is None:
        cmd = list(QMODEL_COMMANDS)[_rotation[0] % len(QMODEL_COMMANDS)]
        _rotation[0] += 1
        commands = {cmd: QMODEL_COMMANDS[cmd]}
    for cmd, argv in commands.items():
        def make(g: Goods, d: Path, mutate=mutate, argv=argv):
            header, arrays = json.loads(json.dumps(g.header)), {k: v.copy() for k, v in g.arrays.items()}
            out = mutate(header, arrays)
            path = d / "bad.q.npz"
            if isinstance(out, bytes):
                path.write_bytes(out)
            else:
                write_qnpz(path, out if out is not None else header, arrays, rehash=rehash)
            return argv("bad.q.npz")
        add(f"qmodel-{name}-{cmd}", make)


def set_field(key, value):
    def mutate(h, a):
        h[key] = value
    return mutate


def drop_field(key):
    def mutate(h, a):
        del h[key]
    return mutate


def set_array(key, fn):
    def mutate(h, a):
        a[key] = fn(a[key]) if key in a else fn(None)
    return mutate


def drop_array(key):
    def mutate(h, a):
        del a[key]
    return mutate


# The acceptance cases: C text in header fields, arrays that disagree with the header (every command).
for field in ("n_in", "n_hidden", "n_out", "chunk", "seed", "lr_mant", "lr_shift"):
    qmodel_case(f"ctext-{field}", set_field(field, C_TEXT), EVERY_QMODEL_COMMAND if field == "n_out" else None)
qmodel_case("ctext-neuron", set_field("neuron", C_TEXT), EVERY_QMODEL_COMMAND)
qmodel_case("ctext-formats", lambda h, a: h["formats"].update(fx=C_TEXT), EVERY_QMODEL_COMMAND)
qmodel_case("ctext-scalar", lambda h, a: h["scalars"].update(th=C_TEXT), EVERY_QMODEL_COMMAND)
qmodel_case("n_hidden-doubled", lambda h, a: h.update(n_hidden=2 * h["n_hidden"]), EVERY_QMODEL_COMMAND)
qmodel_case("n_in-plus-one", lambda h, a: h.update(n_in=h["n_in"] + 1), EVERY_QMODEL_COMMAND)
qmodel_case("n_out-minus-one", lambda h, a: h.update(n_out=h["n_out"] - 1))
qmodel_case("w-short", set_array("w", lambda w: w[:, :-1]), EVERY_QMODEL_COMMAND)
qmodel_case("w-transposed", set_array("w", lambda w: w.T.copy()), EVERY_QMODEL_COMMAND)
qmodel_case("w-1d", set_array("w", lambda w: w.ravel()), EVERY_QMODEL_COMMAND)
qmodel_case("wo-short", set_array("wo", lambda w: w[:-1]), EVERY_QMODEL_COMMAND)

# Header fields of the wrong type or out of range.
for field in ("n_in", "n_hidden", "n_out", "chunk", "seed", "lr_mant", "lr_shift"):
    for label, value in [("numeric-string", "2"), ("float", 2.5), ("bool", True), ("null", None), ("list", [2]),
                         ("dict", {"v": 2}), ("negative", -1), ("huge", 2 ** 40)]:
        qmodel_case(f"{field}-{label}", set_field(field, value))
    qmodel_case(f"missing-{field}", drop_field(field))
for field in ("n_in", "n_hidden", "n_out", "chunk"):
    qmodel_case(f"{field}-zero", set_field(field, 0))
for field in ("neuron", "recurrent", "formats", "scalars", "learn", "format_version"):
    qmodel_case(f"missing-{field}", drop_field(field))
qmodel_case("neuron-unknown", set_field("neuron", "izhikevich"))
qmodel_case("neuron-number", set_field("neuron", 3))
qmodel_case("recurrent-string", set_field("recurrent", "yes"))
qmodel_case("recurrent-int", set_field("recurrent", 2))
qmodel_case("learn-unknown", set_field("learn", "everything"))
qmodel_case("learn-number", set_field("learn", 1))
qmodel_case("format-version-2", set_field("format_version", 2))
qmodel_case("format-version-string", set_field("format_version", "1"))
qmodel_case("formats-list", set_field("formats", [14, 11, 14, 16, 15]))
qmodel_case("formats-missing-key", lambda h, a: h["formats"].pop("fx"))
qmodel_case("formats-extra-key", lambda h, a: h["formats"].update(fz=3))
qmodel_case("formats-string", lambda h, a: h["formats"].update(fw="11"))
qmodel_case("formats-float", lambda h, a: h["formats"].update(fw=11.5))
qmodel_case("formats-out-of-range", lambda h, a: h["formats"].update(fs=40))
qmodel_case("scalars-missing", lambda h, a: h["scalars"].clear())
qmodel_case("scalars-out-of-range", lambda h, a: h["scalars"].update(th=-(2 ** 40)))
qmodel_case("scalars-float", lambda h, a: h["scalars"].update(th=0.5))
qmodel_case("info-list", set_field("info", [1, 2]))
qmodel_case("extra-key", set_field("payload", C_TEXT))
for label, raw in [("not-json", lambda g: b"{not json"), ("not-utf8", lambda g: b"\xff\xfe\x00{"),
                   ("json-list", lambda g: b"[1, 2, 3]"), ("json-string", lambda g: b'"header"'),
                   ("json-number", lambda g: b"42"), ("empty", lambda g: b""),
                   ("wrapped-in-list", lambda g: json.dumps([g.header]).encode())]:
    for cmd, argv in QMODEL_COMMANDS.items():
        def make(g: Goods, d: Path, raw=raw, argv=argv):
            write_qnpz(d / "bad.q.npz", raw(g), dict(g.arrays))
            return argv("bad.q.npz")
        add(f"qmodel-header-{label}-{cmd}", make)

# Arrays: dtype, values, shapes, members.
qmodel_case("w-float", set_array("w", lambda w: w.astype(np.float64)))
qmodel_case("w-float-fractions", set_array("w", lambda w: w.astype(np.float64) + 0.5))
qmodel_case("w-nan", set_array("w", lambda w: np.where(np.arange(w.size).reshape(w.shape) == 3, np.nan, w)))
qmodel_case("w-inf", set_array("w", lambda w: np.where(np.arange(w.size).reshape(w.shape) == 3, np.inf, w)))
qmodel_case("w-bool", set_array("w", lambda w: w != 0))
qmodel_case("w-complex", set_array("w", lambda w: w.astype(np.complex128)))
qmodel_case("w-int64-min", set_array("w", lambda w: np.where(np.arange(w.size).reshape(w.shape) == 0,
                                                             np.iinfo(np.int64).min, w.astype(np.int64))))
qmodel_case("w-beyond-int16", set_array("w", lambda w: w.astype(np.int32) + 40000))
qmodel_case("w-uint16", set_array("w", lambda w: w.astype(np.uint16)))
qmodel_case("w-string", set_array("w", lambda w: np.array(["1"] * w.size).reshape(w.shape)))
qmodel_case("w-3d", set_array("w", lambda w: w[None]))
qmodel_case("w-empty", set_array("w", lambda w: np.zeros((0, 0), np.int16)))
qmodel_case("w-extra-row", set_array("w", lambda w: np.concatenate([w, w[:1]])))
qmodel_case("missing-w", drop_array("w"))
qmodel_case("missing-wo", drop_array("wo"))
qmodel_case("missing-kao", drop_array("kao"))
qmodel_case("missing-k", drop_array("k_ka"))
qmodel_case("wo-transposed", set_array("wo", lambda w: w.T.copy()))
qmodel_case("wo-float-nan", set_array("wo", lambda w: np.full(w.shape, np.nan)))
qmodel_case("kao-short", set_array("kao", lambda k: k[:-1]))
qmodel_case("kao-above-one", set_array("kao", lambda k: k + (1 << 25)))
qmodel_case("kbo-negative", set_array("kbo", lambda k: k - (1 << 25)))
qmodel_case("k-short", set_array("k_ka", lambda k: k[:-1]))
qmodel_case("k-out-of-range", set_array("k_ka", lambda k: k.astype(np.int64) + (1 << 40)))
qmodel_case("k-float-nan", set_array("k_kc", lambda k: np.full(k.shape, np.nan)))
qmodel_case("k-2d", set_array("k_kc", lambda k: k[:, None]))
qmodel_case("unknown-member", lambda h, a: a.update(payload=np.frombuffer(C_TEXT.encode(), np.uint8)))
# The hash: weights edited after writing, header (and its hash) left as they were.
qmodel_case("hash-stale", set_array("w", lambda w: w + 1), rehash=False)
qmodel_case("hash-missing", drop_field("hash"), rehash=False)
qmodel_case("hash-garbage", set_field("hash", "0xZZZ"), rehash=False)
qmodel_case("hash-number", set_field("hash", 12345), rehash=False)


def huge_member(g: Goods, d: Path) -> bytes:
    """A zip whose w.npy declares a 2 TB array (and holds a few bytes): sizes must be checked before allocating."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in g.arrays.items():
            if k != "w":
                with z.open(f"{k}.npy", "w") as fh:
                    np.lib.format.write_array(fh, v)
        with z.open("w.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<i2", "fortran_order": False,
                                                      "shape": (1 << 20, 1 << 20)})
            fh.write(b"\0" * 64)
        with z.open("header.npy", "w") as fh:
            np.lib.format.write_array(fh, np.frombuffer(json.dumps(g.header).encode(), np.uint8))
    return buf.getvalue()


def whole_file_cases():
    def good_bytes(g):
        return g.qnpz.read_bytes()
    kinds = {
        "empty": lambda g, d: b"",
        "truncated-10": lambda g, d: good_bytes(g)[: len(good_bytes(g)) // 10],
        "truncated-50": lambda g, d: good_bytes(g)[: len(good_bytes(g)) // 2],
        "truncated-90": lambda g, d: good_bytes(g)[: len(good_bytes(g)) * 9 // 10],
        "truncated-last-byte": lambda g, d: good_bytes(g)[:-1],
        "random-bytes": lambda g, d: np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "text": lambda g, d: b"this is a note, not a model\n" * 20,
        "onnx-renamed": lambda g, d: g.onnx.read_bytes(),
        "nir-renamed": lambda g, d: g.nir.read_bytes(),
        "json": lambda g, d: json.dumps(g.header).encode(),
        "empty-zip": lambda g, d: zipfile_bytes({}),
        "zip-of-text": lambda g, d: zipfile_bytes({"header.npy": b"hello", "w.npy": b"world"}),
        "corrupted-middle": lambda g, d: flip_bytes(good_bytes(g), 0.5),
        "corrupted-crc": lambda g, d: flip_bytes(good_bytes(g), 0.25),
        "huge-member": huge_member,
        "pickled-object": lambda g, d: npz_bytes(w=np.array([{"a": 1}], dtype=object)),
    }
    for label, content in kinds.items():
        for cmd, argv in QMODEL_COMMANDS.items():
            def make(g: Goods, d: Path, content=content, argv=argv):
                (d / "bad.q.npz").write_bytes(content(g, d))
                return argv("bad.q.npz")
            add(f"qmodel-file-{label}-{cmd}", make)
    for cmd, argv in QMODEL_COMMANDS.items():
        add(f"qmodel-missing-{cmd}", lambda g, d, argv=argv: argv("nowhere.q.npz"))
        add(f"qmodel-is-folder-{cmd}", lambda g, d, argv=argv: ((d / "dir.q.npz").mkdir(), argv("dir.q.npz"))[1])


def zipfile_bytes(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def flip_bytes(data: bytes, where: float) -> bytes:
    b = bytearray(data)
    i = int(len(b) * where)
    for j in range(i, min(i + 16, len(b))):
        b[j] ^= 0x5A
    return bytes(b)


whole_file_cases()


# ---------------------------------------------------------------------------------------------- ONNX files

def onnx_mutation(fn):
    def make_bytes(g: Goods) -> bytes:
        import onnx
        model = onnx.load_model(str(g.onnx))
        fn(model)
        return model.SerializeToString()
    return make_bytes


def set_tensor(name, fn):
    def mutate(model):
        from onnx import numpy_helper
        for t in model.graph.initializer:
            if t.name == name:
                t.CopyFrom(numpy_helper.from_array(fn(numpy_helper.to_array(t).copy()), name))
    return mutate


def set_meta(key, value):
    def mutate(model):
        for p in model.metadata_props:
            if p.key == key:
                if value is None:
                    model.metadata_props.remove(p)
                else:
                    p.value = value
                return
    return mutate


def foreign_onnx(g: Goods) -> bytes:
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "g",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, producer_name="someone-else").SerializeToString()


ONNX_KINDS = {
    "empty": lambda g: b"",
    "truncated": lambda g: g.onnx.read_bytes()[: len(g.onnx.read_bytes()) // 2],
    "truncated-tail": lambda g: g.onnx.read_bytes()[:-40],
    "random-bytes": lambda g: np.random.default_rng(4).integers(0, 256, 3000, dtype=np.uint8).tobytes(),
    "text": lambda g: b"ir_version: 8\nnot really\n",
    "qnpz-renamed": lambda g: g.qnpz.read_bytes(),
    "foreign-graph": foreign_onnx,
    "w-nan": onnx_mutation(set_tensor("layers.0.w_in", lambda w: np.full(w.shape, np.nan, np.float32))),
    "w-inf": onnx_mutation(set_tensor("readout.w_out", lambda w: np.full(w.shape, np.inf, np.float32))),
    "w-wrong-shape": onnx_mutation(set_tensor("layers.0.w_in", lambda w: w[:, :-1].copy())),
    "w-float64": onnx_mutation(set_tensor("layers.0.w_rec", lambda w: w.astype(np.float64))),
    "alpha-out-above-one": onnx_mutation(set_tensor("readout.alpha_out", lambda a: a + 2)),
    "meta-neuron-ctext": onnx_mutation(set_meta("hypr_edge.neuron", C_TEXT)),
    "meta-sizes-ctext": onnx_mutation(set_meta("hypr_edge.hidden_sizes", C_TEXT)),
    "meta-sizes-mismatch": onnx_mutation(set_meta("hypr_edge.hidden_sizes", "[7]")),
    "meta-n-inputs-string": onnx_mutation(set_meta("hypr_edge.n_inputs", "eight")),
    "meta-missing-format": onnx_mutation(set_meta("hypr_edge.format", None)),
    "meta-missing-constants": onnx_mutation(set_meta("hypr_edge.constants", None)),
    "meta-constants-nan": onnx_mutation(set_meta("hypr_edge.constants", '{"threshold": NaN}')),
}
ONNX_COMMANDS = {
    "quantize": lambda m: ["quantize", m, "-o", "out.q.npz"],
    "quantize-default-out": lambda m: ["quantize", m],
    "export": lambda m: ["export", m, "--nir", "out.nir"],
}
for label, content in ONNX_KINDS.items():
    for cmd, argv in ONNX_COMMANDS.items():
        def make(g, d, content=content, argv=argv):
            (d / "bad.onnx").write_bytes(content(g))
            return argv("bad.onnx")
        add(f"onnx-{label}-{cmd}", make)
for cmd, argv in ONNX_COMMANDS.items():
    add(f"onnx-missing-{cmd}", lambda g, d, argv=argv: argv("nowhere.onnx"))
    add(f"onnx-is-folder-{cmd}", lambda g, d, argv=argv: ((d / "m.onnx").mkdir(), argv("m.onnx"))[1])


# ---------------------------------------------------------------------------------------------- NIR graphs

def nir_with(fn):
    def make_bytes(g: Goods, d: Path) -> None:
        from hypr_edge.nir_io import read_nir, write_nir
        graph = read_nir(g.nir)
        fn(graph)
        write_nir(graph, d / "bad.nir")
    return make_bytes


def nir_weights(fn):
    def mutate(graph):
        for node in graph.nodes.values():
            if hasattr(node, "weight"):
                node.weight = fn(np.asarray(node.weight))
                return
    return mutate


def raw_nir(content):
    def make(g: Goods, d: Path) -> None:
        (d / "bad.nir").write_bytes(content(g))
    return make


def empty_hdf5(g: Goods, d: Path) -> None:
    import h5py
    with h5py.File(d / "bad.nir", "w") as f:
        f.create_dataset("x", data=np.arange(3))


NIR_KINDS = {
    "empty": raw_nir(lambda g: b""),
    "truncated": raw_nir(lambda g: g.nir.read_bytes()[: len(g.nir.read_bytes()) // 2]),
    "random-bytes": raw_nir(lambda g: np.random.default_rng(5).integers(0, 256, 5000, dtype=np.uint8).tobytes()),
    "text": raw_nir(lambda g: b"nodes: none\n"),
    "onnx-renamed": raw_nir(lambda g: g.onnx.read_bytes()),
    "hdf5-not-nir": empty_hdf5,
    "weight-nan": nir_with(nir_weights(lambda w: np.full(w.shape, np.nan))),
    "weight-wrong-shape": nir_with(nir_weights(lambda w: w[:-1])),
    "no-nodes": nir_with(lambda graph: graph.nodes.clear()),
}
for label, make_file in NIR_KINDS.items():
    def make(g, d, make_file=make_file):
        make_file(g, d)
        return ["import", "bad.nir", "-o", "out.onnx"]
    add(f"nir-{label}-import", make)
    add(f"nir-{label}-import-default-out",
        lambda g, d, make_file=make_file: (make_file(g, d), ["import", "bad.nir"])[1])
add("nir-missing-import", lambda g, d: ["import", "nowhere.nir"])


# ---------------------------------------------------------------------------------------------- SHD HDF5

def shd_folder(d: Path, train=None, test=None, raw_train: bytes | None = None) -> str:
    """A folder with shd_train.h5 / shd_test.h5; train/test: dicts of datasets (None: a small good file)."""
    import h5py
    good = {"times": [np.array([0.1, 0.2]), np.array([0.3])], "units": [np.array([1, 5]), np.array([699])],
            "labels": np.array([3, 7])}
    folder = d / "shd"
    folder.mkdir()
    for name, content in (("shd_train.h5", train), ("shd_test.h5", test)):
        path = folder / name
        if name == "shd_train.h5" and raw_train is not None:
            path.write_bytes(raw_train)
            continue
        c = dict(good, **(content or {}))
        with h5py.File(path, "w") as f:
            vlen_f, vlen_i = h5py.vlen_dtype(np.float64), h5py.vlen_dtype(np.int64)
            if c.get("times") is not False:
                f.create_dataset("spikes/times", data=np.array(c["times"] + [np.zeros(0)], dtype=object)[:-1]
                                 if len(c["times"]) else np.zeros(0, dtype=object), dtype=vlen_f)
            if c.get("units") is not False:
                f.create_dataset("spikes/units", data=np.array(c["units"] + [np.zeros(0)], dtype=object)[:-1]
                                 if len(c["units"]) else np.zeros(0, dtype=object), dtype=vlen_i)
            if c.get("labels") is not False:
                f.create_dataset("labels", data=c["labels"])
    return str(folder)


SHD_KINDS = {
    "empty-file": dict(raw_train=b""),
    "random-bytes": dict(raw_train=bytes(range(256)) * 8),
    "text": dict(raw_train=b"spikes\n"),
    "no-labels": dict(train={"labels": False}),
    "no-times": dict(train={"times": False}),
    "labels-out-of-range": dict(train={"labels": np.array([3, 25])}),
    "labels-negative": dict(train={"labels": np.array([-1, 2])}),
    "labels-float": dict(train={"labels": np.array([0.5, 2.0])}),
    "labels-count-mismatch": dict(train={"labels": np.array([1, 2, 3])}),
    "times-nan": dict(train={"times": [np.array([np.nan, 0.2]), np.array([0.3])]}),
    "times-inf": dict(train={"times": [np.array([np.inf, 0.2]), np.array([0.3])]}),
    "times-negative": dict(train={"times": [np.array([-0.5, 0.2]), np.array([0.3])]}),
    "units-out-of-range": dict(train={"units": [np.array([1, 5]), np.array([700])]}),
    "units-times-mismatch": dict(train={"units": [np.array([1]), np.array([3])]}),
    "zero-samples": dict(train={"times": [], "units": [], "labels": np.zeros(0, np.int64)}),
}
for label, kw in SHD_KINDS.items():
    add(f"shd-{label}-train", lambda g, d, kw=kw: ["train", "--task", "shd", "--data", shd_folder(d, **kw),
                                                  "--out", "run", "--epochs", "1", "--quiet"])
add("shd-missing-folder-train", lambda g, d: ["train", "--task", "shd", "--data", "nowhere", "--out", "run"])
add("shd-no-data-train", lambda g, d: ["train", "--task", "shd", "--out", "run"])


# ---------------------------------------------------------------------------------------------- FSDD WAVs

def wav_bytes(samples: np.ndarray, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def fsdd_folder(d: Path, bad_name: str | None, bad: bytes | None) -> str:
    folder = d / "fsdd"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for speaker in ("alba", "bo"):
        for digit in (0, 1):
            for take in (0, 5):   # adapt: takes 0-4 test, 5+ adapt
                x = (rng.standard_normal(2000) * 3000).astype("<i2")
                (folder / f"{digit}_{speaker}_{take}.wav").write_bytes(wav_bytes(x))
    if bad_name is not None:
        (folder / bad_name).write_bytes(bad)
    return str(folder)


tone = (np.sin(np.arange(2000) * 0.3) * 8000).astype("<i2")
FSDD_KINDS = {
    "empty-wav": ("1_alba_5.wav", b""),
    "text-wav": ("1_alba_5.wav", b"RIFF but not really\n"),
    "truncated-wav": ("1_alba_5.wav", wav_bytes(tone)[:30]),
    "stereo-wav": ("1_alba_5.wav", wav_bytes(np.repeat(tone, 2), channels=2)),
    "rate-44k": ("1_alba_5.wav", wav_bytes(tone, rate=44100)),
    "zero-frames": ("1_alba_5.wav", wav_bytes(np.zeros(0, "<i2"))),
    "8-bit": ("1_alba_5.wav", wav_bytes(np.zeros(100, np.uint8), width=1)),
    "bad-name": ("hello.wav", wav_bytes(tone)),
    "digit-out-of-range": ("12_alba_5.wav", wav_bytes(tone)),
}
for label, (name, content) in FSDD_KINDS.items():
    add(f"fsdd-{label}-train", lambda g, d, name=name, content=content: [
        "train", "--task", "fsdd", "--data", fsdd_folder(d, name, content), "--out", "run", "--epochs", "1",
        "--quiet"])
    add(f"fsdd-{label}-adapt", lambda g, d, name=name, content=content: [
        "adapt", "--data", fsdd_folder(d, name, content), "--out", "run", "--epochs", "1", "--quiet"])
add("fsdd-empty-folder-train", lambda g, d: ["train", "--task", "fsdd", "--data", (d / "e").mkdir() or "e",
                                             "--out", "run"])
add("fsdd-empty-folder-adapt", lambda g, d: ["adapt", "--data", (d / "e").mkdir() or "e", "--out", "run"])
add("fsdd-missing-folder-adapt", lambda g, d: ["adapt", "--data", "nowhere", "--out", "run"])
add("fsdd-unknown-speaker-adapt", lambda g, d: ["adapt", "--data", fsdd_folder(d, None, None), "--speaker", "zed",
                                                "--out", "run"])
add("fsdd-model-missing-adapt", lambda g, d: ["adapt", "--data", fsdd_folder(d, None, None), "--speaker", "bo",
                                              "--model", "nowhere.onnx", "--out", "run"])


# ---------------------------------------------------------------------------------------------- firmware

def firmware_folder(d: Path, boards_mk: str | None, model: bytes | None = None, elf: bytes | None = None) -> str:
    folder = d / "fw"
    folder.mkdir()
    if boards_mk is not None:
        (folder / "boards.mk").write_text(boards_mk)
    if model is not None:
        (folder / "model.q.npz").write_bytes(model)
    if elf is not None:
        (folder / "build" / "mps2-an386").mkdir(parents=True)
        (folder / "build" / "mps2-an386" / "firmware.elf").write_bytes(elf)
    return "fw"


def x86_elf() -> bytes:
    return Path(shutil.which("true") or "/bin/true").read_bytes()


ELF_KINDS = {
    "empty": b"",
    "text": b"not an elf\n",
    "random": bytes(range(256)) * 4,
    "host-elf": None,   # the machine's own /bin/true: an ELF for another CPU
    "elf-magic-only": b"\x7fELF",
}
for label, content in ELF_KINDS.items():
    def elf_bytes(content=content):
        return x86_elf() if content is None else content
    add(f"elf-{label}-run", lambda g, d, b=elf_bytes: ((d / "f.elf").write_bytes(b()),
                                                      ["run", "f.elf", "--board", "mps2-an386", "--hello"])[1])
    add(f"elf-{label}-run-folder", lambda g, d, b=elf_bytes: [
        "run", firmware_folder(d, "DEFAULT_BOARD := mps2-an386\n", elf=b()), "--hello"])
add("fw-missing-run", lambda g, d: ["run", "nowhere", "--hello"])
add("fw-missing-stream", lambda g, d: ["stream", "--firmware", "nowhere", "--quiet"])
add("fw-empty-folder-run", lambda g, d: ["run", firmware_folder(d, None), "--hello"])
add("fw-empty-folder-stream", lambda g, d: ["stream", "--firmware", firmware_folder(d, None), "--quiet"])
add("fw-boards-mk-no-default-run", lambda g, d: ["run", firmware_folder(d, "BOARDS := mps2-an386\n"), "--hello"])
add("fw-boards-mk-garbage-run", lambda g, d: ["run", firmware_folder(d, "\x00\xff garbage"), "--hello"])
add("fw-boards-mk-unknown-board-run", lambda g, d: ["run", firmware_folder(d, "DEFAULT_BOARD := pdp11\n"), "--hello"])
add("fw-not-built-run", lambda g, d: ["run", firmware_folder(d, "DEFAULT_BOARD := mps2-an386\n"), "--hello"])
add("fw-elf-no-board-run", lambda g, d: ((d / "f.elf").write_bytes(x86_elf()), ["run", "f.elf", "--hello"])[1])
add("fw-unknown-board-run", lambda g, d: ["run", firmware_folder(d, "DEFAULT_BOARD := mps2-an386\n", elf=b""),
                                          "--board", "pdp11", "--hello"])
add("fw-model-corrupt-stream", lambda g, d: ["stream", "--firmware", firmware_folder(
    d, "DEFAULT_BOARD := mps2-an386\n", model=b"garbage"), "--quiet"])
add("fw-model-ctext-stream", lambda g, d: ["stream", "--firmware", firmware_folder(
    d, "DEFAULT_BOARD := mps2-an386\n", model=ctext_model(g)), "--quiet"])
add("fw-no-makefile-stream", lambda g, d: ["stream", "--firmware", firmware_folder(
    d, "DEFAULT_BOARD := mps2-an386\n", model=g.qnpz.read_bytes()), "--quiet"], spawns=True)


def ctext_model(g: Goods) -> bytes:
    header = dict(g.header, n_out=C_TEXT)
    header["hash"] = f"0x{model_hash(header, g.arrays):08x}"
    buf = io.BytesIO()
    np.savez(buf, **g.arrays, header=np.frombuffer(json.dumps(header).encode(), np.uint8))
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- arguments

def args_case(case_id: str, argv: list[str], needs=()):
    """argv may name {q} (the good .q.npz), {onnx}, {nir}, {file} (a plain file) and {fsdd} (a WAV folder)."""
    def make(g: Goods, d: Path):
        (d / "plain.txt").write_text("a file\n")
        names = {"q": str(g.qnpz), "onnx": str(g.onnx), "nir": str(g.nir), "file": "plain.txt"}
        if "fsdd" in needs:
            names["fsdd"] = fsdd_folder(d, None, None)
        if "copy" in needs:
            shutil.copy(g.onnx, d / "model.onnx")
        return [a.format(**names) for a in argv]
    add(f"args-{case_id}", make)


NON_NUMBERS = ["nan", "inf", "-inf", "x", ""]
for v in NON_NUMBERS + ["0", "-1"]:
    args_case(f"train-lr-{v or 'empty'}", ["train", "--lr", v, "--out", "run"])
    args_case(f"quantize-lr-{v or 'empty'}", ["quantize", "{onnx}", "-o", "o.q.npz", "--lr", v])
    args_case(f"adapt-lr-{v or 'empty'}", ["adapt", "--data", "x", "--lr", v])
    args_case(f"adapt-device-lr-{v or 'empty'}", ["adapt", "--data", "x", "--device-lr", v])
    args_case(f"generate-core-kb-{v or 'empty'}", ["generate", "{q}", "-o", "o", "--target", "spinnaker",
                                                   "--core-kb", v])
    args_case(f"import-dt-{v or 'empty'}", ["import", "{nir}", "-o", "o.onnx", "--dt", v])
    args_case(f"export-dt-{v or 'empty'}", ["export", "{onnx}", "--nir", "o.nir", "--dt", v])
    args_case(f"run-seconds-{v or 'empty'}", ["run", "nowhere", "--seconds", v])
for v in ["0", "-1", "-5", "x", "1.5", ""]:
    for opt in ("--epochs", "--batch-size", "--chunk", "--steps"):
        args_case(f"train{opt}-{v or 'empty'}", ["train", opt, v, "--out", "run"])
    args_case(f"quantize-calib-{v or 'empty'}", ["quantize", "{onnx}", "-o", "o.q.npz", "--calib", v])
    args_case(f"quantize-chunk-{v or 'empty'}", ["quantize", "{onnx}", "-o", "o.q.npz", "--chunk", v])
    args_case(f"generate-chunk-{v or 'empty'}", ["generate", "{q}", "-o", "o", "--chunk", v])
    args_case(f"generate-cores-{v or 'empty'}", ["generate", "{q}", "-o", "o", "--target", "spinnaker", "--cores", v])
    args_case(f"verify-streams-{v or 'empty'}", ["verify", "{q}", "--streams", v])
    args_case(f"verify-steps-{v or 'empty'}", ["verify", "{q}", "--steps", v])
    args_case(f"stream-limit-{v or 'empty'}", ["stream", "--port", "loop://", "--model", "{q}", "--limit", v])
    args_case(f"pipeline-epochs-{v or 'empty'}", ["pipeline", "--epochs", v, "--out", "p"])
    args_case(f"pipeline-chunk-{v or 'empty'}", ["pipeline", "--chunk", v, "--out", "p"])
    args_case(f"adapt-device-chunk-{v or 'empty'}", ["adapt", "--data", "x", "--device-chunk", v])
for v in ["257", "1000"]:
    args_case(f"quantize-chunk-{v}", ["quantize", "{onnx}", "-o", "o.q.npz", "--chunk", v])
    args_case(f"generate-chunk-{v}", ["generate", "{q}", "-o", "o", "--chunk", v])
    args_case(f"pipeline-chunk-{v}", ["pipeline", "--chunk", v, "--out", "p"])
for v in ["-1", str(2 ** 32), "x", "0x1g"]:
    args_case(f"train-seed-{v}", ["train", "--seed", v, "--out", "run"])
    args_case(f"quantize-seed-{v}", ["quantize", "{onnx}", "-o", "o.q.npz", "--seed", v])
    args_case(f"verify-seed-{v}", ["verify", "{q}", "--seed", v])
    args_case(f"stream-seed-{v}", ["stream", "--port", "loop://", "--model", "{q}", "--seed", v])
args_case("quantize-seed-zero", ["quantize", "{onnx}", "-o", "o.q.npz", "--seed", "0"])
for v in ["0", "-1", "65536", "70000", "http", "80.5"]:
    args_case(f"run-port-{v}", ["run", "nowhere", "--port", v])
for v in ["1", "1.5", "-0.1", "nan", "inf"]:
    args_case(f"train-alpha-out-{v}", ["train", "--alpha-out", v, "--out", "run"])
for v in ["0", "-5", "abc", "12,,4", "12,x", "", "100000", "4,100000"]:
    args_case(f"train-hidden-{v or 'empty'}", ["train", "--hidden", v, "--out", "run", "--epochs", "1"])
args_case("adapt-hidden-two-layers", ["adapt", "--data", "{fsdd}", "--hidden", "8,8", "--out", "run", "--quiet"],
          needs=("fsdd",))
args_case("adapt-hidden-huge", ["adapt", "--data", "{fsdd}", "--speaker", "bo", "--hidden", "100000", "--out", "run",
                                "--quiet"], needs=("fsdd",))
args_case("pipeline-hidden-x", ["pipeline", "--hidden", "x", "--out", "p", "--quiet"])
args_case("pipeline-task-unknown", ["pipeline", "--task", "nope", "--out", "p", "--quiet"])
args_case("pipeline-neuron-unknown", ["pipeline", "--neuron", "izh", "--out", "p", "--quiet"])
for cmd in ("train", "quantize", "generate", "verify", "run", "stream", "adapt", "pipeline", "import", "export"):
    args_case(f"{cmd}-unknown-option", [cmd, "--bogus-option"])
    args_case(f"{cmd}-stray-argument", [cmd, "stray", "more", "--also"])
args_case("no-command", [])
args_case("unknown-command", ["frobnicate"])
args_case("train-task-unknown", ["train", "--task", "nope", "--out", "run"])
args_case("train-task-data-for-generated", ["train", "--task", "digits", "--data", "{file}", "--out", "run"])
args_case("train-neuron-unknown", ["train", "--neuron", "izh", "--out", "run"])
args_case("train-method-unknown", ["train", "--method", "rtrl", "--out", "run"])
args_case("train-lr-missing-value", ["train", "--out", "run", "--lr"])
args_case("quantize-learn-unknown", ["quantize", "{onnx}", "--learn", "weights"])
args_case("quantize-task-unknown", ["quantize", "{onnx}", "-o", "o.q.npz", "--task", "nope"])
args_case("quantize-task-wrong-inputs", ["quantize", "{onnx}", "-o", "o.q.npz", "--task", "resonance"])
args_case("quantize-lr-huge", ["quantize", "{onnx}", "-o", "o.q.npz", "--lr", "1e30"])
args_case("quantize-lr-tiny", ["quantize", "{onnx}", "-o", "o.q.npz", "--lr", "1e-30"])
args_case("generate-target-unknown", ["generate", "{q}", "-o", "o", "--target", "pdp11"])
args_case("generate-learn-unknown", ["generate", "{q}", "-o", "o", "--learn", "weights"])
args_case("generate-build-firmware", ["generate", "{q}", "-o", "o", "--target", "cortex-m4", "--build"])
args_case("generate-cores-too-few", ["generate", "{q}", "-o", "o", "--target", "spinnaker", "--core-kb", "0.001"])
args_case("verify-task-unknown", ["verify", "{q}", "--task", "nope"])
args_case("verify-task-wrong-inputs", ["verify", "{q}", "--task", "resonance"])
args_case("verify-task-needs-data", ["verify", "{q}", "--task", "shd"])
args_case("run-board-unknown", ["run", "nowhere", "--board", "pdp11"])
args_case("stream-no-source", ["stream", "--model", "{q}"])
args_case("stream-two-sources", ["stream", "--port", "loop://", "--firmware", "x", "--model", "{q}"])
args_case("stream-port-no-model", ["stream", "--port", "loop://"])
args_case("stream-port-bad-url", ["stream", "--port", "nonsense://x", "--model", "{q}", "--quiet"])
args_case("stream-port-no-device", ["stream", "--port", "/dev/hypr-edge-no-such-tty", "--model", "{q}", "--quiet"])
args_case("stream-port-refused", ["stream", "--port", "socket://127.0.0.1:1", "--model", "{q}", "--quiet"])
args_case("stream-task-unknown", ["stream", "--port", "loop://", "--model", "{q}", "--task", "nope"])
args_case("stream-task-wrong-inputs", ["stream", "--port", "loop://", "--model", "{q}", "--task", "resonance"])
args_case("stream-split-unknown", ["stream", "--port", "loop://", "--model", "{q}", "--split", "validation"])
args_case("stream-input-missing", ["stream", "--port", "loop://", "--model", "{q}", "--input", "nowhere.npy"])
args_case("stream-input-text", ["stream", "--port", "loop://", "--model", "{q}", "--input", "{file}"])
args_case("stream-input-and-task", ["stream", "--port", "loop://", "--model", "{q}", "--input", "{file}",
                                    "--task", "digits"])
args_case("import-lif-reset-unknown", ["import", "{nir}", "--lif-reset", "sometimes"])
args_case("export-no-nir", ["export", "{onnx}"])
args_case("export-resistance-unknown", ["export", "{onnx}", "--nir", "o.nir", "--resistance", "ohm"])
args_case("export-lif-reset-unknown", ["export", "{onnx}", "--nir", "o.nir", "--lif-reset", "zero"])
args_case("export-onto-its-input", ["export", "model.onnx", "--nir", "model.onnx"], needs=("copy",))
args_case("quantize-onto-its-input", ["quantize", "model.onnx", "-o", "model.onnx"], needs=("copy",))

# Output paths that are files, lie under a file, or cannot be written.
OUTPUTS = {
    "train": ["train", "--out", "{out}", "--epochs", "1", "--quiet"],
    "quantize": ["quantize", "{onnx}", "-o", "{out}"],
    "generate": ["generate", "{q}", "-o", "{out}"],
    "generate-m4": ["generate", "{q}", "-o", "{out}", "--target", "cortex-m4"],
    "generate-spinnaker": ["generate", "{q}", "-o", "{out}", "--target", "spinnaker"],
    "import": ["import", "{nir}", "-o", "{out}"],
    "export": ["export", "{onnx}", "--nir", "{out}"],
    "pipeline": ["pipeline", "--out", "{out}", "--epochs", "1", "--quiet"],
    "adapt": ["adapt", "--data", "{fsdd}", "--out", "{out}", "--quiet"],
}
FOLDER_OUTPUTS = {"train", "generate", "generate-m4", "generate-spinnaker", "pipeline", "adapt"}
for cmd, argv in OUTPUTS.items():
    where = {"under-a-file": "plain.txt/sub", "unwritable": "/proc/hypr-edge-test/out",
             "read-only-fs": "/sys/hypr-edge-test"}
    where["is-a-file" if cmd in FOLDER_OUTPUTS else "is-a-folder"] = "plain.txt" if cmd in FOLDER_OUTPUTS else "."
    for label, out in where.items():
        args_case(f"{cmd}-out-{label}", [a.replace("{out}", out) for a in argv],
                  needs=("fsdd",) if cmd == "adapt" else ())


# ---------------------------------------------------------------------------------------------- the test

def snapshot(folder: Path) -> dict:
    """Every entry under folder: files by content, folders and links by name."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), folder)] = "dir"
        for name in files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, folder)
            out[rel] = "link" if os.path.islink(p) else hashlib.sha1(Path(p).read_bytes()).hexdigest()
    return out


class NoProcesses:
    """Stands in for subprocess.Popen: a bad model file must be refused before anything is compiled or run."""
    started: list = []

    def __init__(self, args, *a, **kw):
        NoProcesses.started.append(args)
        raise OSError(f"test: no process may start for this bad input ({args})")


def test_at_least_300_cases():
    assert len(CASES) >= 300, len(CASES)
    commands = {c.id.split("-")[0] for c in CASES}
    assert {"qmodel", "onnx", "nir", "shd", "fsdd", "elf", "fw", "args"} <= commands


def test_every_expected_error_name_resolves():
    """cli.EXPECTED_ERRORS names classes by path: a renamed class must fail here, not turn into 'internal error'."""
    import importlib
    for path in cli.EXPECTED_ERRORS:
        module, name = path.rsplit(".", 1)
        assert isinstance(getattr(importlib.import_module(module), name), type), path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line(case: Case, goods, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = case.make(goods, work)
    before = snapshot(work)
    if not case.spawns:
        NoProcesses.started = []
        monkeypatch.setattr(subprocess, "Popen", NoProcesses)
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert case.spawns or not NoProcesses.started, f"started {NoProcesses.started}"
    assert code == 2, f"exit {code}; stdout: {captured.out[-500:]!r}; stderr: {captured.err[-2000:]!r}"
    assert len(lines) == 1, captured.err[-3000:]
    assert lines[0].startswith("hypr-edge") and ": error: " in lines[0], lines[0]
    assert "Traceback" not in captured.err and "internal error" not in captured.err, lines[0]
    assert snapshot(work) == before, "the command wrote, changed or deleted files"
    assert not (work / "PWNED").exists()


def test_run_refuses_a_busy_port(tmp_path, capsys, monkeypatch):
    """`run --port N` where something listens already: 'port N is in use', before QEMU starts."""
    elf = Path(shutil.which("true") or "/bin/true")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        from hypr_edge import qemu
        monkeypatch.setattr(qemu, "check_arm_elf", lambda path: None)   # any file: the port is checked next
        monkeypatch.setattr(qemu.shutil, "which", lambda name: "/usr/bin/" + name)
        code = main(["run", str(elf), "--board", "mps2-an386", "--port", str(port), "--hello"])
    finally:
        listener.close()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"port {port} is in use" in err, err


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(Exception):
        main(["--debug", "verify", "nowhere.q.npz"])
    with pytest.raises(Exception):
        main(["verify", "nowhere.q.npz", "--debug"])
    assert main(["verify", "nowhere.q.npz"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
