"""The hand-written C kernels (firmware/hypr/) on their own, without the generator: the primitives of hypr_fixed.h
give what their NumPy twins in hypr_edge/fixed/spec.py give (compiled under -Wall -Wextra -Werror and UBSan, which
aborts on any overflow or bad shift); hypr_spec.h holds spec.py's constants; every registered neuron model has a
kernel that compiles against the interface of firmware/hypr/README.md."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hypr_edge.codegen.render import kernel_dir, spec_header
from hypr_edge.fixed import spec as fs
from hypr_edge.neurons import MODELS

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
CFLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined", "-fno-sanitize-recover"]
DRIVER = Path(__file__).parent / "fixtures" / "c_primitives.c"


@pytest.fixture(scope="module")
def run_c(tmp_path_factory):
    """Build the driver once; run_c(lines) -> its output lines, one per case."""
    exe = tmp_path_factory.mktemp("prims") / "c_primitives"
    subprocess.run(["gcc", *CFLAGS, f"-I{kernel_dir()}", "-o", str(exe), str(DRIVER)], check=True)

    def run(lines: list[str]) -> list[str]:
        r = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        assert len(out) == len(lines)
        return out
    return run


def _check(run_c, cases: list[tuple[str, tuple, int]]):
    out = run_c([" ".join([op, *map(str, args)]) for op, args, _ in cases])
    for (op, args, want), got in zip(cases, out):
        assert int(got) == int(want), f"{op}{args}: C {got}, NumPy {want}"


def test_spec_header_is_current():
    assert (kernel_dir() / "hypr_spec.h").read_text() == spec_header(), \
        "firmware/hypr/hypr_spec.h is stale: regenerate it (the command is in its first lines)"


def test_integer_primitives(run_c):
    rng = np.random.default_rng(0)
    cases = []
    for v in [0, 1, -1, 2, -2, 3, -3, 5, -5, 7, -7, -8, -9, (1 << 40) + 3, -(1 << 40) - 3, (1 << 61), -(1 << 61)]:
        for s in (0, 1, 2, 3, 24, 31, 40):      # s = 0 is the identity; negative v rounds half up (toward +inf)
            cases.append(("rshift_round", (v, s), fs.rshift_round(v, s)))
    for lo, hi in [(-32768, 32767), (-(1 << 31), (1 << 31) - 1), (-5, 5), (0, 0), (3, 1 << 40)]:
        for v in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, 0, -(1 << 62), 1 << 62):
            cases.append(("sat", (v, lo, hi), fs.sat(v, lo, hi)))
    for v in (-32769, -32768, 32767, 32768, -(1 << 31) - 1, -(1 << 31), (1 << 31) - 1, 1 << 31, 0):
        cases += [("sat16", (v,), fs.sat16(v)), ("sat32", (v,), fs.sat32(v)),
                  ("sat_sym", (v, 40000), fs.sat_sym(v, 40000))]
    for _ in range(200):
        v = int(rng.integers(-(1 << 40), 1 << 40))
        f_from, f_to = (int(x) for x in rng.integers(0, 22, 2))
        cases.append(("align", (v, f_from, f_to), fs.align(v, f_from, f_to)))
        a, b = (int(x) for x in rng.integers(-(1 << 31), 1 << 31, 2))
        cases.append(("mul32", (a, b), a * b))
        cases.append(("mul64_32", (a, b), a * b))
    cases += [("mul32", (-(1 << 31), -(1 << 31)), 1 << 62),
              ("mul32", ((1 << 31) - 1, -(1 << 31)), -(1 << 62) + (1 << 31))]
    _check(run_c, cases)



def test_narrow_primitives(run_c):
    """The 32-bit shortcuts of the kernels against the spec's functions they stand for: add64_32 = acc + v,
    shift_sat32 = sat32(v >> s), round_sat32 = sat32(rshift_round(v, s)), sat_sym32 = sat_sym(v, m),
    round_sat_sym = sat_sym(rshift_round(v, s), m); at the saturation bounds, on both sides of them, for negative
    values and at rounding ties (v = (2k + 1) 2^(s-1))."""
    rng = np.random.default_rng(4)
    i32 = (-(1 << 31), -(1 << 31) + 1, -1, 0, 1, (1 << 31) - 2, (1 << 31) - 1)
    cases = [("add64_32", (acc, v), acc + v)
             for acc in (0, -1, 1 << 40, -(1 << 40) - 5, (1 << 62), -(1 << 62), (1 << 32) - 1, -(1 << 32)) for v in i32]
    for s in (1, 2, 5, 23, 24, 30, 31):
        # with their neighbours: v >> s at the int32 bounds, then rshift_round(v, s) there
        edges = [(1 << 31) << s, -(1 << 31) << s, ((1 << 31) << s) - (1 << (s - 1)), (-(1 << 31) << s) - (1 << (s - 1))]
        ties = [((2 * k + 1) << (s - 1)) for k in (0, 1, -1, -2, 1000, -1001)]
        rand = [int(v) for v in rng.integers(-(1 << 62), 1 << 62, 8)] + [int(v) >> 20 for v in rng.integers(
            -(1 << 62), 1 << 62, 8)]
        for base in [0, 1, -1, *edges, *ties, *rand]:
            for v in (base - 1, base, base + 1):
                cases.append(("shift_sat32", (v, s), fs.sat32(v >> s)))
                cases.append(("round_sat32", (v, s), fs.sat32(fs.rshift_round(v, s))))
                for m in (0, 1, 40000, (1 << 28) - 1, (1 << 31) - 1):
                    cases.append(("round_sat_sym", (v, s, m), fs.sat_sym(fs.rshift_round(v, s), m)))
    for v in (-(1 << 40), 0, 1 << 40, (1 << 31) - 1, -(1 << 31), 7, -7):     # s = 0: sat32 alone
        cases.append(("round_sat32", (v, 0), fs.sat32(v)))
        cases.append(("round_sat_sym", (v, 0, 5), fs.sat_sym(v, 5)))
    for m in (0, 1, 5, 40000, (1 << 28) - 1, (1 << 31) - 1):
        for v in {*i32, m, m + 1, m - 1, -m, -m - 1, -m + 1, *(int(x) for x in rng.integers(-(1 << 31), 1 << 31, 4))}:
            if -(1 << 31) <= v < 1 << 31:
                cases.append(("sat_sym32", (v, m), fs.sat_sym(v, m)))
    _check(run_c, cases)

def test_stochastic_shift(run_c):
    rng = np.random.default_rng(1)
    cases = []
    for s in (0, 1, 5, 17, 31, 32, 33, 40):
        for r in (0, 1, 0x80000000, 0xFFFFFFFF, int(rng.integers(0, 1 << 32))):
            for v in (0, 1, -1, 12345, -12345, (1 << 45) + 7, -(1 << 45) - 7):
                cases.append(("stochastic_shift", (v, r, s), int(fs.stochastic_shift(v, np.uint64(r), s))))
    _check(run_c, cases)



def test_row_update_helpers(run_c):
    """hypr_row_update.h's 32-bit steps of the synapse update (docs/firmware.md, "Exact shortcuts"), against the
    spec: the new eligibility's input term is sat_sym(rshift_round(v, s), 2^30) (its one-test path for 2 <= s <= 31,
    the plain one elsewhere); the SGD step is sat16(w - stochastic_shift(v, r, s)) (32-bit for s >= 32)."""
    rng = np.random.default_rng(5)
    cases = []
    for s in (0, 1, 2, 3, 9, 10, 23, 31, 32, 40):
        bound = 1 << min(30 + s, 56)   # 2^(30+s): the term's saturation bound (sums b < 2^56); ties at (2k+1) 2^(s-1)
        values = [0, 1, -1, bound, -bound, bound - (1 << max(s - 1, 0)), -bound - (1 << max(s - 1, 0)),
                  *(((2 * k + 1) << max(s - 1, 0)) for k in (0, -1, 5, -6)), (1 << 54) - 1, -(1 << 54),
                  *(int(v) >> int(rng.integers(0, 30)) for v in rng.integers(-(1 << 54), 1 << 54, 6))]
        for base in values:
            for v in (base - 1, base, base + 1):
                cases.append(("elig_input_term", (v, s), fs.sat_sym(fs.rshift_round(v, s), 1 << 30)))
    g_lr = (fs.G_MAX * ((1 << 15) - 1))   # |G lr_mant| at its largest (§5)
    for s in (0, 1, 25, 31, 32, 33, 47, 61):
        for w in (-32768, -1, 0, 32767):
            for v in (0, 1, -1, 12345 << 20, -(12345 << 20), g_lr, -g_lr, *map(int, rng.integers(-g_lr, g_lr, 3))):
                for r in (0, 0xFFFFFFFF, int(rng.integers(0, 1 << 32))):
                    cases.append(("sgd_step", (w, v, r, s), fs.sat16(w - int(fs.stochastic_shift(v, np.uint64(r), s)))))
    _check(run_c, cases)

def test_xorshift32_sequence(run_c):
    for seed in (fs.XORSHIFT_DEFAULT_SEED, 1, 0xFFFFFFFF):
        got = [int(v) for v in run_c([f"xorshift32 {seed} 1000"])[0].split()]
        want, x = [], np.uint64(seed)
        for _ in range(1000):
            x = fs.xorshift32(x)
            want.append(int(x))
        assert got == want, f"seed {seed:#x}"
    draws, _ = fs.xorshift32_draws(np.array([0xFFFFFFFF], dtype=np.uint64), 1000)   # the emulator's jump-ahead
    assert [int(v) for v in draws[0]] == got


def _tables():
    surrogates = {m.surrogate.name: m.surrogate for m in MODELS.values()}
    return [("exp2", fs.exp2_table())] + [(name, fs.psi_table(s)) for name, s in sorted(surrogates.items())]


@pytest.mark.parametrize("name,table", _tables(), ids=[n for n, _ in _tables()])
def test_lut_interp(run_c, name, table):
    """Inside every segment, at both ends of the table and past its end (the last entry)."""
    rng = np.random.default_rng(2)
    lines, want = [f"table {len(table)} " + " ".join(str(int(v)) for v in table)], ["ok"]
    for shift in (0, 1, 8, 14):
        end = (fs.LUT_SIZE - 1) << shift
        points = [0, 1, (1 << shift) - 1, 1 << shift, end - 1, end, end + 1, end << 4,
                  *(int(a) for a in rng.integers(0, end, 50))]
        for a in points:
            lines.append(f"lut_interp {a} {shift}")
            want.append(str(int(fs.lut_interp(table, a, shift))))
    assert run_c(lines) == want


def test_softmax_eps(run_c):
    rng = np.random.default_rng(3)
    e2 = fs.exp2_table()
    lines, want = [f"table {len(e2)} " + " ".join(str(int(v)) for v in e2)], ["ok"]
    for _ in range(200):
        n, f = int(rng.integers(1, 13)), int(rng.integers(8, 25))
        o = rng.integers(-(1 << 31), 1 << 31, n) if rng.random() < 0.3 else rng.integers(-(8 << f), 8 << f, n)
        label = int(rng.integers(-1, n))
        lines.append(f"softmax_eps {n} {label} {f} " + " ".join(str(int(v)) for v in o))
        want.append(" ".join(str(int(v)) for v in fs.softmax_eps(o, np.array(label), f, e2)))
    assert run_c(lines) == want


@pytest.mark.parametrize("name", list(MODELS))
def test_neuron_kernel_compiles_alone(tmp_path, name):
    """neurons/<name>.h needs only hypr_fixed.h, FS, D, its K_<NAME> tables and <NAME> scalars (README.md), and
    defines h_of, neuron_step, jacobian_at, g_at and input_gain with the interface's types."""
    model = MODELS[name]
    d = len(model.state_names)
    src = ['#include "hypr_fixed.h"', "#define FS 16", f"#define D {d}"]
    src += [f"static const int32_t K_{k.upper()}[1] = {{0}};" for k in model.fixed_consts]
    src += [f"#define {k.upper()} 0LL" for k in model.fixed_scalars]
    src += [f'#include "neurons/{name}.h"',
            "int check(int32_t *s, int32_t *A, int32_t *g);",
            "int check(int32_t *s, int32_t *A, int32_t *g)",
            "{",
            "    int64_t hp;",
            "    neuron_step(0, s, 1, (int64_t)1 << FS);",
            "    hp = h_of(s);",
            "    jacobian_at(0, s, hp, (int64_t)1 << FA, A);",
            "    g_at((int64_t)1 << FA, g);",
            "    return input_gain(0) + (hp > 0);",
            "}", ""]
    (tmp_path / "check.c").write_text("\n".join(src))
    r = subprocess.run(["gcc", *CFLAGS, f"-I{kernel_dir()}", "-c", "-o", str(tmp_path / "check.o"),
                        str(tmp_path / "check.c")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
