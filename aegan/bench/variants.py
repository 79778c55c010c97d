"""What each suite trains: variants MODEL or MODEL+TRICK, the methods of the published tables at their authors'
stated settings, the hard stacked setting, and the step budgets (small for CPUs, paper for GPUs)."""

from __future__ import annotations

from typing import Any

from aegan.errors import AeganError

# tricks suite: (variant name, model, overrides). Weights are the papers' or common values.
TRICKS: dict[str, dict[str, Any]] = {
    "feature_matching": {"tricks.feature_matching": 1.0},
    # B = 20 kernels instead of the paper's 100: its (B, N, N) pairwise L1 at batch 256 would make each run last
    # an hour on two cores; C = 5 as in the paper.
    "minibatch_discrimination": {"tricks.minibatch_discrimination": True, "tricks.minibatch_kernels": 20},
    "historical_averaging": {"tricks.historical_averaging": 0.01},
    "label_smoothing": {"tricks.label_smoothing": 0.9},
    "virtual_batch_norm": {"tricks.virtual_batch_norm": True},
    "spectral_norm": {"tricks.spectral_norm": True},
    "r1": {"tricks.r1": 1.0},
    "ema": {"tricks.ema": 0.999},
    "pack": {"tricks.pack": 4},  # PacGAN4 (Lin et al. 2018, arXiv:1712.04086): D sees 4 samples at once
}
GAN_STEPS = 3000  # the gan's budget in the benchmarks (its config default is 2000; the demo uses 3000)
# Variants MODEL+TRICK (e.g. gan+unroll, the Unrolled GAN of the published collapse tables): any trick above, or
# unroll = 5 steps of D looked ahead (Metz et al. 2017, arXiv:1611.02163, unroll 1 to 10 steps on their 2-D
# mixture). Not part of gan+all: it doubles a step, and the published tables run it alone.
VARIANT_TRICKS: dict[str, dict[str, Any]] = {**TRICKS, "unroll": {"tricks.unroll": 5}}
# The mode suites run the methods of the published collapse tables at their authors' stated 2-D settings (the other
# models at their defaults). VEEGAN's released 2-D code (Srivastava et al. 2017, arXiv:1705.07761; its Table 1's ALI
# runs share the networks): noise of 254 dimensions, generator and reconstructor with two hidden layers of 128, a
# joint D with one hidden layer of 128, Adam 1e-3 (β1 0.5), batch 500, the reconstructor a unit-variance Gaussian
# N(F(x), I) whose negative log-likelihood is ½‖z − F(G(z))‖² (λ = 0.5). The code trains 100,000 steps (PAPER_STEPS);
# the small budget STATED_STEPS, for CPU. Our MLPs use LeakyReLU(0.2) where theirs use ReLU.
VEEGAN_2D = {"net.latent_dim": 254, "net.width": 128, "net.depth": 2, "net.d_depth": 1, "optim.lr": 1e-3,
             "optim.schedule": "constant", "batch_size": 500, "model_args.noise": 1.0}
STATED_STEPS = 20_000
# ... except on the 1,200-D suite, where 20,000 steps of veegan at its 2-D setting (batch 500) took 638 s a run, 18
# times the gan's 3,000, and collapsed onto one of the 10 modes in every seed (3 seeds, 2026-12-03): more steps of a
# setting made for 2-D do not help it there, and the suite would not fit an hour on 2 cores
SUITE_STATED_STEPS = {"synthetic1200": 5_000}
PAPER_STEPS = 100_000  # VEEGAN's released 2-D code; --budget paper gives it to every method of the vector suites
STATED: dict[str, tuple[dict[str, Any], int]] = {
    "veegan": ({**VEEGAN_2D, "model_args.lam": 0.5}, STATED_STEPS),
    "bigan": (VEEGAN_2D, STATED_STEPS),  # ALI with the same networks, its encoder the same Gaussian
}
# The hard stacked setting: D with a quarter of G's width (Metz et al. 2017, Table 2, "1/4 size of D"; PacGAN's
# Table 3 uses it for DCGAN and PacDCGAN). Our conv nets' base width on images is 32, so D gets 8 channels.
IMAGE_WIDTH = 32
# D=G sets net.d_width = 0 (D as wide as G) over any preset: α-GAN's own on stacked data is D = G/4
SETTINGS: dict[str, dict[str, Any]] = {"D=G": {"net.d_width": 0},
                                       "D=G/4": {"net.width": IMAGE_WIDTH, "net.d_width": IMAGE_WIDTH // 4}}
# Equal steps for every method of the stacked suite (the published stacked tables compare at equal steps); a paper
# step count for stacked data could not be checked offline, so --budget paper is ten times the small budget there.
STACKED_STEPS = {"small": 2000, "paper": 20_000}
BUDGETS = ("small", "paper")
SEEDS = {"small": 3, "paper": 5}  # default seeds per budget: VEEGAN and PacGAN average five runs

Variant = tuple[str, str, dict[str, Any], int | None]  # (name, model, overrides, steps or None for the default)


def check_budget(budget: str) -> None:
    if budget not in BUDGETS:
        raise AeganError(f"unknown budget {budget!r}: use small (CPU, minutes to an hour) or paper (the papers' "
                         f"step counts, for GPUs)")


def variant(name: str, budget: str = "small", suite: str = "") -> Variant:
    """"gan" or "gan+unroll" -> (name, model, the trick's overrides, steps or None for the model's default); a method
    of the published tables comes with its stated settings (STATED), and its small budget may be the suite's own
    (SUITE_STATED_STEPS). budget "paper": PAPER_STEPS for every method."""
    check_budget(budget)
    if name in STATED:
        overrides, steps = STATED[name]
        return name, name, dict(overrides), PAPER_STEPS if budget == "paper" else SUITE_STATED_STEPS.get(suite, steps)
    model, _, trick = name.partition("+")
    if trick and trick not in VARIANT_TRICKS:
        raise AeganError(f"unknown trick {trick!r} in {name!r}: use MODEL+TRICK with TRICK one of "
                         f"{', '.join(VARIANT_TRICKS)}")
    if budget == "paper":
        return name, model, VARIANT_TRICKS.get(trick, {}), PAPER_STEPS
    return name, model, VARIANT_TRICKS.get(trick, {}), GAN_STEPS if model == "gan" else None


def tricks_variants(models: list[str] | None) -> list[Variant]:
    """The tricks suite: the gan alone, with each trick, with all together, unrolled, and alphagan."""
    out: list[Variant] = [("gan", "gan", {}, GAN_STEPS)]
    out += [(f"gan+{name}", "gan", o, GAN_STEPS) for name, o in TRICKS.items()]
    out.append(("gan+all", "gan", {k: v for o in TRICKS.values() for k, v in o.items()}, GAN_STEPS))
    out.append(variant("gan+unroll"))
    out.append(("alphagan", "alphagan", {}, None))
    return [v for v in out if v[0] in models] if models else out
