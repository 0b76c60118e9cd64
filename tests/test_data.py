"""Tests of shapley_nas_jax.data: sources, search split, augmentation and the batch stream.

No test downloads anything. The tfds path is tested two ways:

* ``tfds.testing.mock_data(policy=MockPolicy.USE_CODE)`` mocks ``tfds.data_source`` for the real
  dataset names (cifar10, imagenet2012, ...) without TensorFlow and without metadata files: the
  features come from the builder code, examples are random. (``USE_FILES`` needs metadata files that
  the pip package does not ship; ``AUTO`` falls back to ``USE_CODE``.) Its data sources support
  ``source[i]`` but not ``source.__getitems__`` (the mock binds the method without ``self`` in tfds
  4.9.10), which is one reason the loader reads records one by one.
* A tiny real builder prepared in a temporary directory in ArrayRecord format. Preparing needs no
  TensorFlow when examples yield ``PIL.Image`` objects (tfds then PNG-encodes them with Pillow), so
  this exercises the real read path: ArrayRecord files, example parsing and image decoding.
"""

from __future__ import annotations

import os
import pathlib
import tarfile

import numpy as np
import pytest
from PIL import Image

from shapley_nas_jax.data import (
    ArrayDataset,
    Augment,
    BatchStream,
    DataError,
    DatasetNotPreparedError,
    SubsetDataset,
    TfdsDataset,
    augment_batch,
    cutout,
    load_dataset,
    load_image_folder,
    normalize,
    random_crop,
    random_flip,
    search_split,
)


def _toy(n=60, h=8, w=8, c=3, classes=3, seed=0, name="toy"):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
    labels = np.arange(n) % classes
    return ArrayDataset(images, labels, num_classes=classes, name=name)


def _one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message, message
    return message


# --------------------------------------------------------------------------------------------------
# ArrayDataset, SubsetDataset, digits


def test_array_dataset_gathers_and_computes_stats():
    ds = _toy()
    images, labels = ds.get_batch([5, 0, 5])
    assert images.dtype == np.uint8 and images.shape == (3, 8, 8, 3)
    assert labels.dtype == np.int32 and labels.tolist() == [2, 0, 2]
    np.testing.assert_array_equal(images[1], ds.images[0])
    assert len(ds) == 60 and ds.num_classes == 3 and ds.image_shape == (8, 8, 3)
    x = ds.images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(ds.mean, x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(ds.std, x.std(0), rtol=1e-6)


def test_array_dataset_rejects_bad_inputs():
    with pytest.raises(DataError, match="uint8"):
        ArrayDataset(np.zeros((2, 4, 4, 1), np.float32), np.zeros(2, int))
    with pytest.raises(DataError, match="labels shape"):
        ArrayDataset(np.zeros((2, 4, 4, 1), np.uint8), np.zeros(3, int))
    with pytest.raises(DataError, match="outside"):
        ArrayDataset(np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 5]), num_classes=3)


def test_subset_views_collapse_and_forward():
    ds = _toy()
    sub = SubsetDataset(ds, [10, 20, 30, 40])
    subsub = SubsetDataset(sub, [3, 1])
    assert subsub.base is ds and subsub.indices.tolist() == [40, 20]
    images, labels = subsub.get_batch([0, 1])
    np.testing.assert_array_equal(images, ds.images[[40, 20]])
    assert subsub.mean == ds.mean and subsub.num_classes == 3 and subsub.image_shape == ds.image_shape
    with pytest.raises(DataError, match="out of range"):
        SubsetDataset(ds, [60])


