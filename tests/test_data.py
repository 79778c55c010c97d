"""aegan.data: toy mixtures, image data sets, user arrays and folders, and every bad input as a DataError."""

from __future__ import annotations

import gzip
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aegan.data as data
from aegan.data import Dataset, Transform, load
from aegan.data.images import read_idx
from aegan.errors import DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def raises_data_error(fn, *args, match: str = "") -> str:
    """Call fn, expect a one-line DataError containing `match`; return the message."""
    with pytest.raises(DataError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg, f"DataError must be one line: {msg!r}"
    assert match.lower() in msg.lower(), f"expected {match!r} in {msg!r}"
    return msg


def rows_as_set(a: np.ndarray) -> list[bytes]:
    return sorted(r.tobytes() for r in a)


# --------------------------------------------------------------------------------------------------
# Toy mixtures
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, k, std, radius", [("ring8", 8, 0.01, 1.0), ("grid25", 25, 0.05, None)])
def test_toy_modes_and_points(name: str, k: int, std: float, radius: float | None) -> None:
    ds = load(name)
    assert ds.kind == "vector" and ds.shape == (2,)
    assert ds.train.shape == (50_000, 2) and ds.test.shape == (10_000, 2)
    assert ds.train.dtype == torch.float32
    centres, mode_std = ds.modes
    assert centres.shape == (k, 2) and centres.dtype == torch.float32 and mode_std == std
    assert torch.pdist(centres).min() > 0.5  # k distinct centres (linspace(0, 2π, 8) would repeat one)
    if radius is not None:
        torch.testing.assert_close(centres.norm(dim=1), torch.full((k,), radius))
    for split in (ds.train, ds.test):
        x = ds.transform.to_data(split)  # back in data units
        dist, nearest = torch.cdist(x, centres).min(dim=1)
        assert dist.max() < 5 * std  # every point within 5 std of a centre
        counts = torch.bincount(nearest, minlength=k).float() / len(x)
        assert counts.min() > 0.7 / k and counts.max() < 1.3 / k  # equal weights, every mode used
    # model scale: standardized with the train split's statistics
    torch.testing.assert_close(ds.train.mean(0), torch.zeros(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(ds.train.std(0), torch.ones(2), atol=1e-3, rtol=0)


def test_grid25_centres_are_the_grid() -> None:
    centres = load("grid25").modes[0]
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(c) for c in centres.tolist()} == expected


def test_ring8_centres_are_the_eight_angles() -> None:
    centres = load("ring8").modes[0]
    angles = sorted(math.atan2(y, x) % (2 * math.pi) for x, y in centres.tolist())
    assert angles == pytest.approx([2 * math.pi * i / 8 for i in range(8)], abs=1e-6)


def test_toy_data_is_fixed_and_train_differs_from_test() -> None:
    torch.manual_seed(123)  # a training seed must not change the data
    a = data.ring8()
    torch.manual_seed(456)
    b = data.ring8()
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train[:10_000], a.test)


def test_info_is_json_ready() -> None:
    info = load("grid25").info()
    assert info["shape"] == [2] and info["n_train"] == 50_000 and len(info["modes"]["centres"]) == 25
    assert Transform.from_json(info["transform"]) == load("grid25").transform


# --------------------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------------------


def test_standardize_round_trip() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal([3.0, -200.0, 0.5], [2.0, 50.0, 1e-3], size=(500, 3)).astype(np.float32)
    t = Transform(kind="standardize", mean=x.mean(0).tolist(), std=x.std(0).tolist())
    z = t.to_model(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3), atol=1e-2, rtol=0)
    torch.testing.assert_close(t.to_data(z), torch.from_numpy(x), atol=1e-3, rtol=1e-5)
    np.testing.assert_allclose(t.to_array(z), x, rtol=1e-5, atol=1e-3)


