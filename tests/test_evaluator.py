"""The evaluator network, stacked data, image scores of whole sample sets (collapse told apart from real data),
`aegan eval --samples`, and the live collapse monitor."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from aegan import data
from aegan.cli import main
from aegan.errors import CheckpointError
from aegan.evaluate import evaluate_samples, mode_weights, sample_scores
from aegan.metrics import evaluator, histogram_stats
from aegan.monitor import CollapseMonitor, mean_pair_distance

from conftest import fashion_available


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def digits_evaluator(digits):
    return evaluator.for_data(digits)


# ---------------------------------------------------------------- the evaluator


def test_digits_evaluator_accuracy_and_cache(digits, digits_evaluator, capsys):
    assert digits_evaluator.info["accuracy"] >= 0.97
    again = evaluator.for_data(digits)  # from the cache: no training message, the same features
    assert "training" not in capsys.readouterr().err
    x = digits.test[:50]
    assert torch.equal(again.features(x), digits_evaluator.features(x))
    assert digits_evaluator.features(x).shape == (50, evaluator.FEATURES)
    p = digits_evaluator.probs(x)
    assert p.shape == (50, 10) and torch.allclose(p.sum(1), torch.ones(50))


def test_remembered_reference_features_are_the_same_and_embedded_once(digits, digits_evaluator, monkeypatch):
    """features(x, remember=True): the features of x, embedded once per contents and network; other contents or
    another network's weights are embedded afresh, and what a caller does to its copy does not reach the next."""
    x = digits.test
    n = len(x)
    plain = digits_evaluator.features(x)
    calls = []
    embed = evaluator.Evaluator.embed
    monkeypatch.setattr(evaluator.Evaluator, "embed", lambda self, t: calls.append(len(t)) or embed(self, t))
    first = digits_evaluator.features(x.clone(), remember=True)
    assert torch.allclose(first, plain) and calls == [n]
    first.zero_()
    again = evaluator.for_data(digits).features(x.clone(), remember=True)  # another object, the same weights
    assert torch.allclose(again, plain) and calls == [n]
    changed = x.clone()
    changed[0, 0, 0, 0] += 0.5
    digits_evaluator.features(changed, remember=True)
    assert calls == [n, n]
    other = evaluator.Evaluator(evaluator.EvaluatorNet(1, 8, 10, "classifier"), digits_evaluator.info)
    other.features(x, remember=True)
    assert calls == [n, n, n]
    for i in range(evaluator.REMEMBERED + 1):  # a bounded memory: the oldest set is forgotten
        digits_evaluator.features(x + i + 1, remember=True)
    digits_evaluator.features(x, remember=True)
    assert len(calls) == 3 + evaluator.REMEMBERED + 2


def test_features_do_not_depend_on_the_pass_size(digits, digits_evaluator, monkeypatch):
    x = digits.test[:300]
    monkeypatch.setattr(evaluator, "EMBED_BATCH", 7)
    small = digits_evaluator.embed(x)
    monkeypatch.setattr(evaluator, "EMBED_BATCH", 1000)
    whole = digits_evaluator.embed(x)
    assert torch.allclose(small.features, whole.features, atol=1e-5)
    assert torch.equal(small.predicted, whole.predicted)


def test_runs_sample_and_encode_the_same_in_passes_of_any_size(digits, tmp_path, tiny, monkeypatch):
    import aegan
    import aegan.run as run_module

    run = aegan.train("ae", data="digits", steps=2, out=tmp_path / "a", overrides=tiny)
    x = digits.test[:70]
    monkeypatch.setattr(run_module, "PASS_CPU", 8)
    small = run.sample_model(70, sampler="prior", seed=3), run.encode_model(x)
    monkeypatch.setattr(run_module, "PASS_CPU", 10_000)
    whole = run.sample_model(70, sampler="prior", seed=3), run.encode_model(x)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(small, whole))