def test_digits_embedded_default():
    train = load_dataset("digits")
    test = load_dataset("digits", split="test")
    assert (len(train), len(test)) == (1437, 360)
    assert train.image_shape == (8, 8, 1) and train.num_classes == 10
    images, labels = train.get_batch(np.arange(len(train)))
    assert images.dtype == np.uint8 and images.max() == 255 and images.min() == 0
    # Stratified: every class has 35-37 of the 360 test images.
    counts = np.bincount(test.get_batch(np.arange(len(test)))[1], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    # Fixed split and train statistics for both splits.
    assert train.mean == test.mean and train.std == test.std
    np.testing.assert_array_equal(load_dataset("digits").get_batch(np.arange(20))[0], images[:20])
    big = load_dataset("digits", image_size=16)
    assert big.image_shape == (16, 16, 1) and big.get_batch([0])[0].shape == (1, 16, 16, 1)
    with pytest.raises(DataError, match="splits"):
        load_dataset("digits", split="validation")


def test_unknown_dataset_name_lists_known_names():
    with pytest.raises(ValueError) as info:
        load_dataset("cifar11")
    message = _one_line(info)
    assert "cifar11" in message and "digits" in message and "folder:<path>" in message


# --------------------------------------------------------------------------------------------------
# Search split


def test_search_split_is_seeded_disjoint_and_complete():
    ds = _toy(n=101)
    train, value = search_split(ds, seed=3)
    assert (len(train), len(value)) == (50, 51)
    assert set(train.indices).isdisjoint(value.indices)
    assert sorted([*train.indices, *value.indices]) == list(range(101))
    again, _ = search_split(ds, seed=3)
    np.testing.assert_array_equal(train.indices, again.indices)
    other, _ = search_split(ds, seed=4)
    assert not np.array_equal(train.indices, other.indices)


def test_ordered_search_split_takes_the_first_half_for_weights_and_the_second_for_values():
    ds = _toy(n=101)
    train, value = search_split(ds, seed=3, ordered=True)  # the seed plays no part
    np.testing.assert_array_equal(train.indices, np.arange(50))
    np.testing.assert_array_equal(value.indices, np.arange(50, 101))
    train, value = search_split(ds, seed=0, train_fraction=0.1, value_fraction=0.2, ordered=True)
    np.testing.assert_array_equal(value.indices, np.arange(10, 30))


def test_search_split_fractions_like_imagenet():
    ds = _toy(n=400)
    train, value = search_split(ds, seed=0, train_fraction=0.1, value_fraction=0.025)
    assert (len(train), len(value)) == (40, 10)
    assert set(train.indices).isdisjoint(value.indices)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(train_fraction=0.0), "train_fraction"),
        (dict(train_fraction=1.0), "train_fraction"),
        (dict(train_fraction=0.5, value_fraction=0.6), "value_fraction"),
        (dict(train_fraction=0.5, value_fraction=0.0), "value_fraction"),
    ],
)
def test_search_split_rejects_bad_fractions(kwargs, match):
    with pytest.raises(DataError, match=match):
        search_split(_toy(), seed=0, **kwargs)


def test_search_split_rejects_empty_part():
    with pytest.raises(DataError) as info:
        search_split(_toy(n=3), seed=0, train_fraction=0.1)
    assert "3-image" in _one_line(info)


