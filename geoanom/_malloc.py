"""Keep freed memory in the process instead of handing it back to the system each step.

Training allocates and frees the same large tensors every step (gradients, activations:
up to 26 MB each for 9 gated DLEP networks at Indim 600). With glibc's defaults a block
that large is mapped fresh from the kernel and unmapped when freed, so every step pays
for zero-filled pages again; on the Japan paper table that was 9 % of the CPU time, more
where two processes share the memory bus (``bench/bench_dlep.py`` measures it).
:func:`keep_freed_memory` raises glibc's mmap and trim thresholds so such blocks are
reused from the heap. It changes where tensors live, not their values (torch aligns every
CPU tensor to 64 bytes either way): results are the same to the bit (tested).

It is a process-wide setting, so the package makes it only in processes it owns: the
``geoanom dlep`` commands and the worker processes of
:func:`geoanom.dlep.tables.evaluate_table`. A Python caller may opt in with
``geoanom.dlep.keep_freed_memory()``. Elsewhere than glibc (macOS, musl, Windows) it does
nothing and returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: glibc's mallopt parameters (malloc.h) and the values set: blocks below 32 MiB (glibc's
#: ceiling for this threshold on 64-bit systems) come from the heap, and up to 1 GiB of free
#: heap top is kept rather than trimmed.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024

_DONE: list[bool] = []


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once; later calls return
    the first answer). True when glibc accepted both, False elsewhere."""
    if _DONE:
        return _DONE[0]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            ok = (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                  and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    _DONE.append(ok)
    return ok
