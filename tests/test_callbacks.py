import pytest
import torch
from torch import nn

from course_lib.callbacks import Callback, EarlyStopping, ModelCheckpoint, load_checkpoint
from course_lib.data import digits_torch_loaders
from course_lib.device import set_seed
from course_lib.train import evaluate, fit

# Scripted validation losses: (sequence, patience, min_delta) -> Keras' behaviour is the oracle.
SCRIPTS = [
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9], 2, 0.0),
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9], 3, 0.0),
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9], 0, 0.0),
    ([1.0, 0.95, 0.93, 0.92, 0.91, 0.90], 2, 0.02),
    ([1.0, 0.9, 0.8, 0.7], 1, 0.0),
    ([0.5, 0.5, 0.5, 0.5], 2, 0.0),
]


def _model():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def _replay(callback, values, key="val_loss", model=None, weights_per_epoch=False):
    """Feed a scripted history to a callback; return the epoch after which it asked to stop."""
    model = model if model is not None else _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    callback.on_train_begin(model)
    history = {key: []}
    stopped_at = None
    for epoch, value in enumerate(values):
        if weights_per_epoch:  # make each epoch's weights recognisable: every entry == epoch
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.fill_(epoch)
        history[key].append(value)
        if callback.on_epoch_end(epoch, history, model=model, optimizer=optimizer):
            stopped_at = epoch
            break
    callback.on_train_end(model)
    return stopped_at


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    stopping = EarlyStopping(patience=2)
    stopped_at = _replay(stopping, [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9])
    assert (stopped_at, stopping.stopped_epoch, stopping.best_epoch) == (4, 4, 2)
    assert stopping.best == 0.7


def test_early_stopping_min_delta_ignores_tiny_improvements():
    stopping = EarlyStopping(patience=2, min_delta=0.05)
    assert _replay(stopping, [1.0, 0.97, 0.96, 0.5]) == 2
    assert stopping.best == 1.0 and stopping.best_epoch == 0


def test_early_stopping_mode_max_and_auto_for_accuracy():
    values = [0.5, 0.7, 0.6, 0.65, 0.8]
    stopping = EarlyStopping("val_accuracy", patience=2)  # auto -> max
    assert _replay(stopping, values, key="val_accuracy") == 3
    assert stopping.best == 0.7
    explicit = EarlyStopping("val_accuracy", patience=2, mode="max")
    assert _replay(explicit, values, key="val_accuracy") == 3


def test_early_stopping_never_stops_while_improving():
    stopping = EarlyStopping(patience=0)
    assert _replay(stopping, [3.0, 2.0, 1.0, 0.5]) is None
    assert stopping.stopped_epoch is None and stopping.best_epoch == 3


def test_early_stopping_is_reset_by_on_train_begin():
    stopping = EarlyStopping(patience=1)
    _replay(stopping, [1.0, 2.0, 3.0])
    assert _replay(stopping, [5.0, 4.0, 3.0]) is None
    assert stopping.best == 3.0


def test_restore_best_weights_restores_the_best_epochs_weights():
    model = _model()
    stopping = EarlyStopping(patience=2, restore_best_weights=True)
    _replay(stopping, [1.0, 0.8, 0.7, 0.75, 0.72], model=model, weights_per_epoch=True)
    assert all(torch.equal(p, torch.full_like(p, 2.0)) for p in model.parameters())


def test_without_restore_best_weights_the_last_weights_stay():
    model = _model()
    _replay(EarlyStopping(patience=2), [1.0, 0.8, 0.7, 0.75, 0.72], model=model,
            weights_per_epoch=True)
    assert all(torch.equal(p, torch.full_like(p, 4.0)) for p in model.parameters())


def test_restore_best_weights_inside_fit_gives_back_the_best_validation_loss():
    set_seed(0)
    loaders = digits_torch_loaders(batch_size=32)
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=2.0)  # too large: val_loss jumps around
    loss_fn = nn.CrossEntropyLoss()
    stopping = EarlyStopping(patience=2, restore_best_weights=True)
    history = fit(model, loaders["train"], loss_fn=loss_fn, optimizer=optimizer, num_epochs=8,
                  val_loader=loaders["val"], callbacks=[stopping])
    best = min(history["val_loss"])
    assert history["val_loss"][-1] != best, "the scripted run should end on a worse epoch"
    assert stopping.best == best and history["val_loss"][stopping.best_epoch] == best
    assert evaluate(model, loaders["val"], loss_fn)[0] == pytest.approx(best, rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("values, patience, min_delta", SCRIPTS)
def test_early_stopping_agrees_with_keras(values, patience, min_delta):
    keras = pytest.importorskip("keras")
    reference = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                              min_delta=min_delta, mode="min")
    keras_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    keras_model.stop_training = False  # model.fit sets this before calling the callbacks
    reference.set_model(keras_model)
    reference.on_train_begin()
    keras_stop = None
    for epoch, value in enumerate(values):
        reference.on_epoch_end(epoch, {"val_loss": value})
        if reference.model.stop_training:
            keras_stop = epoch
            break
    ours = EarlyStopping(patience=patience, min_delta=min_delta)
    assert _replay(ours, values) == keras_stop
    assert (ours.best, ours.best_epoch) == (pytest.approx(float(reference.best)),
                                            reference.best_epoch)