# --------------------------------------------------------------------------------------------------
# Augmentation


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    ds = _toy(n=16)
    rng = np.random.default_rng(0)
    out = random_crop(ds.images, rng, padding=2)
    assert out.shape == ds.images.shape and out.dtype == np.uint8
    padded = np.pad(ds.images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for b in range(16):
        windows = [padded[b, i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
        assert any(np.array_equal(out[b], w) for w in windows)
    assert random_crop(ds.images, rng, padding=0) is ds.images


def test_random_flip_mirrors_some_images():
    images = _toy(n=64).images
    out = random_flip(images, np.random.default_rng(1))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54


def test_cutout_zeroes_one_clipped_square():
    x = np.ones((32, 16, 16, 3), np.float32)
    out = cutout(x, np.random.default_rng(0), length=6)
    zeros = (out == 0).all(-1).sum(axis=(1, 2))
    assert zeros.max() == 36 and zeros.min() > 0  # whole squares inside, clipped ones at borders


def test_normalize_and_padding_scale():
    mean, std = (0.5, 0.25, 0.0), (0.5, 0.25, 1.0)
    out = normalize(np.array([[0, 255, 51]], np.uint8), mean, std)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[-1.0, 3.0, 0.2]], rtol=1e-6)
    assert [Augment().padding_for(h) for h in (32, 16, 8)] == [4, 2, 1]
    assert Augment(crop_padding=3).padding_for(32) == 3


def test_augment_batch_without_augmentation_only_normalizes():
    ds = _toy(n=4)
    out = augment_batch(ds.images, None, None, ds.mean, ds.std)
    np.testing.assert_allclose(out, normalize(ds.images, ds.mean, ds.std))


# --------------------------------------------------------------------------------------------------
# BatchStream


def _stream(n=50, batch=8, seed=7, **kwargs):
    return BatchStream(_toy(n=n), batch, seed, augment=Augment(cutout=2), **kwargs)


def test_batch_is_a_pure_function_of_seed_and_step():
    a, b = _stream(), _stream()
    for step in (0, 3, 6, 17, 100):
        x, y = a.batch(step), b.batch(step)
        assert x["image"].dtype == np.float32 and x["image"].shape == (8, 8, 8, 3)
        assert x["label"].dtype == np.int32 and x["label"].shape == (8,)
        assert x["image"].tobytes() == y["image"].tobytes()
        np.testing.assert_array_equal(x["label"], y["label"])
    assert not np.array_equal(a.batch(0)["image"], _stream(seed=8).batch(0)["image"])


def test_epochs_cover_the_data_and_reshuffle():
    stream = _stream(n=50, batch=8)
    assert stream.steps_per_epoch == 6
    epoch0 = np.concatenate([stream.indices(s) for s in range(6)])
    epoch1 = np.concatenate([stream.indices(s) for s in range(6, 12)])
    assert len(set(epoch0)) == 48 and len(set(epoch1)) == 48
    assert not np.array_equal(epoch0, epoch1)
    full = _stream(n=50, batch=8, drop_remainder=False)
    assert full.steps_per_epoch == 7
    assert len(full.batch(6)["label"]) == 2
    assert sorted(np.concatenate([full.indices(s) for s in range(7)])) == list(range(50))


def test_iterate_prefetches_and_resumes_byte_identically():
    stream = _stream()
    run = list(stream.iterate(0, 14))
    assert len(run) == 14
    for step, batch in enumerate(run):
        assert batch["image"].tobytes() == stream.batch(step)["image"].tobytes()
    resumed = list(_stream().iterate(start_step=9, num_steps=5))  # a fresh process resuming at step 9
    for a, b in zip(run[9:], resumed, strict=True):
        assert a["image"].tobytes() == b["image"].tobytes()
        assert a["label"].tobytes() == b["label"].tobytes()
    unthreaded = list(_stream(prefetch=0).iterate(9, 5))
    assert all(a["image"].tobytes() == b["image"].tobytes() for a, b in zip(resumed, unthreaded))


def test_iterate_stops_its_thread_and_reraises_errors():
    import threading

    stream = _stream()
    it = stream.iterate(0)  # endless
    next(it)
    it.close()
    assert not any(t.name == "shapley-nas-batches" and t.is_alive() for t in threading.enumerate())

    class Broken(ArrayDataset):
        def get_batch(self, indices):
            raise RuntimeError("disk on fire")

    toy = _toy()
    broken = BatchStream(Broken(toy.images, toy.labels), 8, 0)
    with pytest.raises(RuntimeError, match="disk on fire"):
        next(broken.iterate(0, 3))


def test_batch_larger_than_split_is_one_clear_line():
    train, _ = search_split(_toy(n=600), seed=0)
    with pytest.raises(DataError) as info:
        BatchStream(train, 512, 0)
    message = _one_line(info)
    assert "batch 512 is larger than the 300-image split" in message and "lower batch_size" in message


def test_value_batches_are_fresh_deterministic_and_stacked():
    stream = _stream(n=50, batch=8)
    v = stream.value_batches(update=5, num=4)
    assert v["image"].shape == (4, 8, 8, 8, 3) and v["label"].shape == (4, 8)
    again = _stream(n=50, batch=8).value_batches(update=5, num=4)
    assert v["image"].tobytes() == again["image"].tobytes()
    assert not np.array_equal(v["image"], stream.value_batches(update=6, num=4)["image"])
    assert not np.array_equal(v["image"][0], v["image"][1])
    assert stream.value_batches(update=5, num=2, batch_size=3)["image"].shape == (2, 3, 8, 8, 3)
    with pytest.raises(DataError, match="larger than"):
        stream.value_batches(0, 2, batch_size=51)


# --------------------------------------------------------------------------------------------------
# tfds


@pytest.fixture
def mock_tfds():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE):
        yield tfds


@pytest.mark.parametrize(
    "name, shape, classes",
    [
        ("cifar10", (32, 32, 3), 10),
        ("cifar100", (32, 32, 3), 100),
        ("svhn_cropped", (32, 32, 3), 10),
        ("imagenet_resized/16x16", (16, 16, 3), 1000),
    ],
)
def test_tfds_small_datasets_load_into_memory(mock_tfds, tmp_path, name, shape, classes):
    ds = load_dataset(name, split="train", data_dir=tmp_path)
    assert isinstance(ds, ArrayDataset) and len(ds) == 24
    assert ds.image_shape == shape and ds.num_classes == classes
    images, labels = ds.get_batch([0, 1, 2])
    assert images.dtype == np.uint8 and images.shape == (3, *shape)
    assert labels.dtype == np.int32 and (labels < classes).all()
    assert len(ds.mean) == 3
    batch = BatchStream(ds, 4, 0, augment=True).batch(0)
    assert batch["image"].shape == (4, *shape)


