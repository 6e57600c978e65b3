"""Train the jet-tagging example MLP (16-64-32-32-5) on a synthetic data set.

Writes, next to this file:
  jet_mlp.keras     the model the example configuration builds an accelerator for
  jet_mlp_b.keras   a second weight set of the same architecture (another seed): the
                    weights to load into an IP built for the first
  x_test.npy        held-out inputs, float32, shape (200, 16)
  y_test.npy        their labels, int64, shape (200,)

The real jet-tagging set (OpenML hls4ml_lhc_jets_hlf) cannot be downloaded here, so the data
is a seeded class-conditional Gaussian mixture pushed through a fixed non-linear map and
standardised: 5 classes, 16 features, overlapping enough that an MLP beats a linear model.

The accelerator runs 6-bit weights (ap_fixed<6,1>) and 6-bit ReLU outputs
(ap_ufixed<6,0,AP_RND_CONV,AP_SAT>, i.e. [0, 63/64]). Training is shaped for that: kernels
and biases are clipped to the ap_fixed<6,1> range, an L1 penalty keeps them small, the
ReLUs saturate at 63/64 during training, and the saved weights are snapped to the 2^-5 grid
(so the float model and the hardware use the very same weight values). The saved models
contain only stock Keras layers (Dense, Activation) so they load anywhere.

Usage: python train.py            (CPU only, deterministic, a few seconds)
"""
from nnaccel.training import deterministic_cpu

deterministic_cpu()  # before TensorFlow is imported

from pathlib import Path

import numpy as np
import keras
import tensorflow as tf

HERE = Path(__file__).resolve().parent
DATA_SEED = 1234
SEEDS = {"jet_mlp.keras": 42, "jet_mlp_b.keras": 7}
N_FEATURES, N_CLASSES = 16, 5
N_TRAIN, N_TEST = 20000, 200
LAYERS = [("fc1", 64, "relu1"), ("fc2", 32, "relu2"), ("fc3", 32, "relu3"), ("output", 5, "softmax")]

# ap_fixed<6,1>: values k / 32 for k in [-32, 31]
W_STEP = 2.0 ** -5
W_MIN, W_MAX = -1.0, 1.0 - W_STEP
# ap_ufixed<6,0>: the largest value a hardware ReLU can output
RELU_MAX = 1.0 - 2.0 ** -6
L1 = 1e-4
SATURATION_PENALTY = 1e-3


def make_data(seed=DATA_SEED):
    """Seeded synthetic 'jet' features: (x_train, y_train, x_test, y_test), x standardised."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    # three Gaussian components per class in a 16-d latent space
    means = rng.normal(0.0, 1.1, size=(N_CLASSES, 3, N_FEATURES))
    scales = rng.uniform(0.6, 1.4, size=(N_CLASSES, 3, N_FEATURES))
    y = rng.integers(0, N_CLASSES, size=n)
    comp = rng.integers(0, 3, size=n)
    z = means[y, comp] + scales[y, comp] * rng.normal(size=(n, N_FEATURES))
    # a fixed non-linear mixing so that the classes are not linearly separable
    mix = rng.normal(0.0, 1.0 / np.sqrt(N_FEATURES), size=(N_FEATURES, N_FEATURES))
    x = z + 0.8 * np.tanh(z @ mix) * np.roll(z, 3, axis=1)
    x[:, ::4] = np.abs(x[:, ::4])  # energy-like, non-negative features
    mean, std = x[:N_TRAIN].mean(axis=0), x[:N_TRAIN].std(axis=0)
    x = ((x - mean) / std).astype(np.float32)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:].astype(np.int64)


class ClipToFixed(keras.constraints.Constraint):
    """Keep a weight inside the ap_fixed<6,1> range (training only; never saved)."""

    def __call__(self, w):
        return keras.ops.clip(w, W_MIN, W_MAX)


class PenaliseSaturation(keras.regularizers.Regularizer):
    """Penalise pre-activations above the hardware ReLU's ceiling (training only), so the
    saved float model (plain ReLU) and the saturating hardware agree on most samples."""

    def __init__(self, strength):
        self.strength = strength

    def __call__(self, x):
        return self.strength * keras.ops.sum(keras.ops.relu(x - RELU_MAX))


def saturating_relu(x):
    """ReLU that saturates where the 6-bit hardware ReLU does (training only)."""
    return keras.ops.clip(x, 0.0, RELU_MAX)


def build(training):
    """The documented architecture; `training` adds the constraint, penalty and saturation."""
    # "input" is reserved in hls4ml; Keras 2 named it like this
    inputs = keras.Input(shape=(N_FEATURES,), name="fc1_input")
    x = inputs
    for dense_name, units, act_name in LAYERS:
        kw = {}
        if training:
            kw = dict(kernel_constraint=ClipToFixed(), bias_constraint=ClipToFixed(),
                      kernel_regularizer=keras.regularizers.L1(L1))
            if act_name != "softmax":
                kw["activity_regularizer"] = PenaliseSaturation(SATURATION_PENALTY)
        x = keras.layers.Dense(units, name=dense_name, **kw)(x)
        if act_name == "softmax":
            x = keras.layers.Activation("softmax", name=act_name)(x)
        else:
            x = keras.layers.Activation(saturating_relu if training else "relu", name=act_name)(x)
    return keras.Model(inputs, x, name="jet_mlp")


def snap(w):
    """Round to the ap_fixed<6,1> grid, half to even (numpy.round), and saturate."""
    return np.clip(np.round(w / W_STEP) * W_STEP, W_MIN, W_MAX).astype(np.float32)


def train(seed, x, y):
    keras.utils.set_random_seed(seed)
    model = build(training=True)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=256, epochs=30, shuffle=True, verbose=0)
    # a few epochs at a lower rate with the weights already on the 6-bit grid after each
    # epoch, so the final snap costs (almost) nothing
    model.optimizer.learning_rate.assign(5e-4)
    for _ in range(5):
        model.fit(x, y, batch_size=256, epochs=1, shuffle=True, verbose=0)
        model.set_weights([snap(w) for w in model.get_weights()])
    clean = build(training=False)
    clean.set_weights(model.get_weights())
    return model, clean


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))


def main():
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, x_test, y_test = make_data()
    np.save(HERE / "x_test.npy", x_test)
    np.save(HERE / "y_test.npy", y_test)
    for name, seed in SEEDS.items():
        trained, clean = train(seed, x_train, y_train)
        clean.save(HERE / name)
        print(f"{name}: seed {seed}, test accuracy {accuracy(clean, x_test, y_test):.3f} "
              f"(float ReLU), {accuracy(trained, x_test, y_test):.3f} (6-bit-saturating ReLU), "
              f"train accuracy {accuracy(clean, x_train, y_train):.3f}")


if __name__ == "__main__":
    main()
