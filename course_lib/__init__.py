"""course_lib: the support library of the course.

One module per concept, imported by the chapters instead of helpers pasted into notebooks:

- ``course_lib.device`` - pick the PyTorch device, report TensorFlow's devices, ``set_seed``.
- ``course_lib.frameworks`` - load TensorFlow safely and quietly beside PyTorch.
- ``course_lib.data``   - offline data: digits splits, sample photos, 2-D toy sets.
- ``course_lib.plot``   - decision boundaries, learning curves, image grids, function plots.
- ``course_lib.checks`` - assertion helpers used by the graded exercises' tests.
- ``course_lib.activations`` - activation functions and derivatives (numpy).
- ``course_lib.train`` - the PyTorch training loop (``fit``, ``evaluate``).
- ``course_lib.layers`` / ``course_lib.gradcheck`` - numpy forward/backward layers; numerical
  gradients and relative errors.
- ``course_lib.landscape`` - loss surfaces and gradient-descent paths.
- ``course_lib.conv`` / ``course_lib.pooling`` - numpy convolution (naive and im2col, forward
  and backward), max and average pooling forward and backward, receptive fields;
  ``course_lib.numpy_cnn`` - a small CNN in pure numpy and its PyTorch twin.
- ``course_lib.feature_maps`` / ``course_lib.summary`` - feature-map and kernel figures; a
  per-layer shape and parameter table for PyTorch models.
- ``course_lib.optim`` / ``course_lib.surfaces`` - numpy update rules; 2-D test surfaces.
- ``course_lib.shapes`` - seeded synthetic shape images, as arrays or image folders on disk.
- ``course_lib.callbacks`` - EarlyStopping, ModelCheckpoint and resuming for ``train.fit``.
- ``course_lib.regularization`` / ``course_lib.initialization`` - numpy dropout, batch norm,
  L1/L2 penalties; Glorot/He initializers and activation statistics through depth.
- ``course_lib.normalization`` - layer, group and instance normalization forward and backward.
- ``course_lib.overfit`` / ``course_lib.experiments`` - the controlled overfitting setup of
  Chapter 6; runs over seeds and configurations summarized as mean +- std.
- ``course_lib.blocks`` / ``course_lib.architectures`` - VGG, residual and small networks in
  both frameworks; parameter and multiply-add arithmetic of classic architectures.
- ``course_lib.pretrained`` / ``course_lib.transfer`` / ``course_lib.transfer_experiment`` -
  the course's own pretrained models (loaded by name, with model cards); the transfer-learning
  task and strategies; their comparison over label budgets and seeds.
- ``course_lib.scenes`` / ``course_lib.boxes`` / ``course_lib.masks`` /
  ``course_lib.detection_metrics`` - multi-object shape scenes with boxes and masks; box
  formats, IoU, NMS; mask IoU, Dice, RLE; average precision (Chapter 9).
- ``course_lib.localization`` / ``course_lib.segmentation`` / ``course_lib.detection`` /
  ``course_lib.center_net`` - a classifier with a box head and its losses; a U-Net and
  transposed-convolution sizes; a center-heatmap detector's targets, loss and decoding; the
  small CenterNet and its training loop (Chapter 9).

Importing ``course_lib`` loads neither PyTorch nor TensorFlow (each module imports a framework
only inside the functions that need it). It does one thing on import: it prepares the coming
``import tensorflow`` so that it cannot crash PyTorch and does not spill native log lines into
notebook outputs (``course_lib.frameworks``). That only works *before* TensorFlow is imported,
so notebooks import ``course_lib`` first.
"""

from course_lib.frameworks import prepare_tensorflow_import

prepare_tensorflow_import()

__version__ = "0.1.0"
__all__ = ["__version__"]
