"""The pieces around the one training loop (aegan/train.py), each in a file named after what it holds.

    configure     the run's config: defaults <- the model's presets <- config file <- flags and overrides
    steps         what a step sees as a pure function of (seed, step): its batch, its random draws, its lr
    divergence    the NaN/Inf watch over losses and weights, and its error
    distributed   Lightning Fabric start-up, the gradient mean over processes, rank-zero helpers
    run_folder    the run folder and its log (metrics.jsonl, TensorBoard)
    state         save and restore a run's state (weights, optimizers, RNG, progress) as checkpoints
    tricks        the tricks that act on the loop: R1, historical averaging, the generator's EMA
"""
