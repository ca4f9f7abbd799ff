"""The SpiNNaker multicast keys: their layout and the packet kinds, one table for Python (the routing table of
partition.py) and C (spin_keys.h, written into every generated SpiNNaker folder and included by spin_core.h, as
host/protocol.py does for the board protocol)."""
from __future__ import annotations

from dataclasses import dataclass

KIND_SHIFT = 24        # key = kind (8 bits) | core (8 bits) | index (16 bits)
CORE_SHIFT = 16
IDX_MASK = 0xFFFF
CORE_MASK = 0xFF
MATCH_KIND = 0xFF << KIND_SHIFT                               # routing masks: a key's kind,
MATCH_KIND_CORE = MATCH_KIND | CORE_MASK << CORE_SHIFT       # its kind and core


@dataclass(frozen=True)
class PacketKind:
    name: str
    value: int
    meaning: str


PACKET_KINDS = (
    PacketKind("IN", 1, "host -> hidden cores: input x_t[idx], payload int16 (only nonzero values are sent)"),
    PacketKind("SPIKE", 2, "hidden core -> other hidden cores (recurrent) and readout: z_t of local neuron idx"),
    PacketKind("SYNC", 3, "hidden core -> readout: all of this step's spikes of the core have been sent"),
    PacketKind("L", 4, "readout -> hidden core `core`: L of idx = local neuron * chunk + step, payload int32"),
    PacketKind("LABEL", 5, "host -> readout: label of this step, payload int32 (< 0: no loss)"),
    PacketKind("CMD", 6, "host -> readout: idx 1 = apply the update of a partial chunk now"),
)
_BY_NAME = {k.name: k.value for k in PACKET_KINDS}
SPIN_IN, SPIN_SPIKE, SPIN_SYNC, SPIN_L, SPIN_LABEL, SPIN_CMD = (_BY_NAME[n] for n in
                                                                ("IN", "SPIKE", "SYNC", "L", "LABEL", "CMD"))


def key(kind: int, core: int = 0, idx: int = 0) -> int:
    return (kind << KIND_SHIFT) | (core << CORE_SHIFT) | idx


def c_header() -> str:
    """spin_keys.h: the key layout and the packet kinds for the core images and the host simulator."""
    lines = ["/* Generated from hypr_edge/spinnaker/packets.py: do not edit. The multicast key layout: kind (8 bits)",
             " * | core (8 bits: source of spikes, destination of learning signals) | index (16 bits). */",
             "#ifndef SPIN_KEYS_H", "#define SPIN_KEYS_H", "",
             "#define SPIN_KEY(type, core, idx) (((uint32_t)(type) << %d) | ((uint32_t)(core) << %d) | (uint32_t)(idx))"
             % (KIND_SHIFT, CORE_SHIFT),
             f"#define SPIN_KEY_TYPE(k) ((k) >> {KIND_SHIFT})",
             f"#define SPIN_KEY_CORE(k) (((k) >> {CORE_SHIFT}) & 0x{CORE_MASK:X}u)",
             f"#define SPIN_KEY_IDX(k)  ((k) & 0x{IDX_MASK:X}u)", "", "enum {"]
    width = max(len(k.name) for k in PACKET_KINDS) + len("SPIN_ = 0,")
    lines += [f"    {f'SPIN_{k.name} = {k.value},':<{width}} /* {k.meaning} */" for k in PACKET_KINDS]
    lines += ["};", "", "#endif", ""]
    return "\n".join(lines)