def test_user_vectors_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(5.0, 3.0, (200, 3)), np.full((200, 1), 7.0)], axis=1)  # last feature constant
    np.save(tmp_path / "v.npy", x)
    ds = load(str(tmp_path / "v.npy"))
    assert ds.kind == "vector" and ds.transform.kind == "standardize" and ds.transform.layout == "ND"
    assert ds.transform.std[3] == 1.0 and torch.all(ds.train[:, 3] == 0)  # zero std -> std 1, centred
    assert len(ds.test) == 20 and len(ds.train) == 180
    back = torch.cat([ds.transform.to_data(ds.train), ds.transform.to_data(ds.test)]).double().numpy()
    order = np.lexsort(back.T[::-1]), np.lexsort(x.T[::-1])
    np.testing.assert_allclose(back[order[0]], x[order[1]], rtol=1e-5, atol=1e-4)


def test_integer_vectors_are_accepted(tmp_path: Path) -> None:
    np.save(tmp_path / "i.npy", np.arange(40, dtype=np.int64).reshape(20, 2))
    ds = load(str(tmp_path / "i.npy"))
    assert ds.kind == "vector" and ds.train.dtype == torch.float32 and torch.isfinite(ds.train).all()


LAYOUTS = [("NHW", (12, 6, 5), 1), ("NCHW", (12, 1, 6, 5), 1), ("NCHW", (12, 3, 6, 5), 3),
           ("NHWC", (12, 6, 5, 3), 3), ("NHWC", (12, 6, 5, 1), 1)]  # (layout, user shape, channels)


@pytest.mark.parametrize("layout, shape, channels", LAYOUTS)
def test_image_transform_round_trip_uint8(layout: str, shape: tuple[int, ...], channels: int) -> None:
    x = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    x[0].flat[0], x[0].flat[1] = 0, 255
    t = Transform(kind="image", layout=layout, dtype="uint8", scale=255.0)
    z = t.to_model(x)
    assert z.shape == (12, channels, 6, 5)  # the model always sees (N, C, H, W)
    assert z.min() == -1.0 and z.max() == 1.0
    out = t.to_array(z)
    assert out.dtype == np.uint8 and np.array_equal(out, x)


