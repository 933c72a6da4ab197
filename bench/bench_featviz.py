"""Benchmark of featviz_extras.render on a randomly initialised VGG19 (weights=None).

Measures, in one process, with a warm-up run and the median over repeats (the cases are
timed in turn within each round, so that changes of machine load affect them alike):

1. ``render.visualize(method="seed")`` time per step vs. a hand-written ``tf.function``
   classic loop (target ratio <= 1.05);
2. ``method="regularized"`` time per step vs. that classic loop (target <= 1.3);
3. ``render.visualize_batch`` of 8 channels vs. 8 sequential ``visualize`` calls
   (throughput ratio = sequential time / batched time).

Usage: python bench/bench_featviz.py [--size 224] [--steps 10] [--repeats 3] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

LAYER, CHANNEL = "block5_conv4", 4


def median_times(functions: dict, repeats: int) -> dict:
    """Median wall time in seconds of each ``function()`` over ``repeats`` rounds, after one
    warm-up call each. The functions are timed in turn within each round, so that a change
    of machine load affects them alike."""
    for function in functions.values():
        function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def hand_written_loop(model, size: int, steps: int, seed: int = 0):
    """The classic loop written directly (g / std(g), no epsilon): returns a function running
    ``steps`` steps."""
    import keras
    import tensorflow as tf

    cut = keras.Model(model.input, model.get_layer(LAYER).output)

    @tf.function
    def step(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = tf.reduce_mean(cut(image, training=False)[..., CHANNEL])
        gradient = tape.gradient(loss, image)
        gradient /= tf.math.reduce_std(gradient)
        return loss, tf.clip_by_value(image + gradient * 0.1, -1.0, 1.0)

    def run():
        noise = np.random.default_rng(seed).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
        image = tf.constant(noise.astype(np.float32) / 127.5 - 1.0)
        for _ in range(steps):
            _, image = step(image)
        return ((image.numpy() + 1.0) / 2.0 * 255.0).astype(np.uint8)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from featviz_extras import models, render

    keras.utils.set_random_seed(0)
    model = models.load_model("vgg19", weights=None, include_top=False)
    size, steps, repeats = args.size, args.steps, args.repeats
    channels = list(range(args.batch))
    print(
        f"VGG19 (weights=None) {LAYER} at {size}x{size}, {steps} steps per run, "
        f"median of {repeats} runs after a warm-up; TensorFlow {tf.__version__}, "
        f"{os.cpu_count()} CPUs"
    )

    medians = median_times(
        {
            "hand": hand_written_loop(model, size, steps),
            "seed": lambda: render.visualize(model, LAYER, CHANNEL, steps=steps, size=size, seed=0),
            "regularized": lambda: render.visualize(
                model, LAYER, CHANNEL, steps=steps, size=size, seed=0, method="regularized"
            ),
            "batched": lambda: render.visualize_batch(
                model, LAYER, channels, steps=steps, size=size, seed=0
            ),
            "sequential": lambda: [
                render.visualize(model, LAYER, c, steps=steps, size=size, seed=0) for c in channels
            ],
        },
        repeats,
    )
    hand, seed, regularized = medians["hand"], medians["seed"], medians["regularized"]
    batched, sequential = medians["batched"], medians["sequential"]

    per_step = {
        name: 1e3 * value / steps
        for name, value in [("hand", hand), ("seed", seed), ("regularized", regularized)]
    }
    rows = [
        ("hand-written tf.function loop", per_step["hand"], "1.00", ""),
        ('visualize(method="seed")', per_step["seed"], f"{seed / hand:.2f}", "<= 1.05"),
        (
            'visualize(method="regularized")',
            per_step["regularized"],
            f"{regularized / hand:.2f}",
            "<= 1.3",
        ),
    ]
    print(f"\n{'per step (1 image)':<34}{'ms/step':>10}{'ratio':>8}  target")
    for name, milliseconds, ratio, target in rows:
        print(f"{name:<34}{milliseconds:>10.1f}{ratio:>8}  {target}")
    print(f"\n{len(channels)} channels, {steps} steps{'':<14}{'seconds':>10}{'img/s':>8}")
    print(
        f"{f'{len(channels)} sequential visualize calls':<34}{sequential:>10.2f}"
        f"{len(channels) / sequential:>8.2f}"
    )
    print(f"{'one visualize_batch call':<34}{batched:>10.2f}{len(channels) / batched:>8.2f}")
    print(f"batch throughput ratio (sequential / batched): {sequential / batched:.2f}")


if __name__ == "__main__":
    main()
