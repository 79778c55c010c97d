"""`aegan bench SUITE`: every method side by side on the mode-collapse benchmarks, over several seeds.

Suites (aegan.bench.suites.SUITES):
  toy            ring8 and grid25 under the VEEGAN / PacGAN protocol (2,500 samples; high quality within 3 std; a
                 mode covered by one high-quality sample), mean ± standard error, VEEGAN's and PacGAN's Table 1
                 beside ours; default line-up gan, gan+pack (PacGAN4), gan+unroll, bigan, veegan (at their authors'
                 stated 2-D setting), aae, alphagan
  synthetic1200  VEEGAN's ten 700-D Gaussians in 1,200 dimensions (and its 10-std rule beside ours), and grid100
                 (10 × 10) as our own harder case
  stacked        stacked-digits and stacked-fashion-mnist, 1,000 class triples, every method at equal steps, with D
                 as wide as G and at a quarter of G's width (the hard setting of Metz et al. and PacGAN)
  images         every model on fashion-mnist and stacked-fashion-mnist at equal wall time (--minutes)
  modes, tricks  the earlier line-ups on ring8 and grid25 (10,000 samples, mean ± std)
Encoder models are scored through their prior *and* their default code model, so method and post-hoc sampler can be
told apart. `--budget small` (default) fits a suite in well under an hour on 2 cores at the default line-up and a
few seeds; `--budget paper` gives every method the papers' step counts (for GPUs).

Writes DIR/<variant>-<data>-s<seed>/ run folders and DIR/results.json, results.md and report.html
(aegan.bench.results). Finished runs are reused, so an interrupted suite continues; rows an earlier invocation
left for other runs stay, so a suite can be run in parts.
"""

from aegan.bench.results import stored_rows, write_results
from aegan.bench.suites import IMAGE_KEYS, IMAGE_MODELS, SUITES, run_bench, variants
from aegan.bench.variants import GAN_STEPS, STATED, TRICKS, VARIANT_TRICKS, variant
from aegan.tables import summary_table

__all__ = ["GAN_STEPS", "IMAGE_KEYS", "IMAGE_MODELS", "STATED", "SUITES", "TRICKS", "VARIANT_TRICKS", "run_bench",
           "stored_rows", "summary_table", "variant", "variants", "write_results"]
