"""Peak resident memory of one piece of work, measured in this process (Linux /proc).

`ru_maxrss` cannot be used for this: Linux carries the parent's high-water mark into a child across fork/exec,
so a child of a large process (pytest, a notebook) reports the parent's peak, not its own. Instead we reset the
kernel's high-water mark (VmHWM) through /proc/self/clear_refs and read it back after the work.

Before the baseline, the C heap's free pages go back to the OS (glibc's malloc_trim). Whether glibc has already
trimmed after earlier work depends on where its last blocks happened to lie; a baseline that still holds free heap
hides the part of the work that reuses it, so the same work would measure megabytes apart from run to run.
"""
from __future__ import annotations

import ctypes
from typing import Callable


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _release_free_heap() -> None:
    """glibc's malloc_trim(0), where there is glibc."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_growth_bytes(work: Callable[[], object]) -> int:
    """Bytes by which the resident set's peak during `work()` exceeds the resident set before it."""
    _release_free_heap()
    base = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # 5 = reset the peak RSS (VmHWM) to the current RSS
    work()
    return max(0, _status_kib("VmHWM") - base) * 1024
