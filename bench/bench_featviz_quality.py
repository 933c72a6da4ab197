"""Quality of the regularized loop against the classic loop on a random VGG19 (weights=None).

VGG19 (keras seed 0), block5_conv4 channel 4, no preprocessing (the [-1, 1] image is the
model input). For each number of steps, the classic loop (``method="seed"``, seed 0; one run,
read from its history) and the regularized loop (seed 0, its defaults, or the settings given)
are compared by the channel's mean activation of the image reached, measured on the image
itself. Printed: the activation of the noise start, of each loop, the ratio regularized /
classic (target >= 0.3), the high-frequency share of the regularized uint8 image (target
<= 0.10) and the wall times.

Usage: python bench/bench_featviz_quality.py [--size 224] [--steps 50 200]
       [--step-size S] [--decay D] [--jitter J] [--fade F | --no-fade] ...
(the settings before this change: --step-size 0.05 --no-fade)
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

LAYER, CHANNEL = "block5_conv4", 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--step-size", type=float, help="Adam learning rate (default: render's)")
    for name in ("decay", "amplitude", "tv-weight", "fade", "start-std", "jitter", "rotation"):
        parser.add_argument(f"--{name}", type=float, help="Regularization field (default: its)")
    parser.add_argument("--scale", type=float, nargs=2, help="Transforms.scale (smallest, largest)")
    parser.add_argument(
        "--no-fade",
        action="store_true",
        help="fade=None: the transformations keep their ranges throughout",
    )
    args = parser.parse_args()

    import dataclasses

    import keras
    import tensorflow as tf

    from featviz_extras import images, models, param, render

    keras.utils.set_random_seed(0)
    model = models.load_model("vgg19", weights=None, include_top=False)
    cut = models.layer_model(model, LAYER)
    regularization = render.Regularization()
    changes = {
        field: getattr(args, field)
        for field in ("decay", "amplitude", "tv_weight", "fade", "start_std")
        if getattr(args, field) is not None
    }
    moves = {
        field: getattr(args, field)
        for field in ("jitter", "rotation", "scale")
        if getattr(args, field) is not None
    }
    if moves:
        changes["transforms"] = dataclasses.replace(regularization.transforms, **moves)
    if args.no_fade:
        changes["fade"] = None
    regularization = dataclasses.replace(regularization, **changes)

    def activation(image: np.ndarray) -> float:
        return float(np.asarray(cut(image[None], training=False))[..., CHANNEL].mean())

    size = args.size
    noise = activation(param.uint8_to_unit(param.noise_images(1, size, size, 0))[0])
    print(
        f"VGG19 (weights=None, seed 0) {LAYER} channel {CHANNEL} at {size}x{size}; "
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs"
    )
    print(
        f"regularized: step_size {args.step_size or render.DEFAULT_STEP_SIZE['regularized']}, "
        f"{regularization}"
    )
    print(f"noise start activation {noise:.4g}")
    # the classic loop once, for the largest number of steps: its history holds the activation
    # after every step (for "seed" the history costs nothing)
    start = time.perf_counter()
    _, history = render.visualize(
        model, LAYER, CHANNEL, steps=max(args.steps), size=size, seed=0, return_history=True
    )
    classic_time = time.perf_counter() - start
    print(f"classic loop, {max(args.steps)} steps: {classic_time:.1f} s")
    print(
        f"\n{'steps':>5} {'classic':>10} {'x noise':>8} {'regularized':>12} {'x noise':>8} "
        f"{'ratio':>6} {'hf share':>8} {'reg. s':>7}"
    )
    for steps in args.steps:
        start = time.perf_counter()
        regularized = render.visualize(
            model,
            LAYER,
            CHANNEL,
            steps=steps,
            size=size,
            seed=0,
            method="regularized",
            step_size=args.step_size,
            regularization=regularization,
            output="float",
        )
        regularized_time = time.perf_counter() - start
        a_classic, a_regularized = float(history.activation[steps]), activation(regularized)
        share = images.high_frequency_share(param.unit_to_uint8(regularized))
        print(
            f"{steps:>5} {a_classic:>10.4g} {a_classic / noise:>8.1f} {a_regularized:>12.4g} "
            f"{a_regularized / noise:>8.1f} {a_regularized / a_classic:>6.2f} {share:>8.3f} "
            f"{regularized_time:>7.1f}"
        )


if __name__ == "__main__":
    main()
