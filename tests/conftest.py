import os

import pytest
import torch

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
