"""The training core: what every trainable estimator runs on, whatever its model.

Owns the training loop on skorch (``training``) and its callbacks, the tasks (loss,
output size, target encoding, predictions: ``tasks``), trainable parameters
(``params``), input validation (``validation``, ``preference_data``), the per-epoch
history, progress output, device/precision/seeding (``device``), data-parallel
training (``distributed``), measurement (``profiling``) and the registry of classes
a saved model may name (``registry``).

May import: nothing of sktransformers but :mod:`sktransformers._version`. Every other
package builds on it.
"""
