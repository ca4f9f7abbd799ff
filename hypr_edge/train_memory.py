"""How much memory a training run needs at the least, checked before the model is built: `train --hidden 100000`
would otherwise try to allocate tens of GB and die with a MemoryError (or the kernel's OOM killer) after minutes.

The estimate is a lower bound (the tensors the run cannot do without, float32): a run refused here could not have
finished; a run accepted may still need more (activations, evaluation batches, the allocator's slack)."""
from __future__ import annotations

import os

from .errors import CommandError

FLOAT_BYTES = 4          # the models train in float32 (hypr_edge/model.py)
PARAMETER_COPIES = 4     # value, gradient, Adam's two moments


def training_bytes(*, n_in: int, hidden: list[int], n_out: int, recurrent: bool, d: int, n_theta: int,
                   method: str, batch: int, steps: int) -> dict[str, int]:
    """Lower bounds, by what holds them: {"parameters": ..., "method": ...} in bytes."""
    params, method_bytes, fan_in = 0, 0, n_in
    for n in hidden:
        synapses = fan_in + (n if recurrent else 0) + 1      # columns of [W_in | W_rec | b]
        params += n * (synapses + n_theta)
        if method == "hypr":   # two (B, 1 + d, N, M) eligibility buffers per layer (gradient_methods._hypr)
            method_bytes += 2 * batch * (1 + d) * n * synapses * FLOAT_BYTES
        else:                  # BPTT keeps at least every step's state for the backward pass
            method_bytes += steps * batch * n * d * FLOAT_BYTES
        fan_in = n
    params += n_out * (fan_in + 1)
    return {"parameters": params * PARAMETER_COPIES * FLOAT_BYTES, "method": method_bytes}


def available_bytes() -> int | None:
    """Memory the system can give without swapping (Linux MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"


def check_training_memory(cfg, data, available: int | None = None) -> None:
    """Refuse (CommandError) a TrainConfig on a Dataset that needs more memory than the machine has."""
    from .neurons import make_neuron
    neuron = make_neuron(cfg.neuron)
    need = training_bytes(n_in=data.n_inputs, hidden=list(cfg.hidden), n_out=data.n_classes, recurrent=cfg.recurrent,
                          d=neuron.d, n_theta=len(neuron.param_names), method=cfg.method, batch=cfg.batch_size,
                          steps=data.steps)
    have = available_bytes() if available is None else available
    total = sum(need.values())
    if have is not None and total > have:
        what = "HYPR eligibilities" if cfg.method == "hypr" else "BPTT states"
        raise CommandError(f"--hidden {','.join(map(str, cfg.hidden))}: training needs at least {gib(total)} "
                           f"(parameters and Adam {gib(need['parameters'])}, {what} {gib(need['method'])}), "
                           f"this machine has {gib(have)} available; use a smaller --hidden or --batch-size")
