"""Memory report of a generated model: bytes for weights, eligibilities, states, chunk buffers, constants and code.
The byte counts follow the static arrays of firmware/hypr/hypr_step.h one for one (keep the two in step;
tests/test_codegen_memory.py checks them against the symbol sizes of the compiled object)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..fixed.quantize import QuantizedModel
from ..fixed.spec import LUT_SIZE
from .render import render_library


@dataclass
class MemoryReport:
    sizes: dict[str, int]        # RAM/flash parts in bytes (RAM: every writable static of hypr_model.c)
    synapses: int                # hidden (input + recurrent) and readout connections, biases excluded
    code: dict[str, int] | None  # text/data/bss of hypr_model.c compiled for `code_target`, and its stack bound
    code_target: str = ""
    stored_states: int = 0       # RAM the build option HYPR_STORE_STATES adds (counted in sizes when it is on)

    @property
    def ram(self) -> int:
        return sum(v for k, v in self.sizes.items() if not k.startswith("flash"))

    @property
    def per_synapse(self) -> float:
        """Learning weights + eligibilities per synapse."""
        return (self.sizes["weights (RAM)"] + self.sizes["eligibilities"]) / self.synapses

    @property
    def per_synapse_all_in(self) -> float:
        """All static RAM (weights, eligibilities, states, readout, chunk buffers, update scratch, PRNG) per synapse."""
        return self.ram / self.synapses

    def text(self) -> str:
        lines = ["memory report:"]
        lines += [f"  {k:28s} {v:9d} B" for k, v in self.sizes.items()]
        lines.append(f"  {'RAM total (static)':28s} {self.ram:9d} B")
        if self.code:
            lines.append(f"  code ({self.code_target}): text {self.code['text']} B, data {self.code['data']} B, "
                         f"bss {self.code['bss']} B; stack <= {self.code['stack']} B (sum of all frames)")
        lines.append(f"  synapses {self.synapses}: {self.per_synapse:.2f} B/synapse (weight + eligibilities), "
                     f"{self.per_synapse_all_in:.2f} B/synapse all-in RAM")
        if self.stored_states and STORED_STATES not in self.sizes:
            lines.append(f"  build option -DHYPR_STORE_STATES=1: +{self.stored_states} B RAM, the chunk update reads "
                         f"the forward states instead of replaying them (docs/firmware.md)")
        return "\n".join(lines)


STORED_STATES = "stored states (build option)"


def memory_report(qm: QuantizedModel, outdir: str | Path | None = None, code: bool = True,
                  store_states: bool = False) -> MemoryReport:
    """store_states: the library built with -DHYPR_STORE_STATES=1 (the code size stays the default build's)."""
    n, m, d, c, lam, ni = qm.n_hidden, qm.m, qm.d, qm.n_out, qm.chunk, qm.n_in
    hidden = qm.learn == "all"
    zb = (n + 7) // 8   # spikes are buffered as bits: z_0 as one vector, z_1..z_lambda per neuron in 8/16/32-bit words
    zwb = 8 if lam <= 8 else 16 if lam <= 16 else 32
    zwords = n * -(-lam // zwb) * zwb // 8
    sizes = {
        "flash: const weights": 2 * (n * m + c * (n + 1)),
        "flash: constants + tables": 4 * (n * len(qm.const_names) + 2 * c + 2 * LUT_SIZE),
        "weights (RAM)": 2 * ((n * m if hidden else 0) + c * (n + 1)),                   # w, wo
        # e (int16 or int8, §2.1), eo (int16)
        "eligibilities": qm.eligibility_bits // 8 * (n * m * d if hidden else 0) + 2 * c * (n + 1),
        "states + readout": 4 * n * d + n + 4 * c,                                       # s, z, o
        # s0, buf_x, buf_z0 (learning all); buf_z, buf_eps
        "chunk buffers": (4 * n * d + 2 * lam * ni + zb if hidden else 0) + zwords + 4 * lam * c,
        # st, col (learning all); qs, ws
        "update scratch": (4 * (lam + 1) * d + 4 * lam if hidden else 0) + 4 * lam * (1 + d),
        "PRNG + counters": 12,                                                           # prng_state, pos, n_updates
    }
    stored = 4 * (lam + 1) * n * d + 1 if hidden else 0                                 # rec_s, rec_ok
    if store_states and stored:
        sizes[STORED_STATES] = stored
    synapses = n * ni + (n * n if qm.recurrent else 0) + c * n
    code_size, target = _code_size(qm) if code else (None, "")
    return MemoryReport(sizes, synapses, code_size, target, stored)


def _code_size(qm: QuantizedModel) -> tuple[dict | None, str]:
    """Compile hypr_model.c alone (-Os) for Cortex-M4 when arm-none-eabi-gcc exists, else for the host; the stack
    bound is the sum of every function's frame (-fstack-usage; no recursion, so no call chain is deeper)."""
    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        cc, size, flags, target = "arm-none-eabi-gcc", "arm-none-eabi-size", ["-mcpu=cortex-m4", "-mthumb"], "cortex-m4 -Os"
    elif shutil.which("gcc") and shutil.which("size"):
        cc, size, flags, target = "gcc", "size", [], "host -Os"
    else:
        return None, ""
    with tempfile.TemporaryDirectory() as tmp:
        render_library(qm, tmp)
        obj = Path(tmp) / "hypr_model.o"
        r = subprocess.run([cc, "-std=c99", "-Os", "-fstack-usage", *flags, "-c", "-o", str(obj),
                            str(Path(tmp) / "hypr_model.c")], capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            return None, ""
        out = subprocess.run([size, str(obj)], capture_output=True, text=True).stdout.splitlines()
        su = obj.with_suffix(".su")
        stack = sum(int(line.split("\t")[1]) for line in su.read_text().splitlines()) if su.exists() else 0
    text, data, bss = (int(v) for v in out[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "stack": stack}, target


def static_symbol_sizes(obj: str | Path) -> dict[str, int]:
    """Sizes of the writable static objects (.bss/.data) of a compiled object file, from `nm -S`."""
    out = subprocess.run(["nm", "-S", str(obj)], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "bBdD":
            sizes[parts[3]] = int(parts[1], 16)
    return sizes