@pytest.mark.parametrize("layout, shape, channels", LAYOUTS)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_image_file_round_trip(tmp_path: Path, layout: str, shape: tuple[int, ...], channels: int, dtype: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    if dtype == "float32":
        x = x.astype(np.float32) / 255.0
    np.save(tmp_path / "img.npy", x)
    ds = load(str(tmp_path / "img.npy"))
    assert ds.kind == "image" and ds.transform.layout == layout and ds.transform.dtype == dtype
    assert ds.shape == (channels, 6, 5) and ds.train.dtype == torch.float32
    assert ds.train.min() >= -1.0 and ds.train.max() <= 1.0
    assert len(ds.train) + len(ds.test) == 12 and len(ds.test) == 1
    back = np.concatenate([ds.transform.to_array(ds.train), ds.transform.to_array(ds.test)])
    assert back.dtype == x.dtype and back.shape == x.shape
    if dtype == "uint8":
        assert rows_as_set(back) == rows_as_set(x)
    else:
        key = lambda a: np.argsort(a.reshape(len(a), -1)[:, :4] @ np.array([1e9, 1e6, 1e3, 1.0]))  # noqa: E731
        np.testing.assert_allclose(back[key(back)], x[key(x)], atol=1e-6)


# --------------------------------------------------------------------------------------------------
# Built-in image data sets
# --------------------------------------------------------------------------------------------------


def test_digits() -> None:
    ds = load("digits")
    assert ds.kind == "image" and ds.shape == (1, 8, 8)
    assert ds.train.shape == (1500, 1, 8, 8) and ds.test.shape == (297, 1, 8, 8)
    assert ds.train.min() == -1.0 and ds.train.max() == 1.0
    assert ds.labels_train.dtype == torch.int64 and set(ds.labels_test.tolist()) == set(range(10))
    assert ds.transform == Transform(kind="image", layout="NCHW", dtype="float32", scale=16.0)
    back = ds.transform.to_data(ds.train)
    assert back.max() == 16.0 and torch.equal(back, back.round())  # digits' integer values 0..16
    assert torch.equal(data.digits().test, ds.test)  # fixed split


def test_fashion_mnist_from_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    if not any((FASHION_DIR / f"train-images-idx3-ubyte{ext}").exists() for ext in (".gz", "")):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    monkeypatch.delenv("AEGAN_DATA", raising=False)
    ds = load("fashion-mnist")
    assert ds.train.shape == (60_000, 1, 28, 28) and ds.test.shape == (10_000, 1, 28, 28)
    assert ds.train.dtype == torch.float32 and ds.train.min() == -1.0 and ds.train.max() == 1.0
    assert ds.labels_train.dtype == torch.int64 and ds.labels_test.shape == (10_000,)
    assert torch.equal(torch.bincount(ds.labels_train), torch.full((10,), 6000))
    assert ds.transform == Transform(kind="image", layout="NCHW", dtype="uint8", scale=255.0)
    raw = read_idx(next(FASHION_DIR.glob("t10k-images-idx3-ubyte*")), 3)  # (10000, 28, 28)
    assert np.array_equal(ds.transform.to_array(ds.test[:100]), raw[:100, None])


# --- idx files written into tmp_path -------------------------------------------------------------


def idx_bytes(a: np.ndarray, magic: int | None = None) -> bytes:
    """uint8 array -> idx file contents (big-endian header)."""
    magic = 0x00000800 | a.ndim if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def write_fashion(folder: Path, gz: bool, n_train: int = 7, n_test: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 6, 5), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 6, 5), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    folder.mkdir(parents=True, exist_ok=True)
    for stem, a in arrays.items():
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(a)))
        else:
            (folder / stem).write_bytes(idx_bytes(a))
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_plain_and_gz(tmp_path: Path, gz: bool) -> None:
    arrays = write_fashion(tmp_path, gz)
    ds = data.fashion_mnist(root=tmp_path)
    assert ds.train.shape == (7, 1, 6, 5) and ds.test.shape == (3, 1, 6, 5)
    assert np.array_equal(ds.transform.to_array(ds.train), arrays["train-images-idx3-ubyte"][:, None])
    assert np.array_equal(ds.transform.to_array(ds.test), arrays["t10k-images-idx3-ubyte"][:, None])
    assert ds.labels_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert ds.labels_test.dtype == torch.int64


def test_fashion_found_through_aegan_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fashion(tmp_path / "fashion-mnist", gz=True, n_train=4)
    monkeypatch.setenv("AEGAN_DATA", str(tmp_path))
    assert load("fashion-mnist").train.shape == (4, 1, 6, 5)


def test_fashion_missing(tmp_path: Path) -> None:
    raises_data_error(data.fashion_mnist, tmp_path, match="apt-get install dataset-fashion-mnist")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _wrong_magic(path: Path) -> None:
    path.write_bytes(struct.pack(">I", 0x00000803) + path.read_bytes()[4:])  # a labels file claiming images


def _corrupt_gz(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))


def _cut_gz(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:20])


def _extra_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00" * 3)


def _short_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:6])


@pytest.mark.parametrize("damage, gz, stem, match", [
    (_truncate, False, "train-images-idx3-ubyte", "truncated"),
    (_truncate, True, "train-images-idx3-ubyte", "truncated"),
    (_extra_bytes, False, "train-labels-idx1-ubyte", "header says (50,)"),
    (_wrong_magic, False, "train-labels-idx1-ubyte", "magic"),
    (_short_header, False, "t10k-images-idx3-ubyte", "too short"),
    (_corrupt_gz, True, "t10k-images-idx3-ubyte", "corrupt"),
    (_cut_gz, True, "train-labels-idx1-ubyte", "corrupt"),
])
def test_bad_idx_files(tmp_path: Path, damage, gz: bool, stem: str, match: str) -> None:
    write_fashion(tmp_path, gz, n_train=50)
    target = tmp_path / (stem + (".gz" if gz else ""))
    damage(target)
    msg = raises_data_error(data.fashion_mnist, tmp_path, match=match)
    assert str(target) in msg  # names the file


