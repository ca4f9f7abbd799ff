"""Data-parallel training with torch.distributed, DDP's semantics: every process holds the whole model, takes its
share of each batch, and the gradients are all-reduced, so every process makes the same optimizer step.

Launched by torchrun, which sets WORLD_SIZE, RANK, LOCAL_RANK and the rendezvous in the environment:

    torchrun --standalone --nproc_per_node=2 -m hypr_edge train ...
    torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=HOST:29400 -m hypr_edge train ...

gloo on CPUs, NCCL on CUDA devices. Why a weighted sum is exact: the loss is the mean over the batch of per-sequence
losses, so its gradient is the mean of per-sequence gradients, for BPTT and for HYPR alike (HYPR's gradient is a sum
over sequences of per-chunk sums). A process that holds n_r of the batch's B sequences returns the mean over its
n_r; weighted by n_r / B and summed over the processes, that is the whole batch's mean, for uneven shares too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """The processes that train together: this one's rank among `size`. owner: this code joined the process group
    (and leaves it in stop); a caller that set the group up itself keeps it."""
    rank: int = 0
    size: int = 1
    owner: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the files and shows the progress."""
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This process's contiguous share of n items; shares differ by at most one item (the first ranks get the
        extra ones)."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """t summed over the processes, in place (nothing to do in a single process)."""
        if self.size > 1:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t


SINGLE = World()


def launched() -> bool:
    """Whether torchrun (or another launcher that sets WORLD_SIZE) started several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_device(device: torch.device) -> torch.device:
    """A bare `cuda` means this process's own GPU under torchrun: cuda:LOCAL_RANK."""
    if device.type == "cuda" and device.index is None and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def start(device: torch.device) -> World:
    """Join the process group torchrun describes (a single process when not launched by it)."""
    if not launched():
        return SINGLE
    owner = not dist.is_initialized()
    if owner:
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    return World(dist.get_rank(), dist.get_world_size(), owner)


def stop(world: World) -> None:
    if world.owner and dist.is_initialized():
        dist.destroy_process_group()


def average(loss: torch.Tensor, grads: dict[str, torch.Tensor], weight: float, world: World):
    """The whole batch's loss and gradient from every process's own (the mean over its share, weighted by its share
    of the batch, see the module's docstring): one all-reduce of one flat buffer. Returns (loss, grads)."""
    if world.size == 1 and weight == 1.0:
        return loss, grads
    names = list(grads)
    flat = torch.cat([loss.detach().reshape(1)] + [grads[n].reshape(-1) for n in names]).mul_(weight)
    world.sum_(flat)
    out, at = {}, 1
    for n in names:
        size = grads[n].numel()
        out[n] = flat[at:at + size].view_as(grads[n])
        at += size
    return flat[0], out
