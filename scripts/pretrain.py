"""Pretrain the course's models on the shapes source task and write their weights and cards.

    .venv/bin/python scripts/pretrain.py                      # all four: 2 models x 2 frameworks
    .venv/bin/python scripts/pretrain.py --model shapes_vgg --framework torch --out /tmp/w

For each model and framework it trains the network of ``course_lib.blocks`` on
``course_lib.pretrained.source_task_data("train")`` (seeded, on the CPU by default), then writes
to ``--out`` (default ``course_lib/weights``):

- the weights: ``<name>.pt`` (a PyTorch ``state_dict``) or ``<name>.weights.h5`` (Keras 3);
- the model card ``<name>.<framework>.json`` (data, seed, command, epochs, time, accuracy on
  the ``"test"`` split, sha256 and size of the weights file);
- ``README.md``: a table of every card in the folder.

Same seed, same machine: the same weights and accuracies. Another processor (another vectorized
kernel, another summation order) or library version ends at different weights; each card states
the ``reproduction_tolerance`` a retrained model's test accuracy must meet (three binomial
standard errors of a difference: ``course_lib.pretrained.reproduction_tolerance``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing course_lib

import course_lib  # noqa: E402,F401 - first: prepares the TensorFlow import (see frameworks.py)
import numpy as np  # noqa: E402
from course_lib import pretrained  # noqa: E402
from course_lib.device import set_seed  # noqa: E402
from course_lib.shapes import BACKGROUNDS, SOURCE_CLASSES  # noqa: E402

SEED = 0
# Passes over the 4,000 training images, per model: enough for about 90 % test accuracy or more
# (the small ResNet costs half as much per epoch as the VGG but needs more epochs).
EPOCHS = {"shapes_vgg": 15, "shapes_resnet": 24}
BATCH_SIZE = 64        # images per gradient step
LEARNING_RATE = 3e-3   # Adam's initial step size, decayed to 0 by a per-epoch cosine schedule
THREADS = 1            # CPU threads per framework: the same summation order on every machine,
                       # and small 32x32 convolutions gain little from more threads


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = pretrained.available_models() if args.model == "all" else [args.model]
    frameworks = pretrained.FRAMEWORKS if args.framework == "all" else (args.framework,)
    data = {split: pretrained.source_task_data(split) for split in pretrained.SOURCE_SPLITS}
    command = " ".join(["python", "scripts/pretrain.py", *(argv if argv is not None
                                                          else sys.argv[1:])])
    for name in names:
        for framework in frameworks:
            epochs = args.epochs or EPOCHS[name]
            print(f"{name} ({framework}): training {epochs} epochs ...", flush=True)
            card = pretrain_one(name, framework, data, epochs=epochs, out=out,
                                device=args.device, command=command)
            print(f"  {card['train_seconds']:.0f} s wall ({card['train_cpu_seconds']:.0f} s "
                  f"CPU), test accuracy "
                  f"{100 * card['test_accuracy']:.1f} %, {card['file']} "
                  f"{card['file_bytes'] / 1024:.0f} KiB", flush=True)
    (out / "README.md").write_text(readme(out))
    return 0


def pretrain_one(name: str, framework: str, data: dict, *, epochs: int, out: Path,
                 device: str, command: str) -> dict:
    """Train one model, save its weights, write and return its model card."""
    train = train_torch if framework == "torch" else train_keras
    start, cpu_start = time.perf_counter(), time.process_time()
    model, history = train(name, data, epochs=epochs, device=device)
    seconds = (time.perf_counter() - start, time.process_time() - cpu_start)
    path = pretrained.weights_path(name, framework, weights_dir=out)
    if framework == "torch":
        import torch

        model = model.cpu().eval()
        torch.save(model.state_dict(), path)
    else:
        model.save_weights(path)
    card = _card(name, framework, model, history, data, epochs=epochs, seconds=seconds,
                 path=path, device=device, command=command)
    pretrained.card_path(name, framework, weights_dir=out).write_text(
        json.dumps(card, indent=2) + "\n")
    reloaded = pretrained.load_pretrained(name, framework, weights_dir=out)
    reloaded_accuracy = pretrained.accuracy(reloaded, data["test"], framework)
    if abs(reloaded_accuracy - card["test_accuracy"]) > 1e-9:
        raise RuntimeError(f"{path}: reloaded accuracy {reloaded_accuracy} differs from "
                           f"{card['test_accuracy']}")
    return card


def dihedral(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random one of the 8 rotations by 90 degrees and mirror images of an (H, W, 3) image.

    Data augmentation that never changes the label: every source shape is drawn at a random
    rotation, and all ten are mirror-symmetric, so a rotated or mirrored image is just another
    image of the same class. It multiplies the variety of the 4,000 training images by 8.
    """
    image = np.rot90(image, k=int(rng.integers(4)), axes=(0, 1))
    if rng.integers(2):
        image = image[:, ::-1]  # mirror left-right
    return np.ascontiguousarray(image)


