"""Train the handwritten-digits example: a tiny CNN on scikit-learn's 8x8 digits.

Writes, next to this file:
  digits.keras   conv1 (Conv2D 8 3x3) - relu1 - pool1 (MaxPool 2x2) - flatten - output (Dense 10) - softmax
  x_test.npy     held-out images, float32 in [0, 1], shape (180, 8, 8, 1)
  y_test.npy     their labels, int64, shape (180,)

The data set ships inside scikit-learn (no download). The split and the training are seeded
and run on the CPU with deterministic ops, so re-running reproduces the same weights.

Usage: python train.py            (a few seconds)
"""
from nnaccel.training import deterministic_cpu

deterministic_cpu()  # before TensorFlow is imported

from pathlib import Path

import numpy as np
import keras
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
SEED = 2024
N_TEST = 180


def make_data():
    """(x_train, y_train, x_test, y_test): images as (n, 8, 8, 1) float32 in [0, 1]."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]  # pixel values are 0..16
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=N_TEST, random_state=SEED, stratify=y)
    return x_train, y_train, x_test, y_test


def build():
    # "input" is a reserved layer name in hls4ml
    inputs = keras.Input(shape=(8, 8, 1), name="image")
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = keras.layers.Activation("relu", name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(10, name="output")(x)
    x = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, x, name="digits")


def main():
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(SEED)
    x_train, y_train, x_test, y_test = make_data()
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=40, shuffle=True, verbose=0)
    model.save(HERE / "digits.keras")
    np.save(HERE / "x_test.npy", x_test)
    np.save(HERE / "y_test.npy", y_test)
    acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    print(f"digits.keras: test accuracy {acc:.3f} on {len(y_test)} samples")


if __name__ == "__main__":
    main()