def test_idx_count_mismatch(tmp_path: Path) -> None:
    write_fashion(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    raises_data_error(data.fashion_mnist, tmp_path, match="5 labels")


# --------------------------------------------------------------------------------------------------
# User arrays and folders: good input
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [("x", "y"), ("data", "labels"), ("images", "y")])
def test_npz_with_labels(tmp_path: Path, keys: tuple[str, str]) -> None:
    x = np.random.default_rng(5).integers(0, 256, (30, 8, 8), dtype=np.uint8)
    y = np.arange(30) % 4
    np.savez(tmp_path / "d.npz", **{keys[0]: x, keys[1]: y, "extra": np.zeros(3)})
    ds = load(str(tmp_path / "d.npz"))
    assert ds.name == str(tmp_path / "d.npz") and ds.transform.layout == "NHW"
    assert ds.labels_train.dtype == torch.int64 and len(ds.labels_train) == 27 and len(ds.labels_test) == 3
    # each label still belongs to its image
    images = {x[i].tobytes(): int(y[i]) for i in range(30)}
    for img, lab in zip(ds.transform.to_array(ds.train), ds.labels_train.tolist(), strict=True):
        assert images[img.tobytes()] == lab


def test_npz_single_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", whatever=np.ones((10, 4), np.float32))
    ds = load(str(tmp_path / "s.npz"))
    assert ds.kind == "vector" and ds.labels_train is None


@pytest.mark.parametrize("n, n_train, n_test",
                         [(1, 1, 1), (2, 1, 1), (19, 18, 1), (25, 23, 2), (120_000, 110_000, 10_000)])
def test_split_sizes(tmp_path: Path, n: int, n_train: int, n_test: int) -> None:
    np.save(tmp_path / "n.npy", np.arange(n, dtype=np.float32)[:, None])
    ds = load(str(tmp_path / "n.npy"))
    assert (len(ds.train), len(ds.test)) == (n_train, n_test)
    values = torch.cat([ds.transform.to_data(ds.train), ds.transform.to_data(ds.test)]).round().long().flatten()
    if n == 1:
        assert torch.equal(ds.train, ds.test)
    else:
        assert torch.equal(values.sort().values, torch.arange(n))  # a partition: no example lost or repeated


def save_png(path: Path, a: np.ndarray, mode: str | None = None) -> None:
    img = Image.fromarray(a)
    if mode is not None:
        img = img.convert(mode)
    img.save(path)


