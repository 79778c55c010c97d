"""aegan: autoencoder GANs, and measurements of mode collapse, on a laptop CPU or many GPUs.

    import aegan
    run = aegan.train("gan", data="grid25", steps=2000, out="runs/g", seed=0)
    run = aegan.load("runs/g")
    x = run.sample(1000)
    scores = aegan.evaluate(run, n=10_000)
"""

from aegan import data, metrics
from aegan.errors import AeganError, CheckpointError, ConfigError, DataError
from aegan.evaluate import evaluate
from aegan.run import Run, load
from aegan.train import resume, train

__version__ = "0.1.0"
__all__ = ["AeganError", "CheckpointError", "ConfigError", "DataError", "Run", "data", "evaluate", "load",
           "metrics", "resume", "train"]
