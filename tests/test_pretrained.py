"""The course's pretrained models load, match their cards, fail clearly (course_lib.pretrained)."""

import course_lib  # noqa: F401 - first: loads Triton before TensorFlow, quiets TF's logs

import json
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from course_lib import pretrained
from course_lib.shapes import SOURCE_CLASSES, TARGET_CLASSES

MODELS = [(name, framework) for name in ("shapes_resnet", "shapes_vgg")
          for framework in ("torch", "keras")]
# Re-evaluating the committed weights: the same network on the same images, so only float
# rounding in inference differs between machines (half a point is 5 of the 1,000 images).
EVALUATION_TOLERANCE = 0.005
MAX_FILE_BYTES = 5 * 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def test_data():
    return pretrained.source_task_data("test")


def test_available_models_are_the_two_documented_names():
    assert pretrained.available_models() == ["shapes_resnet", "shapes_vgg"]


@pytest.mark.parametrize(("name", "framework"), MODELS)
def test_pretrained_model_reproduces_its_card_accuracy(name, framework, test_data):
    card = pretrained.model_card(name, framework)
    model = pretrained.load_pretrained(name, framework)
    if framework == "torch":
        assert not model.training  # returned in eval mode
    measured = pretrained.accuracy(model, test_data, framework)
    assert abs(measured - card["test_accuracy"]) <= EVALUATION_TOLERANCE, (
        f"{name} ({framework}): card says {card['test_accuracy']}, measured {measured}")
    assert card["test_accuracy"] >= 0.9  # a useful source model for Chapter 8


@pytest.mark.parametrize(("name", "framework"), MODELS)
def test_card_documents_the_file_its_hash_and_its_data(name, framework):
    card = pretrained.model_card(name, framework)
    path = pretrained.weights_path(name, framework)
    assert card["file"] == path.name
    assert card["sha256"] == pretrained.file_sha256(path)
    assert card["file_bytes"] == path.stat().st_size < MAX_FILE_BYTES
    assert card["data"]["classes"] == list(SOURCE_CLASSES)
    assert not set(card["data"]["classes"]) & set(TARGET_CLASSES)
    for key in ("seed", "command", "epochs", "train_seconds", "num_params", "val_accuracy"):
        assert key in card


def test_weights_readme_lists_every_model():
    text = (pretrained.WEIGHTS_DIR / "README.md").read_text()
    for name, framework in MODELS:
        assert pretrained.model_card(name, framework)["sha256"][:16] in text


def test_source_task_splits_are_balanced_seeded_and_disjoint():
    val = pretrained.source_task_data("val", n_per_class=8)
    test = pretrained.source_task_data("test", n_per_class=8)
    assert val.images.shape == (80, 32, 32, 3) and val.images.dtype == np.uint8
    assert np.bincount(val.labels).tolist() == [8] * 10
    np.testing.assert_array_equal(pretrained.source_task_data("val", n_per_class=8).images,
                                  val.images)
    flat_val = {image.tobytes() for image in val.images}
    assert not any(image.tobytes() in flat_val for image in test.images)


def test_as_inputs_gives_each_frameworks_layout_in_unit_range():
    images = np.full((2, 32, 32, 3), 255, dtype=np.uint8)
    x = pretrained.as_inputs(images, "torch")
    assert tuple(x.shape) == (2, 3, 32, 32) and float(x.max()) == 1.0
    x = pretrained.as_inputs(images, "keras")
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.float32
    with pytest.raises(ValueError, match="uint8"):
        pretrained.as_inputs(images.astype(np.float32), "torch")


@pytest.mark.parametrize(("call", "match"), [
    (lambda: pretrained.load_pretrained("shapes_vgg16"), "unknown model"),
    (lambda: pretrained.load_pretrained("shapes_vgg", framework="jax"), "framework"),
    (lambda: pretrained.model_card("resnet"), "unknown model"),
    (lambda: pretrained.source_task_data("dev"), "split"),
    (lambda: pretrained.source_task_data("train", n_per_class=10), "multiple of 4"),
    (lambda: pretrained.imagenet_model("resnet_18", "torch"), "no model"),
])
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_corrupted_or_missing_weights_raise_clear_errors(tmp_path):
    for path in (pretrained.weights_path("shapes_vgg"), pretrained.card_path("shapes_vgg")):
        shutil.copy(path, tmp_path)
    weights = pretrained.weights_path("shapes_vgg", weights_dir=tmp_path)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        pretrained.load_pretrained("shapes_vgg", weights_dir=tmp_path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="pretrain.py"):
        pretrained.load_pretrained("shapes_vgg", weights_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="model card"):
        pretrained.load_pretrained("shapes_resnet", weights_dir=tmp_path)


def test_imagenet_model_offline_points_to_load_pretrained(monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    with pytest.raises(RuntimeError, match="load_pretrained"):
        pretrained.imagenet_model("resnet18", "torch")


def test_reproduction_tolerance_is_three_binomial_standard_errors_of_a_difference():
    assert pretrained.reproduction_tolerance(0.982, 1000) == pytest.approx(
        3 * np.sqrt(2 * 0.982 * 0.018 / 1000))
    assert pretrained.reproduction_tolerance(1.0, 1000) == 0.0
    assert pretrained.reproduction_tolerance(0.5, 100) > pretrained.reproduction_tolerance(
        0.5, 10_000)
    for bad in [(1.2, 100), (0.9, 0), (0.9, 10.0)]:
        with pytest.raises(ValueError):
            pretrained.reproduction_tolerance(*bad)


@pytest.mark.parametrize(("name", "framework"), MODELS)
def test_card_states_its_reproduction_tolerance(name, framework):
    card = pretrained.model_card(name, framework)
    n = card["data"]["splits"]["test"]["images"]
    assert card["reproduction_tolerance"] == round(
        pretrained.reproduction_tolerance(card["test_accuracy"], n), 4)


@pytest.mark.slow
def test_pretrain_script_regenerates_vgg_torch_within_tolerance(tmp_path):
    # Trains one model from scratch (a few CPU minutes). Same seed, same machine: the same
    # weights; another processor sums in another order (see reproduction_tolerance), so the
    # regenerated accuracy must lie within the card's stated binomial tolerance.
    card = pretrained.model_card("shapes_vgg", "torch")
    subprocess.run([sys.executable, "scripts/pretrain.py", "--model", "shapes_vgg",
                    "--framework", "torch", "--epochs", str(card["epochs"]),
                    "--out", str(tmp_path)], cwd=REPO_ROOT, check=True, capture_output=True)
    new_card = json.loads(pretrained.card_path("shapes_vgg", "torch",
                                               weights_dir=tmp_path).read_text())
    tolerance = card["reproduction_tolerance"]
    assert abs(new_card["test_accuracy"] - card["test_accuracy"]) <= tolerance, (
        f"card {card['test_accuracy']}, regenerated {new_card['test_accuracy']}: more than "
        f"{tolerance} (3 binomial standard errors of a difference on "
        f"{card['data']['splits']['test']['images']} test images) apart")
    assert new_card["reproduction_tolerance"] == round(
        pretrained.reproduction_tolerance(new_card["test_accuracy"], 1000), 4)
