import pytest
import torch
from torch import nn

from course_lib.data import digits_torch_loaders
from course_lib.device import set_seed
from course_lib.plot import plot_learning_curves
from course_lib.train import evaluate, fit, uses_amp


def _model():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def test_fit_learns_digits_and_records_history():
    set_seed(0)
    loaders = digits_torch_loaders(batch_size=64)
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  num_epochs=5, val_loader=loaders["val"])
    assert set(history) == {"loss", "accuracy", "lr", "val_loss", "val_accuracy"}
    assert all(len(values) == 5 for values in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.85
    plot_learning_curves(history)


def test_evaluate_matches_a_manual_computation():
    set_seed(0)
    loader = digits_torch_loaders(batch_size=50)["test"]
    model = _model()
    loss_fn = nn.CrossEntropyLoss()
    loss, accuracy = evaluate(model, loader, loss_fn)
    inputs = torch.cat([x for x, _ in loader])
    labels = torch.cat([y for _, y in loader])
    with torch.no_grad():
        logits = model(inputs)
    assert loss == pytest.approx(loss_fn(logits, labels).item(), rel=1e-5)
    assert accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())


def test_fit_steps_schedulers_once_per_epoch():
    set_seed(0)
    loaders = digits_torch_loaders(batch_size=256)
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    step = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  num_epochs=3, scheduler=step)
    assert history["lr"] == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("with_validation", [True, False])
def test_fit_steps_reduce_on_plateau_with_the_monitored_loss(with_validation):
    loaders = digits_torch_loaders(batch_size=256)
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    seen = []
    original_step = plateau.step
    plateau.step = lambda metric: seen.append(metric) or original_step(metric)
    history = fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  num_epochs=3, val_loader=loaders["val"] if with_validation else None,
                  scheduler=plateau)
    assert seen == history["val_loss" if with_validation else "loss"]


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_fit_rejects_bad_epoch_counts(bad):
    model = _model()
    with pytest.raises(ValueError, match="num_epochs"):
        fit(model, [], loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), num_epochs=bad)


def test_empty_loaders_raise():
    model = _model()
    with pytest.raises(ValueError, match="no samples"):
        evaluate(model, [], nn.CrossEntropyLoss())


def test_fit_continues_a_history_without_modifying_it():
    set_seed(0)
    loaders = digits_torch_loaders(batch_size=256)
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                num_epochs=2)
    saved = {key: list(values) for key, values in first.items()}
    both = fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
               num_epochs=4, initial_epoch=2, history=first)
    assert first == saved
    assert all(len(values) == 4 for values in both.values())
    assert all(both[key][:2] == first[key] for key in first)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_epochs": 3, "initial_epoch": 3}, "greater than initial_epoch"),
    ({"num_epochs": 3, "initial_epoch": -1}, "initial_epoch"),
    ({"num_epochs": 3, "initial_epoch": 1}, "history"),
    ({"num_epochs": 3, "initial_epoch": 1, "history": {"loss": [1.0]}}, "keys"),
    ({"num_epochs": 3, "initial_epoch": 2,
      "history": {"loss": [1.0], "accuracy": [0.5], "lr": [0.1]}}, "must match"),
])
def test_fit_rejects_inconsistent_resume_arguments(kwargs, message):
    model = _model()
    with pytest.raises(ValueError, match=message):
        fit(model, [], loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_fit_rejects_objects_that_are_not_callbacks():
    model = _model()
    with pytest.raises(TypeError, match="callbacks"):
        fit(model, [], loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), num_epochs=1,
            callbacks=[print])


def test_fit_progress_bar_shows_the_last_losses(capsys):
    loaders = digits_torch_loaders(batch_size=256)
    model = _model()
    fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), num_epochs=2,
        val_loader=loaders["val"], progress=True)
    bar = capsys.readouterr().err
    assert "epochs" in bar and "val_loss=" in bar


def _fit_digits(device, *, amp: bool, num_epochs: int = 3, dtypes: list | None = None):
    """Seeded digits training on ``device``: (history, first-layer weight on the CPU).

    ``dtypes``, if given, collects the dtype of the first linear layer's output in every
    forward pass (what autocast really ran).
    """
    set_seed(0)
    loaders = digits_torch_loaders(batch_size=64)
    model = _model().to(device)
    if dtypes is not None:
        model[1].register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(),
                  optimizer=optimizer, num_epochs=num_epochs,
                  val_loader=loaders["val"], device=device, amp=amp)
    return history, model[1].weight.detach().cpu()


def test_amp_is_a_no_op_on_the_cpu():
    dtypes = []
    plain_history, plain_weight = _fit_digits("cpu", amp=False)
    amp_history, amp_weight = _fit_digits("cpu", amp=True, dtypes=dtypes)
    assert amp_history == plain_history  # bit for bit: no autocast, no loss scaling
    assert torch.equal(amp_weight, plain_weight)
    assert set(dtypes) == {torch.float32}
    assert not uses_amp("cpu", True) and not uses_amp("cuda", False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_amp_trains_in_float16_on_cuda():
    amp_dtypes, plain_dtypes = [], []
    amp_history, _ = _fit_digits("cuda", amp=True, num_epochs=5, dtypes=amp_dtypes)
    plain_history, _ = _fit_digits("cuda", amp=False, num_epochs=5, dtypes=plain_dtypes)
    assert set(amp_dtypes) == {torch.float16} and set(plain_dtypes) == {torch.float32}
    assert amp_history["val_accuracy"][-1] > 0.85
    assert abs(amp_history["val_accuracy"][-1]
               - plain_history["val_accuracy"][-1]) <= 0.03
