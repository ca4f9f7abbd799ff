"""SpiNNaker-style multi-core target: partition the hidden neurons over K cores, the readout on the last of them
when it fits (else on a core of its own), generate one C image per core (spin1_api style) and a host machine
simulator, bit-exact to the single-core library.
See docs/spinnaker.md."""
from .partition import PartitionError, Plan, plan

__all__ = ["PartitionError", "Plan", "plan"]
