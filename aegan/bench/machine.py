"""The machine a benchmark ran on, written beside its results: CPU, cores, memory, torch, the fp32 matmul rate."""

from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """CPU model, cores (all and usable), memory, platform and Python version, from /proc where it exists."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": affinity, "memory_gib": mem,
            "platform": platform.platform(), "python": platform.python_version()}


def matmul_gflops(n: int = 2048, repeats: int = 7, per_repeat: int = 3, warmup: int = 3) -> float:
    """Best fp32 n × n @ n × n rate in GFLOP/s (2n³ FLOPs a product), with torch's current thread count."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    for _ in range(warmup):
        torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(per_repeat):
            torch.mm(a, b, out=c)
        best = min(best, (time.perf_counter() - t) / per_repeat)
    return 2 * n**3 / best / 1e9


@functools.cache
def process_matmul_gflops(threads: int) -> float:
    """matmul_gflops of a 1024² product (about a second), measured once per process and thread count (a suite asks
    for it once per run); benchmarks/speed.py times 2048² products, whose rate is a few percent higher."""
    return matmul_gflops(1024)


def describe() -> dict[str, Any]:
    """machine() with the torch version, its threads and the fp32 matmul rate at those threads."""
    import torch

    threads = torch.get_num_threads()
    return {**machine(), "torch": torch.__version__, "torch_threads": threads,
            "matmul_gflops": round(process_matmul_gflops(threads), 1)}