def test_folder_grayscale(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    imgs = [rng.integers(0, 256, (9, 7), dtype=np.uint8) for _ in range(10)]
    for i, a in enumerate(imgs):
        save_png(tmp_path / f"{i:02d}.png", a)
    save_png(tmp_path / "10.PNG", imgs[0], mode="1")  # 1-bit, upper-case suffix
    (tmp_path / "sub").mkdir()
    save_png(tmp_path / "sub" / "ignored.png", np.zeros((3, 3), np.uint8))  # not searched, would fail the size check
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load(str(tmp_path))
    assert ds.transform.layout == "NHW" and ds.transform.dtype == "uint8" and ds.shape == (1, 9, 7)
    assert len(ds.train) + len(ds.test) == 11 and len(ds.test) == 1
    back = np.concatenate([ds.transform.to_array(ds.train), ds.transform.to_array(ds.test)])
    binary = np.asarray(Image.fromarray(imgs[0]).convert("1").convert("L"))
    assert rows_as_set(back) == rows_as_set(np.stack(imgs + [binary]))


def test_folder_colour_modes(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    save_png(tmp_path / "a.png", rgb)
    save_png(tmp_path / "b.png", np.dstack([rgb, np.full((6, 8), 255, np.uint8)]))  # RGBA
    save_png(tmp_path / "c.png", rgb, mode="P")
    Image.fromarray(rgb).save(tmp_path / "d.JPEG", quality=95)
    ds = load(str(tmp_path))
    assert ds.transform.layout == "NHWC" and ds.shape == (3, 6, 8)
    back = np.concatenate([ds.transform.to_array(ds.train), ds.transform.to_array(ds.test)])
    assert back.shape == (4, 6, 8, 3) and back.dtype == np.uint8
    assert sum(np.array_equal(b, rgb) for b in back) >= 2  # the RGB and the RGBA file, exactly


def test_folder_16bit_grayscale_is_rescaled(tmp_path: Path) -> None:
    a = np.tile(np.array([0, 257 * 100, 65535], np.uint16), (5, 2))[:, :5]  # (5, 5)
    Image.fromarray(a).save(tmp_path / "deep.png")
    ds = load(str(tmp_path))
    out = ds.transform.to_array(ds.test)[0]
    assert set(np.unique(out).tolist()) == {0, 100, 255}  # scaled, not clipped to 255


# --------------------------------------------------------------------------------------------------
# Bad input: every case a one-line DataError
# --------------------------------------------------------------------------------------------------


def _npy(a):
    def make(tmp: Path) -> str:
        np.save(tmp / "bad.npy", a, allow_pickle=True)
        return str(tmp / "bad.npy")
    return make


def _npz(**arrays):
    def make(tmp: Path) -> str:
        np.savez(tmp / "bad.npz", **arrays)
        return str(tmp / "bad.npz")
    return make


def _with_nan():
    a = np.random.default_rng(0).random((20, 3))
    a[12, 1] = np.nan
    return a


def _with_inf():
    a = np.random.default_rng(0).random((20, 8, 8)).astype(np.float32)
    a[7, 3, 3] = -np.inf
    return a


def _pickle_file(tmp: Path) -> str:
    (tmp / "p.npy").write_bytes(pickle.dumps(np.zeros((5, 2))))
    return str(tmp / "p.npy")


def _folder(*images: tuple[str, np.ndarray]):
    def make(tmp: Path) -> str:
        folder = tmp / "imgs"
        folder.mkdir()
        for name, a in images:
            Image.fromarray(a).save(folder / name)
        return str(folder)
    return make


def _png_cut_at(fraction: float):
    def make(tmp: Path) -> str:
        folder = tmp / "imgs"
        folder.mkdir()
        noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
        Image.fromarray(noise).save(folder / "a.png")
        Image.fromarray(noise).save(folder / "b.png")
        raw = (folder / "b.png").read_bytes()
        (folder / "b.png").write_bytes(raw[: int(len(raw) * fraction)])
        return str(folder)
    return make


def _not_a_png(tmp: Path) -> str:
    folder = tmp / "imgs"
    folder.mkdir()
    (folder / "fake.jpg").write_text("hello")
    return str(folder)


def _empty_folder(tmp: Path) -> str:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "readme.txt").write_text("no images here")
    return str(tmp / "empty")


def _nonfinite_after_standardize(tmp: Path) -> str:
    # find which rows the fixed split holds out, then make only those rows huge: train std ~1e-30
    np.save(tmp / "probe.npy", np.arange(20, dtype=np.float64)[:, None])
    probe = load(str(tmp / "probe.npy"))
    test_rows = probe.transform.to_data(probe.test).round().long().flatten().tolist()
    a = np.random.default_rng(0).random((20, 1)) * 1e-30
    a[test_rows] = 1e14
    np.save(tmp / "bad.npy", a)
    return str(tmp / "bad.npy")


GRAY = np.zeros((8, 8), np.uint8)
RGB = np.zeros((8, 8, 3), np.uint8)

BAD_INPUTS = [
    ("nan", _npy(_with_nan()), "NaN at row 12"),
    ("inf", _npy(_with_inf()), "Inf at row 7"),
    ("empty", _npy(np.zeros((0, 5), np.float32)), "empty"),
    ("zero-size-dim", _npy(np.zeros((10, 0), np.float32)), "empty"),
    ("1-d", _npy(np.arange(10.0)), "(N, D)"),
    ("5-d", _npy(np.zeros((2, 3, 4, 5, 6), np.uint8)), "layout"),
    ("bad-channels", _npy(np.zeros((4, 5, 6, 7), np.uint8)), "C = 1 (grayscale) or 3"),
    ("rgba-channels", _npy(np.zeros((4, 6, 6, 4), np.uint8)), "alpha"),
    ("float-images-above-1", _npy(np.full((4, 8, 8), 2.0, np.float32)), "[0, 1]"),
    ("float-images-negative", _npy(np.full((4, 1, 8, 8), -0.5, np.float32)), "uint8"),
    ("int-images-out-of-range", _npy(np.full((4, 8, 8), 300, np.int32)), "0..255"),
    ("tiny-images", _npy(np.zeros((4, 3, 3), np.uint8)), "4x4"),
    ("object-npy", _npy(np.array([{"a": 1}, None], dtype=object)), "Python objects"),
    ("pickle-file", _pickle_file, "pickle"),
    ("object-npz", _npz(x=np.array([None, 1], dtype=object)), "Python objects"),
    ("bool", _npy(np.ones((10, 2), bool)), "dtype bool"),
    ("complex", _npy(np.ones((10, 2), np.complex64)), "dtype complex64"),
    ("strings", _npy(np.array([["a", "b"]] * 3)), "dtype <U1"),
    ("npz-ambiguous", _npz(a=np.zeros((5, 2)), b=np.zeros((5, 2))), "['a', 'b']"),
    ("npz-bad-labels", _npz(x=np.zeros((5, 2)), y=np.zeros(4, np.int64)), "labels"),
    ("huge", _npy(np.array([[1.0, 2.0], [3.0, 4e20]])), "too large"),
    ("huge-int", _npy(np.array([[1, 2], [3, -(2 ** 62)]], np.int64)), "too large"),
    ("standardized-not-finite", _nonfinite_after_standardize, "too large for float32"),
    ("folder-mixed-sizes", _folder(("a.png", GRAY), ("b.png", np.zeros((9, 8), np.uint8))),
     "a.png is 8x8 but b.png is 8x9"),
    ("folder-gray-rgb", _folder(("a.png", GRAY), ("b.png", RGB)), "convert them all"),
    ("folder-png-cut-in-header", _png_cut_at(0.005), "b.png"),
    ("folder-png-cut-in-data", _png_cut_at(0.6), "b.png"),
    ("folder-not-an-image", _not_a_png, "fake.jpg"),
    ("folder-empty", _empty_folder, "no PNG/JPEG"),
    ("unknown-name", lambda tmp: "ring9", "unknown data 'ring9'"),
    ("missing-npy", lambda tmp: str(tmp / "nope.npy"), "does not exist"),
    ("not-data", lambda tmp: (tmp / "notes.txt").write_text("x") and str(tmp / "notes.txt"), ".npy/.npz"),
]


@pytest.mark.parametrize("make, match", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_data_error(tmp_path: Path, make, match: str) -> None:
    spec = make(tmp_path)
    raises_data_error(load, spec, match=match)


def test_names_and_dispatch(tmp_path: Path) -> None:
    assert data.NAMES == ("ring8", "grid25", "grid100", "synthetic1200", "digits", "fashion-mnist", "stacked-digits",
                          "stacked-fashion-mnist", "colour-shapes")
    np.save(tmp_path / "v.npy", np.ones((10, 3), np.float32))
    assert isinstance(load(tmp_path / "v.npy"), Dataset)  # a Path works as well as a str
