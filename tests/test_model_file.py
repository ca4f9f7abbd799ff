"""The quantized model file is validated by its one loader (QuantizedModel.load): every corrupt, malformed, edited
or hostile .q.npz is one ModelFileError line naming the file, sizes are checked before anything is allocated, and
no string from a file reaches the generated C. Every command that reads a model refuses such a file before it
compiles anything. Also the input policy (QuantizedModel.quantize_inputs)."""
from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.cli import main
from hypr_edge.codegen.render import check_context, template_context
from hypr_edge.fixed.qmodel import MAX_HEADER_BYTES, ModelFileError, QuantizedModel, QuantizeError
from hypr_edge.fixed.random_models import random_qmodel
from hypr_edge.neurons import NEURONS
from hypr_edge.targets.registry import TARGETS

C_TEXT = '4]; __attribute__((constructor)) static void pwn(void) { system("touch /tmp/pwned"); } int x[1'


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    qm = random_qmodel(np.random.default_rng(3), "alif", 3, 4, 2, True, 4, "all")
    path = tmp_path_factory.mktemp("valid") / "m.q.npz"
    qm.save(path)
    return path


def parts(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(bytes(arrays.pop("header")).decode()), arrays


def write(path: Path, head, arrays: dict, raw_header: bytes | None = None, compressed: bool = False) -> Path:
    """A .q.npz from a header (any JSON value, or raw bytes) and arrays, exactly as given."""
    members = dict(arrays)
    members["header"] = np.frombuffer(raw_header if raw_header is not None else json.dumps(head).encode(), np.uint8)
    (np.savez_compressed if compressed else np.savez)(path, **members)
    return path


def rehash(head: dict, arrays: dict) -> dict:
    """The header with the hash a writer would compute for these arrays (so only the tested defect remains)."""
    if not all(isinstance(v, np.ndarray) and v.dtype.kind in "iu" for v in arrays.values()):
        return head
    qm = QuantizedModel(neuron=head["neuron"], n_in=head["n_in"], n_hidden=head["n_hidden"], n_out=head["n_out"],
                        recurrent=head["recurrent"], formats=head["formats"], w=arrays["w"], wo=arrays["wo"],
                        k={k[2:]: v for k, v in arrays.items() if k.startswith("k_")}, scalars=head["scalars"],
                        kao=arrays["kao"], kbo=arrays["kbo"], chunk=head["chunk"], learn=head["learn"],
                        lr_mant=head["lr_mant"], lr_shift=head["lr_shift"], seed=head["seed"], info=head["info"])
    return {**head, "hash": f"0x{qm.model_hash():08x}"}


# ---- header cases: (name, function(head) -> head); the hash is recomputed where it can be, so only the tested
# ---- defect remains (a str n_out could not be hashed by a writer: its hash stays the old one, refused anyway)
def set_field(key, value):
    def f(h):
        h[key] = value
        return h
    return f


def del_field(key):
    def f(h):
        del h[key]
        return h
    return f


HEADER_CASES = [
    ("n_out holds C text", set_field("n_out", C_TEXT)),
    ("n_in holds C text", set_field("n_in", C_TEXT)),
    ("neuron holds C text", set_field("neuron", 'lif.h"\n#include "/etc/passwd')),
    ("learn holds C text", set_field("learn", "all\n#define X")),
    *[(f"{key} as {type(v).__name__} {v!r}", set_field(key, v))
      for key in ("n_in", "n_hidden", "n_out", "chunk", "seed", "lr_mant", "lr_shift")
      for v in ("4", 4.0, True, None, [4], {"v": 4}, -1, 2 ** 70, *([0] if key[:3] != "lr_" else []))],
    ("n_hidden doubled", set_field("n_hidden", 8)),
    ("n_in off by one", set_field("n_in", 4)),
    ("n_out off by one", set_field("n_out", 3)),
    ("n_hidden huge", set_field("n_hidden", 60000)),
    ("recurrent as 1", set_field("recurrent", 1)),
    ("recurrent as string", set_field("recurrent", "true")),
    ("recurrent flipped", set_field("recurrent", False)),
    ("unknown neuron", set_field("neuron", "izhikevich")),
    ("neuron as number", set_field("neuron", 3)),
    ("another neuron", set_field("neuron", "lif")),
    ("unknown learn mode", set_field("learn", "sometimes")),
    ("chunk 0", set_field("chunk", 0)),
    ("chunk 257", set_field("chunk", 257)),
    ("seed 0", set_field("seed", 0)),
    ("seed 2^32", set_field("seed", 2 ** 32)),
    ("lr_shift 41", set_field("lr_shift", 41)),
    ("lr_mant 2^15", set_field("lr_mant", 2 ** 15)),
    ("format_version 2", set_field("format_version", 2)),
    ("format_version as string", set_field("format_version", "1")),
    ("format_version as bool", set_field("format_version", True)),
    ("fa changed", set_field("fa", 20)),
    ("fq changed", set_field("fq", 16)),
    ("feo as float", set_field("feo", 14.0)),
    ("formats not an object", set_field("formats", [1, 2, 3])),
    ("formats missing fe", lambda h: {**h, "formats": {k: v for k, v in h["formats"].items() if k != "fe"}}),
    ("formats extra key", lambda h: {**h, "formats": {**h["formats"], "fz": 3}}),
    ("format fx as string", lambda h: {**h, "formats": {**h["formats"], "fx": "14"}}),
    ("format fs 30", lambda h: {**h, "formats": {**h["formats"], "fs": 30}}),
    ("format fw negative", lambda h: {**h, "formats": {**h["formats"], "fw": -1}}),
    ("scalars not an object", set_field("scalars", "th0")),
    ("scalars missing", lambda h: {**h, "scalars": {}}),
    ("scalars extra", lambda h: {**h, "scalars": {**h["scalars"], "zz": 1}}),
    ("scalar as string", lambda h: {**h, "scalars": {k: str(v) for k, v in h["scalars"].items()}}),
    ("scalar as float", lambda h: {**h, "scalars": {k: float(v) for k, v in h["scalars"].items()}}),
    ("scalar beyond int32", lambda h: {**h, "scalars": {k: 2 ** 40 for k in h["scalars"]}}),
    ("info not an object", set_field("info", "notes")),
    ("info a list", set_field("info", [1, 2])),
    ("info constants unknown name", lambda h: {**h, "info": {"constants": {"evil": 1.0}}}),
    ("info constant as string", lambda h: {**h, "info": {"constants": {"b0": "1.0"}}}),
    ("info constants a list", lambda h: {**h, "info": {"constants": [1.0]}}),
    ("info too deep", lambda h: {**h, "info": {"a": [[[[[[[[[[1]]]]]]]]]]}}),
    *[(f"missing {key}", del_field(key)) for key in
      ("format_version", "neuron", "n_in", "n_hidden", "n_out", "recurrent", "formats", "scalars", "chunk", "learn",
       "lr_mant", "lr_shift", "seed", "fa", "fq", "feo", "info", "hash")],
    ("extra key", set_field("comment", "hi")),
]


@pytest.mark.parametrize("name,edit", HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_header_defects_are_refused(tmp_path, valid, name, edit):
    head, arrays = parts(valid)
    head = edit(head)
    try:   # give the file the hash a writer would have written, where one can be computed
        head = rehash(head, arrays) if "hash" in head else head
    except Exception:   # noqa: BLE001  (fields a writer could not even hash: the old hash stays)
        pass
    path = write(tmp_path / "bad.q.npz", head, arrays)
    with pytest.raises(ModelFileError) as info:
        QuantizedModel.load(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message, message


def _edit_array(name, fn):
    def f(arrays):
        arrays[name] = fn(arrays[name])
        return arrays
    return f


ARRAY_CASES = [
    ("w as float", _edit_array("w", lambda a: a.astype(np.float32))),
    ("w as float with NaN", _edit_array("w", lambda a: np.full(a.shape, np.nan))),
    ("w as bool", _edit_array("w", lambda a: a != 0)),
    ("w as complex", _edit_array("w", lambda a: a.astype(np.complex64))),
    ("w as text", _edit_array("w", lambda a: a.astype("U4"))),
    ("w as structured", _edit_array("w", lambda a: np.zeros(a.shape, [("v", "<i2")]))),
    ("w INT64_MIN", _edit_array("w", lambda a: np.full(a.shape, np.iinfo(np.int64).min))),
    ("w 32768", _edit_array("w", lambda a: np.full(a.shape, 32768, np.int32))),
    ("w uint64 huge", _edit_array("w", lambda a: np.full(a.shape, 2 ** 63, np.uint64))),
    ("w transposed", _edit_array("w", lambda a: a.T.copy())),
    ("w 1-D", _edit_array("w", lambda a: a.ravel())),
    ("w short", _edit_array("w", lambda a: a[:-1])),
    ("w a column short", _edit_array("w", lambda a: a[:, :-1])),
    ("w 3-D", _edit_array("w", lambda a: a[None])),
    ("w scalar", _edit_array("w", lambda a: np.int16(1))),
    ("wo short", _edit_array("wo", lambda a: a[:, :-1])),
    ("wo as float", _edit_array("wo", lambda a: a.astype(np.float64))),
    ("kao beyond 1.0", _edit_array("kao", lambda a: a + (1 << 25))),
    ("kbo negative", _edit_array("kbo", lambda a: a - (1 << 25))),
    ("kao long", _edit_array("kao", lambda a: np.concatenate([a, a]))),
    ("a constant beyond its range", _edit_array("k_ka", lambda a: np.full(a.shape, 1 << 30, np.int64))),
    ("a constant short", _edit_array("k_kc", lambda a: a[:-1])),
    ("a constant as float", _edit_array("k_kc", lambda a: a.astype(np.float64))),
    ("missing w", lambda arrays: {k: v for k, v in arrays.items() if k != "w"}),
    ("missing a constant", lambda arrays: {k: v for k, v in arrays.items() if k != "k_kr"}),
    ("extra member", lambda arrays: {**arrays, "payload": np.zeros(3, np.int16)}),
    ("another model's constants", lambda arrays: {**{k: v for k, v in arrays.items() if k not in ("k_kr", "k_kr1")},
                                                  "k_kb": arrays["k_ka"]}),
]


@pytest.mark.parametrize("name,edit", ARRAY_CASES, ids=[c[0] for c in ARRAY_CASES])
def test_array_defects_are_refused(tmp_path, valid, name, edit):
    head, arrays = parts(valid)
    arrays = edit(arrays)
    path = write(tmp_path / "bad.q.npz", head, arrays)
    with pytest.raises(ModelFileError) as info:
        QuantizedModel.load(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_object_arrays_are_refused_without_unpickling(tmp_path, valid):
    head, arrays = parts(valid)
    arrays["w"] = np.array([object()] * arrays["w"].size, dtype=object).reshape(arrays["w"].shape)
    path = write(tmp_path / "pickle.q.npz", head, arrays)
    with pytest.raises(ModelFileError, match="integers expected"):
        QuantizedModel.load(path)


def test_edited_weights_with_the_old_hash_are_refused(tmp_path, valid):
    head, arrays = parts(valid)
    arrays["w"] = arrays["w"].copy()
    arrays["w"][0, 0] ^= 1
    path = write(tmp_path / "edited.q.npz", head, arrays)
    with pytest.raises(ModelFileError, match="do not match its hash"):
        QuantizedModel.load(path)
    head["seed"] = head["seed"] ^ 1          # a header number edited: also covered by the hash
    arrays = parts(valid)[1]
    with pytest.raises(ModelFileError, match="do not match its hash"):
        QuantizedModel.load(write(tmp_path / "seed.q.npz", head, arrays))


@pytest.mark.parametrize("value", ["0x1234", "12345678", 305419896, None, "0xZZZZZZZZ"])
def test_malformed_hash_is_refused(tmp_path, valid, value):
    head, arrays = parts(valid)
    head["hash"] = value
    with pytest.raises(ModelFileError, match="hash"):
        QuantizedModel.load(write(tmp_path / "h.q.npz", head, arrays))


RAW_HEADERS = [
    ("a JSON list", b"[1, 2, 3]"),
    ("a JSON string", b'"model"'),
    ("a JSON number", b"42"),
    ("JSON null", b"null"),
    ("not JSON", b"{this is not json"),
    ("not UTF-8", b"\xff\xfe{}"),
    ("empty", b""),
    ("NaN in JSON", None),
    ("duplicate keys", None),
    ("nested 100000 deep", b"[" * 100000 + b"]" * 100000),
]


@pytest.mark.parametrize("name,raw", RAW_HEADERS, ids=[c[0] for c in RAW_HEADERS])
def test_bad_header_json_is_refused(tmp_path, valid, name, raw):
    head, arrays = parts(valid)
    if name == "NaN in JSON":
        raw = json.dumps({**head, "info": {"constants": {"b0": float("nan")}}}).encode()
    elif name == "duplicate keys":
        text = json.dumps(head)
        raw = (text[:-1] + ', "n_out": 999}').encode()
    path = write(tmp_path / "raw.q.npz", None, arrays, raw_header=raw)
    with pytest.raises(ModelFileError) as info:
        QuantizedModel.load(path)
    assert str(info.value).startswith(str(path))


def test_header_as_wrong_dtype_or_too_big(tmp_path, valid):
    head, arrays = parts(valid)
    text = json.dumps(head).encode()
    for bad in (np.frombuffer(text, np.uint8).astype(np.float64), np.frombuffer(text, np.int8).reshape(1, -1),
                np.zeros(MAX_HEADER_BYTES + 1, np.uint8)):
        np.savez(tmp_path / "x.q.npz", header=bad, **arrays)
        with pytest.raises(ModelFileError):
            QuantizedModel.load(tmp_path / "x.q.npz")


def _npy_bytes(shape, dtype="<i2", data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def test_members_declaring_huge_arrays_cost_nothing(tmp_path, valid):
    """A member whose .npy header declares 2 TB (or whose zip entry claims it) is refused from its header."""
    head, arrays = parts(valid)
    for name, shape in (("w", (1 << 20, 1 << 20)), ("header", (2 * 1024 ** 4,))):
        path = tmp_path / f"huge-{name}.q.npz"
        with zipfile.ZipFile(path, "w") as zf:
            for k, v in arrays.items():
                if k != name:
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, v)
                    zf.writestr(f"{k}.npy", buf.getvalue())
            if name != "header":
                zf.writestr("header.npy", _npy_bytes((len(json.dumps(head)),), "|u1", json.dumps(head).encode()))
            zf.writestr(f"{name}.npy", _npy_bytes(shape, "|u1" if name == "header" else "<i2", b"\0" * 64))
        with pytest.raises(ModelFileError):
            QuantizedModel.load(path)


def test_npy_header_size_is_capped(tmp_path, valid):
    head, arrays = parts(valid)
    path = tmp_path / "bighead.q.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in {**arrays, "header": np.frombuffer(json.dumps(head).encode(), np.uint8)}.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, v)
            data = buf.getvalue()
            if k == "w":   # the same array, its .npy header padded to 100 kB
                hlen = int.from_bytes(data[8:10], "little")
                pad = 100_000
                header = data[10:10 + hlen].rstrip(b"\n") + b" " * pad + b"\n"
                data = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header + data[10 + hlen:]
            zf.writestr(f"{k}.npy", data)
    with pytest.raises(ModelFileError):
        QuantizedModel.load(path)


def file_cases(valid: Path, tmp: Path) -> list[tuple[str, Path]]:
    good = valid.read_bytes()
    out = []

    def put(name, data: bytes):
        p = tmp / f"{name}.q.npz"
        p.write_bytes(data)
        out.append((name, p))
    put("empty", b"")
    put("one byte", b"P")
    put("random bytes", np.random.default_rng(0).bytes(4096))
    put("text", b"hello world\n")
    for cut in (10, 30, 100, len(good) // 3, len(good) // 2, len(good) - 30, len(good) - 1):
        put(f"truncated at {cut}", good[:cut])
    flipped = bytearray(good)
    i = good.find(b"w.npy")
    flipped[i + 200] ^= 0xFF    # inside the stored data of a member: the CRC catches it
    put("a flipped byte", bytes(flipped))
    put("a zip of text", _zip({"notes.txt": b"hi"}))
    put("a zip without header", _zip({"w.npy": _npy_bytes((2, 2), "<i2", b"\0" * 8)}))
    put("an empty zip", _zip({}))
    put("a folder entry", _zip({"dir/": b""}))
    out.append(("a folder", tmp))
    out.append(("missing", tmp / "nowhere.q.npz"))
    return out


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_damaged_files_are_one_line_each(tmp_path, valid):
    for name, path in file_cases(valid, tmp_path):
        with pytest.raises(ModelFileError) as info:
            QuantizedModel.load(path)
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message, (name, message)


def test_valid_files_load_compressed_or_not(tmp_path, valid):
    head, arrays = parts(valid)
    qm = QuantizedModel.load(valid)
    again = QuantizedModel.load(write(tmp_path / "c.q.npz", head, arrays, compressed=True))
    assert again.model_hash() == qm.model_hash()
    assert all(v.dtype == np.int64 for v in (again.w, again.wo, again.kao, again.kbo, *again.k.values()))


@pytest.mark.parametrize("neuron", NEURONS)
def test_every_neuron_model_round_trips(tmp_path, neuron):
    qm = random_qmodel(np.random.default_rng(1), neuron, 2, 3, 2, neuron != "lif", 3, "all", extreme=True)
    qm.save(tmp_path / "m.q.npz")
    assert QuantizedModel.load(tmp_path / "m.q.npz").model_hash() == qm.model_hash()


def test_check_refuses_what_the_loader_refuses_in_memory():
    qm = random_qmodel(np.random.default_rng(3), "lif", 3, 4, 2, True, 4, "all")
    for attr, value in (("n_out", C_TEXT), ("chunk", "4"), ("seed", True), ("learn", "x"), ("recurrent", 1),
                        ("w", qm.w.astype(float)), ("wo", qm.wo[:, :-1]), ("kao", qm.kao + (1 << 25)),
                        ("info", {"constants": {"threshold": float("inf")}})):
        bad = QuantizedModel(**{**qm.__dict__, attr: value})
        with pytest.raises(QuantizeError):
            bad.check()
        with pytest.raises(QuantizeError):
            template_context(bad)


def test_save_refuses_an_invalid_model(tmp_path):
    qm = random_qmodel(np.random.default_rng(3), "lif", 3, 4, 2, True, 4, "all")
    qm.n_hidden = 5
    with pytest.raises(QuantizeError):
        qm.save(tmp_path / "m.q.npz")
    assert not any(tmp_path.iterdir())


def test_templates_receive_only_checked_integers_and_names():
    qm = random_qmodel(np.random.default_rng(3), "lif", 3, 4, 2, True, 4, "all")
    ctx = template_context(qm)
    check_context(ctx)
    for bad in ("a\nb", '"', "*/", C_TEXT, 1.5, np.float64(2.0), np.arange(3.0), None, object()):
        with pytest.raises(TypeError):
            check_context({**ctx, "n_out": bad})
    qm.info = {"note": C_TEXT, "constants": {"threshold": 1.0}}   # info is free text: it never reaches the C
    assert C_TEXT not in json.dumps(template_context(qm), default=str)


# ---- every command refuses such a file before anything is compiled ------------------------------------------

def hostile_files(valid: Path, tmp: Path) -> dict[str, Path]:
    head, arrays = parts(valid)
    out = {}
    out["C text in n_out"] = write(tmp / "ctext.q.npz", {**head, "n_out": C_TEXT}, arrays)
    double = rehash({**head, "n_hidden": 2 * head["n_hidden"]}, {**arrays})
    out["n_hidden doubled"] = write(tmp / "double.q.npz", double, arrays)
    out["w transposed"] = write(tmp / "transposed.q.npz", head, {**arrays, "w": arrays["w"].T.copy()})
    out["edited weights"] = write(tmp / "edited.q.npz", head, {**arrays, "w": arrays["w"] + 1})
    return out


@pytest.fixture
def no_subprocess(monkeypatch):
    """Records any attempt to start a process (a compiler, make, QEMU) and refuses it."""
    calls = []

    class Refused(subprocess.Popen):
        def __init__(self, args, *a, **k):
            calls.append(args)
            raise OSError("test: no process may start")
    monkeypatch.setattr(subprocess, "Popen", Refused)
    return calls


def commands(model: Path, tmp: Path) -> list[list[str]]:
    out = [["generate", str(model), "-o", str(tmp / f"gen-{t}"), "--target", t] for t in TARGETS]
    out += [["generate", str(model), "-o", str(tmp / "gen-build"), "--build"],
            ["generate", str(model), "-o", str(tmp / "gen-sp"), "--target", "spinnaker", "--build"],
            ["verify", str(model)], ["verify", str(model), "--learn"],
            ["stream", "--port", "loop://", "--model", str(model)]]
    fw = tmp / "fw"     # a firmware folder whose model file is the hostile one
    fw.mkdir(exist_ok=True)
    (fw / "boards.mk").write_text("DEFAULT_BOARD := mps2-an386\n")
    (fw / "model.q.npz").write_bytes(model.read_bytes())
    out.append(["stream", "--firmware", str(fw)])
    return out


def test_every_command_refuses_hostile_models_before_compiling(tmp_path, valid, no_subprocess, capsys):
    for what, model in hostile_files(valid, tmp_path).items():
        for argv in commands(model, tmp_path):
            code = main(argv)
            err = capsys.readouterr().err
            assert code == 2, (what, argv, err)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in err, (what, argv, err)
            assert not no_subprocess, (what, argv, no_subprocess)
            assert not any(p.name.startswith("gen-") for p in tmp_path.iterdir()), (what, argv)
    assert not Path("/tmp/pwned").exists()


# ---- the input policy --------------------------------------------------------------------------------------

def test_inputs_saturate_with_their_sign_and_nan_is_refused():
    qm = random_qmodel(np.random.default_rng(3), "lif", 3, 4, 2, True, 4, "all")
    fx = qm.formats["fx"]
    x = np.array([1e30, -1e30, np.inf, -np.inf, 0.5, -0.5, 1.0, 2.0 ** (15 - fx), -(2.0 ** (15 - fx))])
    r = qm.quantize_inputs_counted(x)
    assert list(r.values[:4]) == [32767, -32768, 32767, -32768]
    assert r.values[4] == round(0.5 * 2 ** fx) and r.values[5] == -round(0.5 * 2 ** fx)
    assert r.values[7] == 32767 and r.values[8] == -32768      # exactly 2^15: one past the top; -2^15 fits
    assert r.saturated == 5 and r.nan_zeroed == 0
    assert np.array_equal(qm.quantize_inputs(x), r.values)
    with pytest.raises(QuantizeError, match="NaN"):
        qm.quantize_inputs(np.array([0.0, np.nan]))
    z = qm.quantize_inputs_counted(np.array([np.nan, 1e9, 0.25]), nan="zero")
    assert list(z.values) == [0, 32767, round(0.25 * 2 ** fx)] and z.saturated == 1 and z.nan_zeroed == 1
    with pytest.raises(QuantizeError):
        qm.quantize_inputs(np.array(["1.0", "x"]))


def test_verify_reports_saturated_inputs(tmp_path, monkeypatch, capsys):
    """verify counts inputs beyond the format (a task whose inputs are scaled far beyond it)."""
    from hypr_edge.codegen import verify as verify_module
    from hypr_edge.tasks.base import Dataset
    qm = random_qmodel(np.random.default_rng(3), "lif", 3, 4, 2, True, 4, "all")
    qm.save(tmp_path / "m.q.npz")
    x = np.full((2, 5, 3), 1e6)
    ds = Dataset("big", x, np.zeros(2, np.int64), x, np.zeros(2, np.int64), 2, None, "huge inputs")
    monkeypatch.setattr(verify_module, "load_task", lambda *a, **k: ds)
    monkeypatch.setattr(verify_module, "verify", lambda qm, streams: None)
    assert main(["verify", str(tmp_path / "m.q.npz"), "--task", "big", "--streams", "2"]) == 0
    assert "input: 30 of 30 values beyond the input format" in capsys.readouterr().out