def test_model_checkpoint_save_best_only_writes_only_on_improvement(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.pt")
    _replay(checkpoint, [1.0, 0.8, 0.9, 0.7, 0.7, 0.75])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-01.pt", "ckpt-02.pt",
                                                          "ckpt-04.pt"]
    assert checkpoint.saved_epochs == [0, 1, 3] and checkpoint.best == 0.7
    info = load_checkpoint(tmp_path / "ckpt-04.pt", _model())
    assert info["epoch"] == 4 and info["best"] == 0.7
    assert info["history"] == {"val_loss": [1.0, 0.8, 0.9, 0.7]}


def test_model_checkpoint_every_epoch_overwrites_one_file(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "last.pt", save_best_only=False)
    _replay(checkpoint, [1.0, 0.8, 0.9])
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert checkpoint.saved_epochs == [0, 1, 2]
    assert load_checkpoint(tmp_path / "last.pt", _model())["epoch"] == 3


def test_checkpoint_restores_model_optimizer_and_scheduler(tmp_path):
    set_seed(0)
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    model(torch.rand(4, 1, 8, 8)).sum().backward()
    optimizer.step()
    scheduler.step()
    ModelCheckpoint(tmp_path / "c.pt").on_epoch_end(
        0, {"val_loss": [1.0]}, model=model, optimizer=optimizer, scheduler=scheduler)
    other = _model()
    other_optimizer = torch.optim.Adam(other.parameters(), lr=0.01)
    other_scheduler = torch.optim.lr_scheduler.StepLR(other_optimizer, step_size=1, gamma=0.5)
    load_checkpoint(tmp_path / "c.pt", other, other_optimizer, other_scheduler)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters()))
    assert other_optimizer.param_groups[0]["lr"] == 0.005
    assert other_scheduler.state_dict() == scheduler.state_dict()
    state, other_state = optimizer.state_dict()["state"], other_optimizer.state_dict()["state"]
    assert all(torch.equal(state[0][k], other_state[0][k]) for k in ("exp_avg", "exp_avg_sq"))


def _dropout_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(32, 10))


def test_resuming_from_a_checkpoint_repeats_the_uninterrupted_run(tmp_path):
    """Shuffling, dropout, Adam's moments and the scheduler all continue where they stopped."""
    def run(num_epochs, resume_from=None):
        set_seed(0)
        loaders = digits_torch_loaders(batch_size=64)
        model = _dropout_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5,
                                                               patience=0)
        start, history = 0, None
        if resume_from is not None:
            info = load_checkpoint(resume_from, model, optimizer, scheduler,
                                   train_loader=loaders["train"])
            start, history = info["epoch"], info["history"]
        saver = ModelCheckpoint(tmp_path / "epoch-{epoch}.pt", save_best_only=False)
        return fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                   num_epochs=num_epochs, val_loader=loaders["val"], scheduler=scheduler,
                   callbacks=[saver], initial_epoch=start, history=history)

    uninterrupted = run(6)
    resumed = run(6, resume_from=tmp_path / "epoch-3.pt")
    assert resumed == uninterrupted


def test_fit_stops_when_a_callback_asks_and_calls_every_hook():
    class StopAfter(Callback):
        def __init__(self):
            self.calls = []

        def on_train_begin(self, model):
            self.calls.append("begin")

        def on_epoch_end(self, epoch, history, **context):
            self.calls.append(epoch)
            return epoch == 1

        def on_train_end(self, model):
            self.calls.append("end")

    loaders = digits_torch_loaders(batch_size=256)
    model = _model()
    watcher, stopper = Callback(), StopAfter()
    history = fit(model, loaders["train"], loss_fn=nn.CrossEntropyLoss(),
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), num_epochs=5,
                  callbacks=[stopper, watcher])
    assert stopper.calls == ["begin", 0, 1, "end"]
    assert len(history["loss"]) == 2


@pytest.mark.parametrize("kwargs", [
    {"patience": -1}, {"patience": 1.5}, {"patience": True}, {"min_delta": -0.1},
    {"mode": "bigger"}, {"monitor": "val_f1"},
])
def test_early_stopping_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        EarlyStopping(**kwargs)


def test_callbacks_reject_bad_arguments_and_missing_keys(tmp_path):
    with pytest.raises(TypeError, match="path"):
        ModelCheckpoint(3)
    with pytest.raises(ValueError, match="mode"):
        ModelCheckpoint(tmp_path / "c.pt", mode="up")
    with pytest.raises(TypeError, match="monitor"):
        EarlyStopping(monitor=None)
    with pytest.raises(ValueError, match="val_loss"):
        _replay(EarlyStopping(), [1.0], key="loss")
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", _model())


def test_load_checkpoint_refuses_a_scheduler_it_has_no_state_for(tmp_path):
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ModelCheckpoint(tmp_path / "c.pt").on_epoch_end(0, {"val_loss": [1.0]}, model=model,
                                                    optimizer=optimizer)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    with pytest.raises(ValueError, match="scheduler"):
        load_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler)
