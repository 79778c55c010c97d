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
import sys
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


OWN_NETS_SCRIPT = """
import os
import sys

import torch
from torch import nn

import aegan


class G(nn.Module):  # codes (n, 8) -> images (n, 3, 16, 16); no batch norm, so 2 processes can equal 1
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.LeakyReLU(0.2), nn.Linear(64, 3 * 16 * 16), nn.Tanh())

    def forward(self, z):
        return self.body(z).view(-1, 3, 16, 16)


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def forward(self, x):
        return self.body(x)


folder, out, devices = sys.argv[1:4]
# rank 1 draws other initial weights than rank 0 (and the 1-process run): aegan must hand it rank 0's
torch.manual_seed(int(os.environ.get("LOCAL_RANK", 0)))
g, d = G(), D()
aegan.train("gan", data=folder, steps=12, out=out, seed=3, batch_size=16, nets={"G": g, "D": d},
            overrides={"progress": False, "net.latent_dim": 8, "loader": "stream", "log_every": 4,
                       "checkpoint_every": 12, "sample_every": 12, "monitor.every": 0,
                       "fabric.devices": int(devices), "fabric.strategy": "ddp" if devices == "2" else "auto"})
"""


def test_two_processes_streaming_a_folder_with_own_networks_match_one_process(tmp_path):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(100):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    script = tmp_path / "own.py"
    script.write_text(OWN_NETS_SCRIPT)
    env = {**ddp_env(), "AEGAN_CACHE": str(tmp_path / "cache")}
    runs = {n: subprocess.Popen([sys.executable, str(script), str(folder), str(tmp_path / str(n)), str(n)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True) for n in (1, 2)}
    try:
        errors = {n: p.communicate(timeout=300)[1] for n, p in runs.items()}
    finally:
        for p in runs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert all(p.returncode == 0 for p in runs.values()), errors
    assert "Starting with 2 processes" in errors[2]
    assert json.loads((tmp_path / "2" / "data.json").read_text())["loader"] == "stream"
    a, b = final_weights(tmp_path / "1"), final_weights(tmp_path / "2")
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < TOLERANCE, f"max |weight difference| {worst:.3g}"