def train_torch(name: str, data: dict, *, epochs: int, device: str):
    """PyTorch: ``course_lib.train.fit``, Adam, cosine schedule; returns (model, history)."""
    import torch
    from torch import nn

    from course_lib.train import fit

    torch.set_num_threads(THREADS)
    set_seed(SEED, deterministic=True)
    model = pretrained.build_model(name, "torch").to(device)
    train = data["train"]
    rng = np.random.default_rng(SEED)  # augmentation draws, consumed in loading order

    class AugmentedTrainSet(torch.utils.data.Dataset):
        def __len__(self):
            return len(train.labels)

        def __getitem__(self, index):
            image = dihedral(train.images[index], rng)[None]  # (1, H, W, 3)
            return pretrained.as_inputs(image, "torch")[0], int(train.labels[index])

    train_loader = torch.utils.data.DataLoader(
        AugmentedTrainSet(), batch_size=BATCH_SIZE, shuffle=True,
        generator=torch.Generator().manual_seed(SEED))
    val_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        pretrained.as_inputs(data["val"].images, "torch"), torch.from_numpy(data["val"].labels)),
        batch_size=BATCH_SIZE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = fit(model, train_loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  num_epochs=epochs, val_loader=val_loader, scheduler=scheduler,
                  device=device, progress=True)  # a tqdm bar on stderr
    return model, history


def train_keras(name: str, data: dict, *, epochs: int, device: str):
    """Keras: ``model.fit`` with the same optimizer, schedule, batch size and epochs."""
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    except RuntimeError:  # TensorFlow already ran an op in this process: keep its threads
        pass
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    model = pretrained.build_model(name, "keras")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    schedule = keras.callbacks.LearningRateScheduler(
        lambda epoch: LEARNING_RATE * (1 + np.cos(np.pi * epoch / epochs)) / 2)
    train, val = data["train"], data["val"]

    class AugmentedBatches(keras.utils.PyDataset):
        """Shuffled, augmented batches; each draw seeded by (epoch, batch): order-independent."""

        def __init__(self):
            super().__init__()
            self.epoch = 0

        def __len__(self):
            return -(-len(train.labels) // BATCH_SIZE)  # ceil

        def __getitem__(self, batch):
            order = np.random.default_rng([SEED, self.epoch]).permutation(len(train.labels))
            index = order[batch * BATCH_SIZE:(batch + 1) * BATCH_SIZE]
            rng = np.random.default_rng([SEED, self.epoch, batch])
            images = np.stack([dihedral(image, rng) for image in train.images[index]])
            return pretrained.as_inputs(images, "keras"), train.labels[index]

        def on_epoch_end(self):
            self.epoch += 1

    with tf.device("/CPU:0" if device == "cpu" else "/GPU:0"):
        history = model.fit(AugmentedBatches(),
                            validation_data=(pretrained.as_inputs(val.images, "keras"),
                                             val.labels),
                            epochs=epochs, callbacks=[schedule],
                            verbose=2)  # one line per epoch
    return model, history.history


def _card(name, framework, model, history, data, *, epochs, seconds, path, device, command):
    if framework == "torch":
        import torch

        num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        versions = {"torch": torch.__version__}
        layout = "float32 in [0, 1], (N, 3, 32, 32) NCHW"
    else:
        import keras
        import tensorflow as tf

        num_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        versions = {"keras": keras.__version__, "tensorflow": tf.__version__}
        layout = "float32 in [0, 1], (N, 32, 32, 3) NHWC"
    test_accuracy = pretrained.accuracy(model, data["test"], framework)
    return {
        "name": name,
        "framework": framework,
        "architecture": f"course_lib.blocks.{pretrained._ARCHITECTURES[name][framework].__name__}"
                        f"({len(SOURCE_CLASSES)})",
        "num_params": int(num_params),
        "input": layout + ", no normalization; output: logits (N, 10)",
        "data": {
            "task": "course_lib.pretrained.source_task_data(split)",
            "classes": list(SOURCE_CLASSES),
            "image_size": pretrained.IMAGE_SIZE,
            "backgrounds": list(BACKGROUNDS),
            "splits": {split: {"n_per_class": pretrained.SOURCE_SPLITS[split],
                               "images": len(d.labels), "seed": pretrained.SOURCE_SEEDS[split]}
                       for split, d in data.items()},
        },
        "seed": SEED,
        "command": command,
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "optimizer": f"Adam(lr={LEARNING_RATE}), cosine decay to 0 over the epochs",
        "augmentation": "random rotation by a multiple of 90 degrees and mirror (scripts/"
                        "pretrain.py: dihedral)",
        "loss": "cross-entropy on logits",
        "device": device,
        "train_seconds": round(seconds[0], 1),          # wall clock
        "train_cpu_seconds": round(seconds[1], 1),      # CPU time of all threads
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "train_accuracy": round(float(history["accuracy"][-1]), 4),
        "val_accuracy": round(float(history["val_accuracy"][-1]), 4),
        "test_accuracy": test_accuracy,
        "reproduction_tolerance": round(pretrained.reproduction_tolerance(
            test_accuracy, len(data["test"].labels)), 4),
        "file": path.name,
        "file_bytes": path.stat().st_size,
        "sha256": pretrained.file_sha256(path),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, **versions},
        "created": datetime.date.today().isoformat(),
    }


