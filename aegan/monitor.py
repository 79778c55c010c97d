"""The live collapse monitor: cheap coverage and diversity on a fixed probe set, every `monitor.every` steps.

Each check generates `monitor.probe` samples from the same fixed prior draws and compares them with the same
fixed real examples, on the model's scale (standardized vectors, images in [−1, 1], flattened):
- `monitor/diversity`: mean distance between pairs of samples over mean distance between pairs of real
  examples. About 1 for a diverse generator, 0 for one that repeats a single output (obvious collapse).
- `monitor/coverage`: fraction of real examples with a sample inside their 5-nearest-neighbour ball among
  the real ones (Naeem et al.'s coverage). Falls when whole regions of the data get no samples, even when the
  samples still vary among themselves (subtle collapse).
- data with known modes also get `monitor/modes_covered` and `monitor/high_quality_fraction`.

A check warns (log line and progress bar) when diversity is below `monitor.warn` or coverage has fallen below
`monitor.warn` times its best value so far (once that best is at least 0.25: below, a fall is noise); with
`monitor.stop`, `monitor.patience` warnings in a row stop the run (its last checkpoint is kept). Encoder models
are probed through their prior, which on 2-D toy data puts samples between the modes: low coverage there is
expected and is why a low best coverage does not warn. Models whose training never shapes G(z) for prior draws
(ppgn, the ae) are not monitored (for_run).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aegan.metrics.modes import mode_stats
from aegan.metrics.prdc import prdc

K = 5  # neighbours for coverage
MIN_COVERAGE = 0.25  # a coverage fall warns only once coverage has been meaningful (small values are noise)
PROBE_SEED = 31_337  # the probe set is the same at every check and on every process (plus the run's seed)


@dataclass
class Check:
    values: dict[str, float]
    warning: str | None  # None when nothing looks collapsed
    stop: bool


class CollapseMonitor:
    """Holds the probe set: fixed real examples, fixed prior draws, their reference pairwise distance."""

    def __init__(self, real: torch.Tensor, z: torch.Tensor, warn: float, stop: bool, patience: int,
                 modes: tuple[torch.Tensor, float] | None = None, to_data=None) -> None:
        self.real = real.flatten(1).float().cpu()
        self.z = z
        self.warn, self.stop, self.patience = warn, stop, patience
        self.modes, self.to_data = modes, to_data
        self.real_spread = mean_pair_distance(self.real)
        self.best_coverage = 0.0
        self.strikes = 0

    def check(self, samples: torch.Tensor) -> Check:
        """Score generated samples (probe, *shape) on the model's scale."""
        x = samples.detach().flatten(1).float().cpu()
        if not torch.isfinite(x).all():
            return Check({}, "samples are not finite", False)  # the loop's divergence check handles NaN
        values = {"monitor/diversity": mean_pair_distance(x) / max(self.real_spread, 1e-12),
                  "monitor/coverage": prdc(self.real, x, k=K)["coverage"]}
        if self.modes is not None and self.to_data is not None:
            stats = mode_stats(self.to_data(samples).flatten(1), *self.modes)
            values["monitor/modes_covered"] = float(stats["modes_covered"])
            values["monitor/high_quality_fraction"] = stats["high_quality_fraction"]
        self.best_coverage = max(self.best_coverage, values["monitor/coverage"])
        warning = None
        if values["monitor/diversity"] < self.warn:
            warning = f"diversity fell to {values['monitor/diversity']:.2f} of the data's"
        elif self.best_coverage >= MIN_COVERAGE and values["monitor/coverage"] < self.warn * self.best_coverage:
            warning = f"coverage fell to {values['monitor/coverage']:.2f} from a best of {self.best_coverage:.2f}"
        self.strikes = self.strikes + 1 if warning else 0
        return Check(values, warning, self.stop and self.strikes >= self.patience)


def mean_pair_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of distinct rows of x (N, D)."""
    n = len(x)
    if n < 2:
        return 0.0
    return float(torch.cdist(x, x).sum() / (n * (n - 1)))


def for_run(cfg, ds, model) -> CollapseMonitor | None:
    """The monitor of a run (Config cfg, Dataset ds, Model model), or None when monitor.every is 0. The probe
    set: monitor.probe held-out examples and as many prior draws, both fixed by the run's seed. Data sets with at
    most 10 held-out examples are not monitored, nor models whose training never shapes G(z) for prior draws z: ppgn
    (no prior: its G only ever decodes encoder codes) and the ae (its codes are not drawn towards the prior). Their
    samples come through a model of the codes fitted after training, so prior draws would warn of a collapse that
    none of their default samplers has (an ae on fashion-mnist warned at every check, diversity 0.03-0.05)."""
    m = cfg.monitor
    if not m.every or len(ds.test) <= 2 * K:  # too few held-out examples for neighbourhoods
        return None
    if "prior" not in model.samplers or not model.prior_trained:
        return None
    g = torch.Generator().manual_seed(PROBE_SEED + cfg.seed)
    real = ds.test[torch.randperm(len(ds.test), generator=g)[:m.probe]]
    z = model.prior(m.probe, "cpu", generator=g)
    return CollapseMonitor(real, z, m.warn, m.stop, m.patience, ds.modes, ds.transform.to_data)
