"""Distributed training: 2 CPU processes (DDP over gloo, via Lightning Fabric) follow the run of 1 process.

Both runs see the same global batch of 64: each of the 2 processes takes its 32 rows of the batch and of the z
drawn for the whole batch, and the loop averages their gradients. alpha-GAN has four phases (D, C, E, G), each
backpropagating through networks it must not update, so it exercises the frozen-network paths as well.
"""

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from helpers import CLI_TRAIN, final_weights

ARGS = ["alphagan", "--data", "ring8", "--steps", "30", "--seed", "3", "--batch-size", "64", "progress=false",
        "net.width=16", "net.depth=2", "log_every=10", "checkpoint_every=30", "sample_every=30"]
TOLERANCE = 1e-5  # float sums in another order; measured: max |difference| 2.4e-7 after 30 steps


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def free_port() -> int:
    """A TCP port the OS reports free now: parallel test workers each get their own, never a fixed one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_env() -> dict[str, str]:
    """This environment without inherited rendezvous settings, with a free port for the 2 processes to meet on."""
    env = {k: v for k, v in os.environ.items() if k not in {"MASTER_ADDR", "MASTER_PORT", "STANDALONE_PORT",
                                                            "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK"}}
    return {**env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}


def test_two_processes_match_one_process(tmp_path):
    # both runs at once: their start-ups (imports, process group) overlap
    two = subprocess.Popen([*CLI_TRAIN, *ARGS, "--out", str(tmp_path / "two"), "fabric.devices=2",
                            "fabric.strategy=ddp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env=ddp_env(), start_new_session=True)
    try:
        one = subprocess.run([*CLI_TRAIN, *ARGS, "--out", str(tmp_path / "one")], capture_output=True, text=True)
        _, two_err = two.communicate(timeout=300)
    finally:
        if two.poll() is None:  # timed out or interrupted: end both ranks, not only the launcher
            os.killpg(two.pid, signal.SIGKILL)
            two.wait()
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two_err
    assert "Starting with 2 processes" in two_err  # really distributed, not silently one process

    a, b = final_weights(tmp_path / "one"), final_weights(tmp_path / "two")
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < TOLERANCE, f"max |weight difference| {worst:.3g}"
    for ra, rb in zip(_records(tmp_path / "one"), _records(tmp_path / "two"), strict=True):
        losses = [k for k in ra if k.startswith("loss/")]
        assert ra["step"] == rb["step"] and losses
        assert [rb[k] for k in losses] == pytest.approx([ra[k] for k in losses], rel=1e-5)  # global-batch means