def test_fingerprint_follows_the_data(digits):
    changed = data.Dataset(**{**digits.__dict__, "train": digits.train.clone()})
    assert evaluator.fingerprint(changed) == evaluator.fingerprint(digits)
    changed.train[0, 0, 0, 0] += 0.5
    assert evaluator.fingerprint(changed) != evaluator.fingerprint(digits)


def test_corrupt_cached_evaluator_is_refused(digits, digits_evaluator, tmp_path, monkeypatch):
    monkeypatch.setenv("AEGAN_CACHE", str(tmp_path))
    small = data.Dataset(**{**digits.__dict__, "train": digits.train[:200], "labels_train": digits.labels_train[:200]})
    monkeypatch.setattr(evaluator, "train_evaluator", lambda ds, kind: (digits_evaluator.net, digits_evaluator.info))
    evaluator.for_data(small)
    weights = next(tmp_path.rglob("classifier.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="checksum"):
        evaluator.for_data(small)


HOLD_LOCK = """import sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
"""


def test_a_second_process_waits_for_the_evaluator_in_training_and_reads_it(digits, digits_evaluator, tmp_path,
                                                                           monkeypatch):
    """Parallel test workers share the cache: while one process holds the lock (training), another one waits and
    then reads what the first one stored, instead of training the same evaluator a second time."""
    monkeypatch.setenv("AEGAN_CACHE", str(tmp_path))
    small = data.Dataset(**{**digits.__dict__, "train": digits.train[:200], "labels_train": digits.labels_train[:200]})
    folder = tmp_path / "evaluators" / evaluator.fingerprint(small)
    folder.mkdir(parents=True)
    trained = []

    def train_evaluator(ds, kind):  # counts the trainings instead of training
        trained.append(ds)
        return digits_evaluator.net, digits_evaluator.info

    monkeypatch.setattr(evaluator, "train_evaluator", train_evaluator)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder / "train.lock")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        messages, result = [], {}
        waiter = threading.Thread(target=lambda: result.update(ev=evaluator.for_data(small, messages.append)))
        waiter.start()
        deadline = time.monotonic() + 30
        while waiter.is_alive() and not messages and time.monotonic() < deadline:
            time.sleep(0.01)
        waiter.join(timeout=0.5)
        assert waiter.is_alive() and not trained, messages  # blocked on the lock, not training
        assert len(messages) == 1 and "waiting" in messages[0], messages
        from aegan.records import write_record

        write_record(folder, "classifier", digits_evaluator.net.state_dict(), {**digits_evaluator.info, "data": "x"},
                     format=evaluator.FORMAT, version=evaluator.VERSION)  # what the lock holder stores
        holder.communicate("done\n", timeout=30)
        waiter.join(timeout=30)
    finally:
        holder.kill()
    assert not waiter.is_alive() and not trained
    assert result["ev"].info["data"] == "x"  # the stored evaluator, read after the wait
    x = digits.test[:20]
    assert torch.equal(result["ev"].features(x), digits_evaluator.features(x))


@pytest.mark.slow  # trains the fashion-mnist evaluator: minutes on 2 cores (benchmarks/learning.py runs it)
@pytest.mark.skipif(not fashion_available(), reason="needs dataset-fashion-mnist")
def test_fashion_evaluator_accuracy():
    ev = evaluator.for_data(data.load("fashion-mnist"))
    assert ev.info["accuracy"] >= 0.90, ev.info


# ---------------------------------------------------------------- stacked data


def test_stacked_digits_has_1000_modes_counted_by_the_evaluator(digits_evaluator):
    ds = data.load("stacked-digits")
    assert ds.shape == (3, 8, 8) and len(ds.train) == 10_000
    assert ds.labels_train.unique().numel() == 1000
    base = ds.base
    y0 = ds.labels_train[:20] // 100
    # every channel is an image of the base training split, with that image's class
    for i in range(20):
        match = (base.train == ds.train[i, :1]).flatten(1).all(1)
        assert match.any() and (base.labels_train[match] == y0[i]).all()
    ev = evaluator.for_data(ds)
    assert ev.classes == 1000
    acc = float((ev.predict(ds.test) == ds.labels_test).float().mean())
    assert acc >= digits_evaluator.info["accuracy"] ** 3 - 0.05  # three channels, each right with p = accuracy
    q = mode_weights(ds)
    assert q.shape == (1000,) and float(q.sum()) == pytest.approx(1.0)
    p = ev.probs(ds.test[:10])
    assert p.shape == (10, 1000) and torch.allclose(p.sum(1), torch.ones(10, dtype=p.dtype), atol=1e-5)


def test_histogram_stats_known_answers():
    s = histogram_stats(torch.tensor([0, 0, 1, 1]), torch.ones(4))
    assert s["modes_covered"] == 2 and s["modes_total"] == 4
    assert s["kl_modes"] == pytest.approx(np.log(2))  # half the modes, evenly: log(4 / 2)
    assert histogram_stats(torch.arange(4), torch.ones(4))["kl_modes"] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- collapse told apart


# fashion-mnist needs its evaluator, minutes of training on a 2-core machine: a slow test (benchmarks/learning.py)
COLLAPSE_DATA = ["digits", pytest.param("fashion-mnist", marks=[pytest.mark.slow, pytest.mark.skipif(
    not fashion_available(), reason="needs dataset-fashion-mnist")])]


@pytest.fixture(scope="module", params=COLLAPSE_DATA)
def collapse_scores(request):
    """Scores of held-out images, of one held-out image repeated, and of held-out images of 3 classes only, all of
    the same size (all 297 held-out digits; 2,000 fashion-mnist images)."""
    ds = data.load(request.param)
    test, y = ds.test[:2000], ds.labels_test[:2000]
    n = len(test)
    g = torch.Generator().manual_seed(0)
    three = test[y < 3]
    sets = {"real": test, "repeated": test[:1].repeat(n, 1, 1, 1),
            "three_classes": three[torch.randint(len(three), (n,), generator=g)]}
    return {name: sample_scores(ds, x) for name, x in sets.items()}


LOWER_IS_WORSE = ["recall", "coverage", "classifier_score", "modes_covered", "birthday_support"]
HIGHER_IS_WORSE = ["fd", "kid", "msssim_samples", "ndb", "kl_modes"]


@pytest.mark.parametrize("collapsed", ["repeated", "three_classes"])
def test_collapsed_sets_score_clearly_worse(collapse_scores, collapsed):
    real, bad = collapse_scores["real"], collapse_scores[collapsed]
    for key in LOWER_IS_WORSE:
        assert bad[key] < 0.7 * real[key], (key, bad[key], real[key])
    for key in HIGHER_IS_WORSE:
        assert bad[key] > real[key] + 0.1 * abs(real[key]) + 1e-3, (key, bad[key], real[key])
    # every class is predicted for some real images; a collapsed set misses some, even counting misclassifications
    assert real["modes_covered"] == 10 and bad["modes_covered"] < 10


def test_real_held_out_set_scores_like_data(collapse_scores):
    real = collapse_scores["real"]
    assert real["precision"] > 0.8 and real["recall"] > 0.8
    assert real["coverage"] > 0.6  # 297 samples cannot cover all of the 1,000 reference images' neighbourhoods
    assert real["classifier_score"] > 7.0 and real["kl_modes"] < 0.05  # 10 = every class, each predicted surely
    assert abs(real["msssim_samples"] - real["msssim_data"]) < 0.05
    assert real["ndb_k"] < 0.3  # 297 held-out images against 100 bins: some bins differ by chance


def test_check_classifier_is_another_judge_that_also_tells_collapse_apart(digits, digits_evaluator):
    """The "check" role: another architecture (7×7 kernels, average pooling, 64 features) and seed, its own cache
    folder, accurate on held-out data; its FD ranks a collapsed set below real data like the evaluator's does."""
    check = evaluator.for_data(digits, log=lambda m: None, role="check")
    root = evaluator.cache_root()
    assert (root / "checks" / evaluator.fingerprint(digits, "check") / "classifier.safetensors").is_file()
    assert evaluator.fingerprint(digits, "check") != evaluator.fingerprint(digits)
    assert check.info["accuracy"] >= 0.9 and check.info["role"] == "check"
    assert check.net.body[0].weight.shape[-1] == 7 and digits_evaluator.net.body[0].weight.shape[-1] == 3
    assert isinstance(check.net.body[3], torch.nn.AvgPool2d)
    x = digits.test[:32]
    assert check.features(x).shape == (32, 64)
    test = digits.test
    real = sample_scores(digits, test, check=True)
    repeated = sample_scores(digits, test[:1].repeat(len(test), 1, 1, 1), check=True)
    assert real["check_accuracy"] == check.info["accuracy"]
    assert repeated["fd_check"] > 5 * real["fd_check"] and repeated["fd"] > 5 * real["fd"]
    assert "fd_check" not in sample_scores(digits, test)  # only when asked: it may train a network first


# ---------------------------------------------------------------- aegan eval --samples


def test_eval_samples_cli(digits, tmp_path, capsys):
    x = digits.transform.to_array(digits.test)  # data units, as `aegan sample` writes them
    np.save(tmp_path / "s.npy", x)
    np.save(tmp_path / "nhwc.npy", np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    assert main(["eval", "--samples", str(tmp_path / "s.npy"), "--data", "digits", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["modes_covered"] == 10 and scores["n_samples"] == len(x) and scores["data"] == "digits"
    assert evaluate_samples(tmp_path / "nhwc.npy", "digits")["fd"] == pytest.approx(scores["fd"], rel=1e-4)


@pytest.mark.parametrize("case, argv, message", [
    ("wrong size", lambda d: ["--samples", d / "small.npy", "--data", "digits"], "shape"),
    ("out of range", lambda d: ["--samples", d / "big.npy", "--data", "digits"], "outside"),
    ("too few", lambda d: ["--samples", d / "few.npy", "--data", "digits"], "at least 100"),
    ("vectors for images", lambda d: ["--samples", d / "vec.npy", "--data", "digits"], "shape"),
    ("both run and samples", lambda d: [d, "--samples", d / "small.npy", "--data", "digits"], "either"),
    ("no data", lambda d: ["--samples", d / "small.npy"], "either"),
    ("missing file", lambda d: ["--samples", d / "none.npy", "--data", "digits"], "does not exist"),
])
def test_eval_samples_bad_input(tmp_path, capsys, case, argv, message):
    np.save(tmp_path / "small.npy", np.zeros((200, 1, 6, 6), np.float32))
    np.save(tmp_path / "big.npy", np.full((200, 1, 8, 8), 300.0, np.float32))
    np.save(tmp_path / "few.npy", np.zeros((5, 1, 8, 8), np.float32))
    np.save(tmp_path / "vec.npy", np.zeros((200, 64), np.float32))
    assert main(["eval", *[str(a) for a in argv(tmp_path)]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


# ---------------------------------------------------------------- the collapse monitor


def test_monitor_tells_collapse_from_diversity(digits):
    real = digits.test[:200]
    mon = CollapseMonitor(real, torch.zeros(200, 2), warn=0.5, stop=True, patience=2)
    fine = mon.check(digits.train[:200])
    assert fine.warning is None and 0.8 < fine.values["monitor/diversity"] < 1.2
    assert fine.values["monitor/coverage"] > 0.7
    one = mon.check(digits.train[:1].repeat(200, 1, 1, 1))
    assert one.values["monitor/diversity"] == pytest.approx(0.0, abs=1e-6) and "diversity" in one.warning
    assert not one.stop
    subset = digits.train[digits.labels_train < 2][:200]  # varied images of 2 classes: subtle collapse
    sub = mon.check(subset)
    assert sub.values["monitor/coverage"] < 0.5 * fine.values["monitor/coverage"] and "coverage" in sub.warning
    assert sub.stop  # second warning in a row with patience 2


def test_mean_pair_distance_known_answer():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert mean_pair_distance(x) == pytest.approx(5.0)
    assert mean_pair_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])) == pytest.approx(10.0 / 3)


# ---------------------------------------------------------------- eval.json of image runs


IMAGE_KEYS = {"fd", "kid", "classifier_score", "precision", "recall", "density", "coverage", "msssim_samples",
              "msssim_data", "birthday_support", "ndb", "ndb_k", "modes_total", "modes_covered", "kl_modes",
              "evaluator_accuracy"}


def test_image_run_eval_json_has_the_image_keys(digits_evaluator, tmp_path, tiny):
    import aegan

    run = aegan.train("gan", data="digits", steps=4, out=tmp_path / "g", overrides=tiny)
    scores = aegan.evaluate(run, n=200)
    assert scores.keys() >= IMAGE_KEYS
    stored = json.loads((tmp_path / "g" / "eval.json").read_text())
    assert all(isinstance(stored[k], (int, float)) for k in IMAGE_KEYS)
    assert stored["evaluator_accuracy"] == pytest.approx(digits_evaluator.info["accuracy"])
    assert "fd_recon" not in stored  # a GAN has no encoder


def test_encoder_run_eval_json_has_the_fd_of_its_reconstructions(digits, digits_evaluator, tmp_path, tiny):
    """fd_recon: FD between held-out images and their reconstructions, in the evaluator's features (known answer:
    a model whose reconstructions are the originals scores the FD of a set with itself, 0); precision_recon and
    recall_recon, against the samples' reference images: for that model those of the held-out images themselves, and
    recall 0 for a decoder that makes one image whatever the code."""
    import aegan
    from aegan.evaluate import encoder_scores, reference_images
    from aegan.metrics import frechet_distance, precision_recall

    run = aegan.train("ae", data="digits", steps=4, out=tmp_path / "a", overrides=tiny)
    n = 1500  # samples: scored against a reference of 1,500 images, where the 297 held-out images alone would get 1,000
    stored = aegan.evaluate(run, n=n)
    test = digits.test
    assert len(reference_images(digits, n)) != len(reference_images(digits, len(test)))
    x_rec = run.model.generate(run.encode_model(test))
    f_test, f_rec = digits_evaluator.features(test), digits_evaluator.features(x_rec)
    f_ref = digits_evaluator.features(reference_images(digits, n))  # what the samples were scored against
    assert stored["fd_recon"] == pytest.approx(frechet_distance(f_test, f_rec), rel=1e-4) and stored["fd_recon"] > 0
    pr = precision_recall(f_ref, f_rec)
    assert (stored["precision_recon"], stored["recall_recon"]) == pytest.approx((pr["precision"], pr["recall"]))
    run.decode_model = lambda z: test[torch.arange(len(z)) % len(test)]  # a perfect autoencoder on these images
    perfect = aegan.evaluate(run, n=n, sampler="prior", write=False)
    assert perfect["fd_recon"] == pytest.approx(0.0, abs=1e-3)
    real = precision_recall(f_ref, f_test)  # its reconstructions are held-out real images: they score as those do
    assert (perfect["precision_recon"], perfect["recall_recon"]) == pytest.approx((real["precision"], real["recall"]))
    assert perfect["recall_recon"] > 0.5
    # against the reference the held-out count alone would pick, the same images score otherwise: the test tells
    other = precision_recall(digits_evaluator.features(reference_images(digits, len(test))), f_test)
    assert (other["precision"], other["recall"]) != pytest.approx((real["precision"], real["recall"]))
    run.decode_model = lambda z: test[:1].expand_as(test)  # a collapsed decoder: one image for every code
    # the k-NN radius among identical copies is 0, so no reference image lies in any reconstruction's ball
    assert encoder_scores(run, test, seed=0, n=n)["recall_recon"] == 0.0


def test_monitor_logs_during_training_and_can_stop_the_run(tmp_path, tiny, capsys):
    import aegan

    run = aegan.train("gan", data="grid25", steps=40, out=tmp_path / "m",
                      overrides={**tiny, "monitor.every": 10, "monitor.probe": 100})
    records = [json.loads(line) for line in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    checks = [r for r in records if "monitor/diversity" in r]
    assert [r["step"] for r in checks] == [10, 20, 30, 40] and run.step == 40
    assert all(0 <= r["monitor/coverage"] <= 1 and r["monitor/modes_covered"] <= 25 for r in checks)
    # a threshold no generator meets: warnings at every check, and the run stops after two in a row
    run = aegan.train("gan", data="grid25", steps=100, out=tmp_path / "s",
                      overrides={**tiny, "monitor.every": 10, "monitor.probe": 100, "monitor.warn": 0.999,
                                 "monitor.stop": True, "monitor.patience": 2})
    assert run.step == 20
    printed = capsys.readouterr()
    assert "possible mode collapse: " in printed.out + printed.err  # the gan's prior is its only road: not named
    # the ae's prior is never trained (its codes are not drawn towards N(0, I)): no checks, so no false warnings
    aegan.train("ae", data="grid25", steps=20, out=tmp_path / "ae",
                overrides={**tiny, "monitor.every": 10, "monitor.probe": 100, "monitor.warn": 0.999})
    records = [json.loads(line) for line in (tmp_path / "ae" / "metrics.jsonl").read_text().splitlines()]
    assert records and not any("monitor/diversity" in r for r in records)
    # an encoder model samples through a code model by default: its warnings name the road the probe takes
    aegan.train("aae", data="grid25", steps=20, out=tmp_path / "aae",
                overrides={**tiny, "monitor.every": 10, "monitor.probe": 100, "monitor.warn": 0.999})
    printed = capsys.readouterr()
    assert "possible mode collapse through the prior" in printed.out + printed.err


def test_eval_samples_on_vectors(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "data.npy", rng.normal(size=(3000, 3)).astype(np.float32))
    np.save(tmp_path / "good.npy", rng.normal(size=(1000, 3)).astype(np.float32))
    np.save(tmp_path / "point.npy", np.zeros((1000, 3), np.float32))
    good = evaluate_samples(tmp_path / "good.npy", str(tmp_path / "data.npy"))
    point = evaluate_samples(tmp_path / "point.npy", str(tmp_path / "data.npy"))
    assert good["fd"] < 0.1 < point["fd"] and good["coverage"] > 0.9 > 0.1 > point["coverage"]
    grid = data.load("grid25")
    np.save(tmp_path / "grid.npy", grid.transform.to_data(grid.test[:500]).numpy())
    assert evaluate_samples(tmp_path / "grid.npy", "grid25")["modes_covered"] == 25


def test_unwritable_cache_and_foreign_evaluator_give_one_line(digits, digits_evaluator, tmp_path, monkeypatch,
                                                              capsys):
    x = digits.transform.to_array(digits.test)
    np.save(tmp_path / "s.npy", x)
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("AEGAN_CACHE", str(tmp_path / "file" / "cache"))  # cannot be created, even by root
    assert main(["eval", "--samples", str(tmp_path / "s.npy"), "--data", "digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AEGAN_CACHE" in err, err
    monkeypatch.setenv("AEGAN_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "evaluators" / evaluator.fingerprint(digits)
    from aegan.records import write_record

    write_record(folder, "classifier", {"w": torch.zeros(3)}, {**digits_evaluator.info},
                 format=evaluator.FORMAT, version=evaluator.VERSION)  # a record whose tensors are not the network
    assert main(["eval", "--samples", str(tmp_path / "s.npy"), "--data", "digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not fit" in err, err
