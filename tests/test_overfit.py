import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.overfit import (
    OverfitConfig,
    build_mlp,
    l1_norm,
    make_optimizer,
    make_overfit_data,
    run_overfit,
    train_overfit,
)


@pytest.fixture(scope="module")
def data():
    return make_overfit_data(n_per_class=5, label_noise=0.2, seed=0)


def test_make_overfit_data_is_balanced_and_corrupts_the_stated_fraction(data):
    assert data.x_train.shape == (50, 1, 8, 8) and data.x_train.dtype == np.float32
    assert np.bincount(data.y_train_clean, minlength=10).tolist() == [5] * 10
    assert data.noisy_mask.sum() == 10                       # 20 % of 50, never the true class
    assert data.x_val.shape == (270, 1, 8, 8) and data.y_test.shape == (270,)


def test_make_overfit_data_is_reproducible_and_clean_without_noise():
    first, second = make_overfit_data(seed=3), make_overfit_data(seed=3)
    np.testing.assert_array_equal(first.y_train, second.y_train)
    assert not make_overfit_data(label_noise=0.0).noisy_mask.any()


@pytest.mark.parametrize("kwargs", [{"n_per_class": 0}, {"n_per_class": 200},
                                    {"label_noise": 1.0}, {"label_noise": -0.1}])
def test_make_overfit_data_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_overfit_data(**kwargs)


def test_build_mlp_places_batchnorm_before_relu_and_dropout_after():
    config = OverfitConfig(hidden_units=16, num_hidden=2, dropout=0.5, input_dropout=0.2,
                           batchnorm=True)
    kinds = [type(layer).__name__ for layer in build_mlp(config)]
    assert kinds == ["Flatten", "Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout",
                     "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert build_mlp(config)(torch.zeros(4, 1, 8, 8)).shape == (4, 10)


def test_default_model_has_many_more_weights_than_training_images():
    params = sum(p.numel() for p in build_mlp().parameters())
    assert params == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10


def test_make_optimizer_picks_coupled_or_decoupled_weight_decay():
    model = build_mlp(OverfitConfig(hidden_units=8))
    assert type(make_optimizer(model, OverfitConfig(optimizer="adam"))) is torch.optim.Adam
    assert type(make_optimizer(model, OverfitConfig(optimizer="adamw"))) is torch.optim.AdamW
    with pytest.raises(ValueError):
        make_optimizer(model, OverfitConfig(optimizer="lbfgs"))


def test_l1_norm_sums_weight_matrices_only():
    model = nn.Sequential(nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.fill_(-0.5)
        model[0].bias.fill_(10.0)
    assert l1_norm(model).item() == pytest.approx(3.0)


def test_train_overfit_records_per_epoch_history(data):
    config = OverfitConfig(hidden_units=16, num_epochs=3, batch_size=10, augment=True, l1=1e-4)
    torch.manual_seed(0)
    history = train_overfit(build_mlp(config), data, config, seed=0)
    assert all(len(history[k]) == 3 for k in ("loss", "accuracy", "val_loss", "val_accuracy"))
    assert history["epochs_run"] == [3]


@pytest.mark.slow
def test_early_stopping_stops_and_restores_the_best_weights(data):
    config = OverfitConfig(hidden_units=64, num_epochs=200, early_stopping_patience=3, lr=1e-2)
    torch.manual_seed(0)
    model = build_mlp(config)
    history = train_overfit(model, data, config, seed=0)
    epochs_run, best_epoch = history["epochs_run"][0], history["best_epoch"][0]
    assert epochs_run == best_epoch + 3 < 200
    x_val, y_val = torch.as_tensor(data.x_val), torch.as_tensor(data.y_val)
    model.eval()
    with torch.no_grad():
        val_loss = nn.functional.cross_entropy(model(x_val), y_val).item()
    assert val_loss == pytest.approx(min(history["val_loss"]), rel=1e-5)


@pytest.mark.slow
def test_run_overfit_is_reproducible_and_overfits(data):
    config = {"hidden_units": 64, "num_epochs": 40, "batch_size": 10, "lr": 1e-2}
    first = run_overfit(config, seed=1, data=data)
    assert first == run_overfit(dataclasses.replace(OverfitConfig(), **config), seed=1, data=data)
    assert first["train_accuracy"] == 1.0                     # memorizes the wrong labels too
    assert first["gap"] == pytest.approx(first["train_accuracy"] - first["val_accuracy"])
    assert first["gap"] > 0.15


def test_run_overfit_rejects_a_bad_config(data):
    with pytest.raises(TypeError):
        run_overfit([1, 2], seed=0, data=data)