def test_tfds_cifar10_uses_published_statistics(mock_tfds, tmp_path):
    ds = load_dataset("cifar10", data_dir=tmp_path)
    np.testing.assert_allclose(ds.mean, (0.4914, 0.4822, 0.4465), atol=1e-4)


def test_tfds_imagenet_lazy_resizes_and_splits_without_copying(mock_tfds, tmp_path):
    # The mocked imagenet2012 images have random sizes, so every one goes through the resize.
    ds = load_dataset("imagenet2012", data_dir=tmp_path, image_size=32, in_memory=False)
    assert isinstance(ds, TfdsDataset) and ds.image_shape == (32, 32, 3) and ds.num_classes == 1000
    images, labels = ds.get_batch([3, 0, 7])
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int32
    train, value = search_split(ds, seed=0, train_fraction=0.5, value_fraction=0.25)
    assert train.base is ds and value.base is ds and (len(train), len(value)) == (12, 6)
    assert BatchStream(train, 4, 0).batch(1)["image"].shape == (4, 32, 32, 3)
    default = load_dataset("imagenet2012", split="test", data_dir=tmp_path, in_memory=False)
    assert default.image_shape == (224, 224, 3) and default.name == "imagenet2012:validation"


def test_tfds_imagenet16_120_keeps_first_120_classes(mock_tfds, tmp_path):
    ds = load_dataset("imagenet16_120", data_dir=tmp_path)
    assert ds.num_classes == 120 and ds.image_shape == (16, 16, 3)
    if len(ds):  # random mock labels over 1000 classes: usually a few of the 24 fall below 120
        assert (ds.get_batch(np.arange(len(ds)))[1] < 120).all()


def test_tfds_not_prepared_is_one_clear_line(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DatasetNotPreparedError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    message = _one_line(info)
    assert "'cifar10' is not prepared in" in message and str(tmp_path) in message
    assert "tfds build cifar10 --file_format=array_record" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.fixture(scope="module")
def prepared_tfds(tmp_path_factory):
    """A real 3-class ArrayRecord tfds dataset prepared without TensorFlow; returns (dir, images)."""
    tfds = pytest.importorskip("tensorflow_datasets")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 8, 8, 3), dtype=np.uint8)

    class ShapleyNasTestImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(8, 8, 3)), "label": tfds.features.ClassLabel(num_classes=3)}
            )
            return tfds.core.DatasetInfo(builder=self, features=features)

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(range(24)), "test": self._generate_examples(range(24, 30))}

        def _generate_examples(self, ids):
            for i in ids:  # PIL images: tfds encodes them with Pillow, no TensorFlow needed
                yield i, {"image": Image.fromarray(images[i]), "label": i % 3}

    data_dir = tmp_path_factory.mktemp("tfds")
    ShapleyNasTestImages(data_dir=data_dir, file_format="array_record").download_and_prepare()
    return data_dir, images


def test_tfds_real_array_record_roundtrip(prepared_tfds):
    data_dir, images = prepared_tfds
    name = "tfds:shapley_nas_test_images"
    eager = load_dataset(name, data_dir=data_dir)
    lazy = load_dataset(name, data_dir=data_dir, in_memory=False)
    assert isinstance(eager, ArrayDataset) and isinstance(lazy, TfdsDataset)
    assert len(eager) == len(lazy) == 24 and eager.num_classes == 3
    # tfds shuffles records on write; match them back through the (lossless PNG) pixels.
    got, labels = eager.get_batch(np.arange(24))
    lookup = {images[i].tobytes(): i for i in range(30)}
    ids = [lookup[g.tobytes()] for g in got]
    assert sorted(ids) == list(range(24)) and labels.tolist() == [i % 3 for i in ids]
    lazy_images, lazy_labels = lazy.get_batch([5, 2])
    np.testing.assert_array_equal(lazy_images, got[[5, 2]])
    np.testing.assert_array_equal(lazy_labels, labels[[5, 2]])
    assert np.allclose(lazy.mean, eager.mean)  # unknown datasets: statistics computed from the data
    assert len(load_dataset(name, split="test", data_dir=data_dir)) == 6
    assert len(load_dataset(name, split="train[:50%]", data_dir=data_dir)) == 12
    with pytest.raises(DataError) as info:
        load_dataset(name, split="validation", data_dir=data_dir)
    assert "Unknown split" in _one_line(info)


