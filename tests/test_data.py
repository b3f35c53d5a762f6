import numpy as np
import pytest

from course_lib import data


@pytest.mark.parametrize("name, truth", [("and", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1]),
                                         ("xor", [0, 1, 1, 0]), ("nand", [1, 1, 1, 0])])
def test_logic_gate_truth_tables(name, truth):
    x, y = data.logic_gate(name)
    assert x.shape == (4, 2) and x.dtype == np.float64
    np.testing.assert_array_equal(x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, truth)
    assert y.dtype == np.int64


def test_logic_gate_rejects_unknown_gate_with_choices():
    with pytest.raises(ValueError, match="choose one of"):
        data.logic_gate("xnor3")
    with pytest.raises(TypeError):
        data.logic_gate(3)


@pytest.mark.parametrize("name", data.TOY_SETS)
@pytest.mark.parametrize("n_samples", [4, 101, 200])
def test_make_toy_2d_shapes_labels_and_repeatability(name, n_samples):
    x, y = data.make_toy_2d(name, n_samples, seed=3)
    assert x.shape == (n_samples, 2) and y.shape == (n_samples,)
    assert set(np.unique(y)) <= {0, 1}
    x2, y2 = data.make_toy_2d(name, n_samples, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_make_toy_2d_classes_are_balanced():
    for name in data.TOY_SETS:
        _, y = data.make_toy_2d(name, 200)
        assert abs(int(y.sum()) - 100) <= 1, name


def test_blobs_are_linearly_separable_but_xor_is_not():
    from sklearn.linear_model import Perceptron

    x, y = data.make_toy_2d("blobs", 200, noise=0.0)
    assert Perceptron(max_iter=100, random_state=0).fit(x, y).score(x, y) == 1.0
    x, y = data.make_toy_2d("xor", 200, noise=0.05)
    assert Perceptron(max_iter=100, random_state=0).fit(x, y).score(x, y) < 0.9


@pytest.mark.parametrize("kwargs, error", [
    (dict(name="circles"), ValueError),
    (dict(name="moons", n_samples=3), ValueError),
    (dict(name="moons", n_samples=10.0), TypeError),
    (dict(name="moons", noise=-0.1), ValueError),
])
def test_make_toy_2d_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        data.make_toy_2d(**kwargs)


def test_digits_splits_are_fixed_disjoint_and_stratified():
    splits = data.load_digits_splits()
    sizes = [len(splits.y_train), len(splits.y_val), len(splits.y_test)]
    assert sum(sizes) == 1797
    assert sizes == [1257, 270, 270]
    rows = {tuple(row) for part in (splits.x_train, splits.x_val, splits.x_test) for row in part}
    assert len(rows) >= 1790  # a handful of digits are exact duplicates in the source data
    for labels in (splits.y_train, splits.y_val, splits.y_test):
        counts = np.bincount(labels, minlength=10)
        assert counts.min() >= 0.08 * len(labels)
    again = data.load_digits_splits()
    np.testing.assert_array_equal(splits.x_test, again.x_test)
    assert splits.x_train.dtype == np.float32 and splits.y_train.dtype == np.int64
    assert 0.0 <= splits.x_train.min() and splits.x_train.max() == 1.0


@pytest.mark.parametrize("image_shape, shape", [("flat", (64,)), ("nchw", (1, 8, 8)),
                                                ("nhwc", (8, 8, 1))])
def test_digits_image_shapes(image_shape, shape):
    splits = data.load_digits_splits(image_shape=image_shape)
    assert splits.x_val.shape[1:] == shape


@pytest.mark.parametrize("kwargs", [dict(val_size=0), dict(test_size=1.2),
                                    dict(val_size=0.5, test_size=0.5), dict(image_shape="hwc")])
def test_digits_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        data.load_digits_splits(**kwargs)


def test_digits_torch_loaders_cover_each_split_once():
    import torch

    loaders = data.digits_torch_loaders(batch_size=100)
    splits = data.load_digits_splits(image_shape="nchw")
    images, labels = next(iter(loaders["test"]))
    assert images.shape == (100, 1, 8, 8) and images.dtype == torch.float32
    torch.testing.assert_close(images, torch.from_numpy(splits.x_test[:100]))
    seen = torch.cat([y for _, y in loaders["train"]])
    assert sorted(seen.tolist()) == sorted(splits.y_train.tolist())
    first = [y.tolist() for _, y in data.digits_torch_loaders(batch_size=100)["train"]]
    assert first == [y.tolist() for _, y in data.digits_torch_loaders(batch_size=100)["train"]]


def test_digits_tf_datasets_batches_and_shapes():
    pytest.importorskip("tensorflow")
    datasets = data.digits_tf_datasets(batch_size=32)
    images, labels = next(iter(datasets["val"]))
    assert tuple(images.shape) == (32, 8, 8, 1)
    total = sum(int(y.shape[0]) for _, y in datasets["train"])
    assert total == 1257


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_loaders_reject_bad_batch_size(bad):
    with pytest.raises((ValueError, TypeError)):
        data.digits_torch_loaders(batch_size=bad)


@pytest.mark.parametrize("name", data.SAMPLE_PHOTOS)
def test_sample_photos_are_rgb_uint8(name):
    photo = data.load_sample_photo(name)
    assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8
    assert photo.shape[:2] == (427, 640)


def test_sample_photo_rejects_unknown_name():
    with pytest.raises(ValueError, match="china.jpg"):
        data.load_sample_photo("cat.jpg")
