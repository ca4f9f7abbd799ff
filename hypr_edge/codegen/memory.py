"""Memory report of a generated model: bytes for weights, eligibilities, states, chunk buffers, constants and code.
The byte counts follow the static arrays declared in templates/hypr_model.c.j2 (keep the two in step)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..fixed.quantize import NEURON_CONSTS, QuantizedModel
from ..fixed.spec import LUT_SIZE


@dataclass
class MemoryReport:
    sizes: dict[str, int]        # RAM/flash parts in bytes
    synapses: int                # hidden (input + recurrent) and readout connections, biases excluded
    code: dict[str, int] | None  # text/data/bss of hypr_model.c compiled for `code_target`
    code_target: str = ""

    @property
    def ram(self) -> int:
        return sum(v for k, v in self.sizes.items() if not k.startswith("flash"))

    @property
    def per_synapse(self) -> float:
        """Learning weights + eligibilities per synapse."""
        return (self.sizes["weights (RAM)"] + self.sizes["eligibilities"]) / self.synapses

    @property
    def per_synapse_all_in(self) -> float:
        """All RAM (weights, eligibilities, states, chunk buffers) per synapse."""
        return self.ram / self.synapses

    def text(self) -> str:
        lines = ["memory report:"]
        lines += [f"  {k:28s} {v:9d} B" for k, v in self.sizes.items()]
        lines.append(f"  {'RAM total':28s} {self.ram:9d} B")
        if self.code:
            lines.append(f"  code ({self.code_target}): text {self.code['text']} B, data {self.code['data']} B, "
                         f"bss {self.code['bss']} B")
        lines.append(f"  synapses {self.synapses}: {self.per_synapse:.2f} B/synapse (weight + eligibilities), "
                     f"{self.per_synapse_all_in:.2f} B/synapse all-in RAM")
        return "\n".join(lines)


def memory_report(qm: QuantizedModel, outdir: str | Path | None = None) -> MemoryReport:
    n, m, d, c, lam = qm.n_hidden, qm.m, qm.d, qm.n_out, qm.chunk
    hidden = qm.learn == "all"
    sizes = {
        "flash: const weights": 2 * (n * m + c * (n + 1)),
        "flash: constants + tables": 4 * (n * len(NEURON_CONSTS[qm.neuron]) + 2 * c + 2 * LUT_SIZE),
        "weights (RAM)": 2 * ((n * m if hidden else 0) + c * (n + 1)),
        "eligibilities": 2 * ((n * m * d if hidden else 0) + c * (n + 1)),
        "states": 4 * n * d + n + 4 * c + 8,   # + chunk position and update counter
        "chunk buffers": (lam * (4 * n * d + 2 * m + 4 * n + 4 * n * d) + 4 * (2 * n * d * d + 2 * n * d)
                          if hidden else 0) + lam * (2 * (n + 1) + 4 * c + 8 * c) + 8 * c,
    }
    synapses = n * qm.n_in + (n * n if qm.recurrent else 0) + c * n
    code, target = _code_size(qm, outdir)
    return MemoryReport(sizes, synapses, code, target)


def _code_size(qm: QuantizedModel, outdir) -> tuple[dict | None, str]:
    """Compile hypr_model.c alone (-Os) for Cortex-M4 when arm-none-eabi-gcc exists, else for the host."""
    from .generate import render_library
    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        cc, size, flags, target = "arm-none-eabi-gcc", "arm-none-eabi-size", ["-mcpu=cortex-m4", "-mthumb"], "cortex-m4 -Os"
    elif shutil.which("gcc") and shutil.which("size"):
        cc, size, flags, target = "gcc", "size", [], "host -Os"
    else:
        return None, ""
    with tempfile.TemporaryDirectory() as tmp:
        render_library(qm, tmp)
        obj = Path(tmp) / "hypr_model.o"
        r = subprocess.run([cc, "-std=c99", "-Os", *flags, "-c", "-o", str(obj), str(Path(tmp) / "hypr_model.c")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None, ""
        out = subprocess.run([size, str(obj)], capture_output=True, text=True).stdout.splitlines()
    text, data, bss = (int(v) for v in out[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}, target
