"""Settings shared by every test module, and safe under pytest-xdist (`make test` runs `pytest -n auto`).

- Threads: each of the N xdist workers uses cores // N torch threads (at most 2), and so do the CLI processes the tests
  start (OMP_NUM_THREADS): 2 workers with 2 threads each on 2 cores would oversubscribe them several-fold.
- The evaluator cache ($AEGAN_CACHE, default the checkout's .cache/) is shared by the workers: the first one to need
  an evaluator trains it under a file lock, the others wait for it and read it (aegan.metrics.evaluator.for_data).
- Code models: runs made by tests choose their default among gmm alone ($AEGAN_CODE_MODELS), not every candidate.
- Everything a test writes goes to its own tmp_path (per test, per worker); the DDP test asks the OS for a free port.
"""

import functools
import os

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))  # set by pytest-xdist in each worker
THREADS = max(1, min(2, (os.cpu_count() or 1) // WORKERS))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: no spinning on a shared 2-core machine
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))  # inherited by the CLI runs the tests start
# Evaluator networks trained by tests are cached in the checkout (ignored by git), so later runs reuse them.
os.environ.setdefault("AEGAN_CACHE", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".cache"))
# Runs made by tests choose their default code model among gmm alone: fitting every candidate (flow, twostage,
# diffusion: aegan.samplers.selection) costs about a minute per run. tests/test_code_models.py sets its own.
os.environ.setdefault("AEGAN_CODE_MODELS", "gmm")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(THREADS)

# Fast settings for runs made by tests: no progress bar, small nets, frequent checkpoints.
TINY = {"progress": False, "net.width": 16, "net.depth": 2, "log_every": 5}


@pytest.fixture
def tiny() -> dict:
    return dict(TINY)


@functools.cache
def fashion_available() -> bool:
    from aegan.data import load
    from aegan.errors import DataError

    try:
        load("fashion-mnist")
    except DataError:
        return False
    return True