def readme(folder: Path) -> str:
    """A Markdown summary of every model card in ``folder``."""
    cards = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    rows = [f"| `{c['name']}` | {c['framework']} | {c['num_params']:,} | {c['epochs']} | "
            f"{c['train_seconds']:.0f} s | {c['train_cpu_seconds']:.0f} s | "
            f"{100 * c['test_accuracy']:.1f} % | ± {100 * c['reproduction_tolerance']:.1f} | "
            f"`{c['file']}` | "
            f"{c['file_bytes'] / 1024:.0f} KiB | `{c['sha256'][:16]}…` |" for c in cards]
    splits = pretrained.SOURCE_SPLITS
    return "\n".join([
        "# The course's pretrained models",
        "",
        "Generated by `scripts/pretrain.py` (do not edit by hand). Regenerate all four with",
        "",
        "    .venv/bin/python scripts/pretrain.py",
        "",
        f"**Source task** (`course_lib.pretrained.source_task_data`): the {len(SOURCE_CLASSES)} "
        f"shapes {', '.join(SOURCE_CLASSES)} of `course_lib.shapes`, "
        f"{pretrained.IMAGE_SIZE}x{pretrained.IMAGE_SIZE} RGB, the four backgrounds "
        f"({', '.join(BACKGROUNDS)}) in equal shares; "
        + ", ".join(f"{split} {n} images per class (seed {pretrained.SOURCE_SEEDS[split]})"
                    for split, n in splits.items())
        + ". The 6 `TARGET_CLASSES` are never shown: Chapter 8 transfers to them.",
        "",
        f"**Training**: seed {SEED}, Adam (learning rate {LEARNING_RATE}, cosine decay), batch "
        f"size {BATCH_SIZE}, cross-entropy, random 90-degree rotations and mirror images of "
        f"the training images; PyTorch via `course_lib.train.fit`, Keras via "
        "`model.fit` with op determinism. Inputs are float32 in [0, 1] without normalization.",
        "",
        "| model | framework | parameters | epochs | train time (wall) | CPU time | test accuracy "
        "| retrained within (points) | file | size | sha256 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
        *rows,
        "",
        "Train time is wall-clock time on the machine named in each card (`machine`); it depends "
        "on what else runs there, so the cards also record the CPU time (`train_cpu_seconds`, "
        "one thread per framework), the better measure of the cost. Load a model with "
        "`course_lib.pretrained.load_pretrained(name, framework)`; its card (`model_card`) "
        "holds the full provenance, including the whole sha256 that `load_pretrained` checks.",
        "",
        "Retraining with the same seed gives the same weights on the same machine, but not on "
        "another processor: the frameworks pick vectorized kernels by instruction set (AVX2, "
        "AVX-512), which sum in a different order. A retrained model must reach its card's test "
        "accuracy within the stated tolerance, three standard errors of the difference of two "
        "binomial estimates on the test set, `3 * sqrt(2 p (1 - p) / n)` "
        "(`course_lib.pretrained.reproduction_tolerance`; checked by "
        "`tests/test_pretrained.py`).",
        "",
    ])


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="all", choices=["all", *pretrained.available_models()])
    parser.add_argument("--framework", default="all", choices=["all", *pretrained.FRAMEWORKS])
    parser.add_argument("--out", default=str(pretrained.WEIGHTS_DIR),
                        help="folder for weights, cards and README (default: course_lib/weights)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs for every model (default: {EPOCHS})")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cpu (default) reproduces the committed cards")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
