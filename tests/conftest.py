import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: no spinning on a shared 2-core machine
# Evaluator networks trained by tests are cached in the checkout (ignored by git), so later runs reuse them.
os.environ.setdefault("AEGAN_CACHE", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".cache"))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

# Fast settings for runs made by tests: no progress bar, small nets, frequent checkpoints.
TINY = {"progress": False, "net.width": 16, "net.depth": 2, "log_every": 5}


@pytest.fixture
def tiny() -> dict:
    return dict(TINY)


def fashion_available() -> bool:
    from aegan.data import load
    from aegan.errors import DataError

    try:
        load("fashion-mnist")
    except DataError:
        return False
    return True