# --------------------------------------------------------------------------------------------------
# Image folders


def _write_folder(root: pathlib.Path, spec: dict, size=(6, 5), mode="RGB", seed=0):
    """Writes root/<split>/<class>/<i>.png; returns {split: {class: [arrays]}}."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, classes in spec.items():
        for cls, count in classes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
                array = rng.integers(0, 256, shape, dtype=np.uint8)
                Image.fromarray(array, mode).save(root / split / cls / f"{i:03d}.png")
                written.setdefault(split, {}).setdefault(cls, []).append(array)
    return written


def test_image_folder_loads_exact_pixels_with_sorted_classes(tmp_path):
    written = _write_folder(tmp_path, {"train": {"b_cat": 3, "a_dog": 2, "c_owl": 1}, "test": {"c_owl": 2}})
    ds = load_dataset(f"folder:{tmp_path}", num_workers=2)
    assert ds.class_names == ("a_dog", "b_cat", "c_owl") and ds.num_classes == 3
    assert len(ds) == 6 and ds.image_shape == (5, 6, 3)
    images, labels = ds.get_batch(np.arange(6))
    assert labels.tolist() == [0, 0, 1, 1, 1, 2]
    np.testing.assert_array_equal(images[2], written["train"]["b_cat"][0])
    # The test split keeps train's label numbering although it lacks two classes.
    test = load_image_folder(tmp_path, "test")
    assert test.get_batch([0, 1])[1].tolist() == [2, 2] and test.num_classes == 3


def test_image_folder_grayscale_and_resize(tmp_path):
    _write_folder(tmp_path, {"train": {"x": 2, "y": 2}}, size=(12, 12), mode="L")
    ds = load_image_folder(tmp_path, image_size=6)
    assert ds.image_shape == (6, 6, 1)
    assert BatchStream(ds, 2, 0, augment=Augment(flip=False)).batch(0)["image"].shape == (2, 6, 6, 1)


def test_image_folder_errors_are_one_line(tmp_path):
    def error(root, split="train", **kwargs):
        with pytest.raises(DataError) as info:
            load_image_folder(root, split, **kwargs)
        return _one_line(info)

    assert "does not exist" in error(tmp_path / "missing")

    _write_folder(tmp_path / "ok", {"train": {"a": 1, "b": 1}})
    message = error(tmp_path / "ok", "val")
    assert "no split 'val'" in message and "found: train" in message

    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "train" / "b").mkdir(parents=True)
    (tmp_path / "empty" / "train" / "a" / "notes.txt").write_text("not an image")
    assert "no .png/.jpg/.jpeg images" in error(tmp_path / "empty")

    _write_folder(tmp_path / "one", {"train": {"only": 3}})
    assert "at least 2" in error(tmp_path / "one")

    _write_folder(tmp_path / "oneimg", {"train": {"a": 2}})
    (tmp_path / "oneimg" / "train" / "b").mkdir()
    assert "only one class" in error(tmp_path / "oneimg")

    _write_folder(tmp_path / "mixed", {"train": {"a": 2, "b": 1}})
    Image.fromarray(np.zeros((7, 9, 3), np.uint8)).save(tmp_path / "mixed" / "train" / "b" / "big.png")
    message = error(tmp_path / "mixed")
    assert "big.png is 9x7" in message and "is 6x5" in message and "image_size" in message
    assert load_image_folder(tmp_path / "mixed", image_size=(4, 4)).image_shape == (4, 4, 3)

    _write_folder(tmp_path / "corrupt", {"train": {"a": 1, "b": 1}})
    (tmp_path / "corrupt" / "train" / "a" / "bad.jpg").write_bytes(b"not a jpeg")
    assert "cannot decode image" in error(tmp_path / "corrupt") and "bad.jpg" in error(tmp_path / "corrupt")

    _write_folder(tmp_path / "extra", {"train": {"a": 1, "b": 1}, "test": {"a": 1, "zebra": 1}})
    assert "zebra" in error(tmp_path / "extra", "test")


# --------------------------------------------------------------------------------------------------
# Optional: real CIFAR-10 images from the shared data folder


def _shared_cifar_archive() -> pathlib.Path | None:
    root = os.environ.get("SHAPLEY_NAS_SHARED_DATA")
    base = pathlib.Path(root) if root else pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    archive = base / "cifar10-images" / "cifar10-images.tar.gz"
    return archive if archive.is_file() else None


@pytest.mark.data
def test_shared_cifar10_image_folder(tmp_path):
    archive = _shared_cifar_archive()
    if archive is None:
        pytest.skip("shared CIFAR-10 archive not found (set SHAPLEY_NAS_SHARED_DATA or use ../shared/data)")
    per_class = {"train": 30, "test": 5}
    with tarfile.open(archive, "r|gz") as tar:  # streamed: extract only the first images of each class
        for member in tar:
            parts = pathlib.PurePosixPath(member.name).parts
            if (
                member.isfile()
                and len(parts) == 3
                and parts[0] in per_class
                and parts[2].endswith(".jpg")
                and int(parts[2][:-4]) < per_class[parts[0]]
            ):
                tar.extract(member, tmp_path, filter="data")
    train = load_dataset(f"folder:{tmp_path}", split="train")
    test = load_dataset(f"folder:{tmp_path}", split="test")
    assert (len(train), len(test)) == (300, 50)
    assert train.image_shape == (32, 32, 3) and train.num_classes == 10
    assert train.class_names[0] == "airplane" and train.class_names[-1] == "truck"
    assert np.allclose(train.mean, (0.49, 0.48, 0.45), atol=0.06)  # close to CIFAR-10's statistics
    images, labels = train.get_batch(np.arange(300))
    assert np.bincount(labels).tolist() == [30] * 10
    batch = BatchStream(train, 64, 0, augment=True).batch(0)
    assert batch["image"].shape == (64, 32, 32, 3) and np.isfinite(batch["image"]).all()


def test_resized_crop_boxes_follow_torchvisions_random_resized_crop():
    from shapley_nas_jax.data import resized_crop_boxes

    boxes = resized_crop_boxes(np.random.default_rng(0), 2000, 224, 224)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 224).all() and (left + w <= 224).all()
    area = h * w / 224**2
    assert area.min() >= 0.075 and area.max() <= 1.0 and np.median(area) == pytest.approx(0.54, abs=0.08)
    aspect = w / h
    assert aspect.min() >= 0.74 and aspect.max() <= 1.36
    # a tall image whose ratio lies outside 3/4-4/3 falls back to a centred crop with the ratio clamped
    fallback = resized_crop_boxes(np.random.default_rng(0), 1, 40, 4, scale=(0.99, 1.0))
    np.testing.assert_array_equal(fallback[0], [(40 - 5) // 2, 0, 5, 4])


def test_random_resized_crop_keeps_the_shape_and_is_a_pure_function_of_the_rng():
    from shapley_nas_jax.data import Augment, augment_batch, random_resized_crop

    images = np.random.default_rng(1).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    out = random_resized_crop(images, np.random.default_rng(2))
    assert out.shape == images.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, random_resized_crop(images, np.random.default_rng(2)))
    assert not np.array_equal(out, images)
    flat = np.full((2, 16, 16, 1), 77, np.uint8)  # a constant image stays constant whatever the box
    np.testing.assert_array_equal(random_resized_crop(flat, np.random.default_rng(3)), flat)
    augmented = augment_batch(images, np.random.default_rng(4), Augment(resized_crop=True, flip=False),
                              mean=(0.0,) * 3, std=(1.0,) * 3)
    np.testing.assert_allclose(augmented * 255, random_resized_crop(images, np.random.default_rng(4)), atol=1e-3)


def test_resizing_scales_the_shorter_side_and_centre_crops_the_rest():
    from shapley_nas_jax.data.images import as_size, resize_batch

    assert as_size(None) is None and as_size(8) == (8, 8) and as_size((4, 6)) == (4, 6)
    with pytest.raises(DataError, match="image_size must be a positive int or"):
        as_size((0, 4))
    wide = np.zeros((2, 4, 8, 1), np.uint8)
    wide[:, :, 2:6] = 255  # the centre half of every row: what a centre crop to 4x4 keeps
    square = resize_batch(wide, (4, 4))
    assert square.shape == (2, 4, 4, 1) and square.dtype == np.uint8 and (square == 255).all()
    assert resize_batch(wide, None) is wide and resize_batch(wide, (4, 8)) is wide
    colour = resize_batch(np.full((1, 8, 8, 3), 7, np.uint8), (4, 4))
    assert colour.shape == (1, 4, 4, 3) and (colour == 7).all()
