"""Layer 4: learning works. A short gan run on ring8 covers its modes and beats the untrained generator."""

import aegan


def test_short_gan_run_on_ring8_covers_its_modes(tmp_path):
    untrained = aegan.train("gan", data="ring8", steps=1, out=tmp_path / "u", seed=0, overrides={"progress": False})
    before = aegan.evaluate(untrained, n=5000, write=False)
    run = aegan.train("gan", data="ring8", steps=1500, out=tmp_path / "r", seed=0, overrides={"progress": False})
    after = aegan.evaluate(run, n=5000, write=False)
    assert after["modes_covered"] >= 7, after
    hq_before, hq_after = before["high_quality_fraction"], after["high_quality_fraction"]
    assert hq_after > 0.08 and hq_after > 3 * hq_before, (hq_before, hq_after)
    assert after["kl_modes"] < 1.0
