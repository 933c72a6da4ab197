"""Quality of feature visualization on the texture CNNs trained here (featviz_extras.experiment).

1. The experiment as ``python -m featviz_extras trained-demo`` runs it, from a clean model cache
   (a temporary folder; ``--cache DIR`` reuses one): the training time and held-out accuracy
   of each model, the total time, and the quality numbers of both methods: transfer rate (the
   fraction of class visualizations that models B and C assign to that class), orientation
   error of the stripes visualizations (2-D power-spectrum peak vs the class angle),
   self-activation (model A's probability of its own class).
2. A search over the "regularized" settings (``--search``): each setting renders the 16
   visualizations (8 logits, 8 channels) with ``--seeds`` seeds; the table gives the mean
   transfer rate and the other numbers, best first, and the classic loop on the same seeds
   ("stuck": images per seed whose objective had a zero gradient at every step).

3. What the ``rings`` class of model A prefers (``--rings``, instead of 1 and 2): the rings
   visualizations of the demo against real textures (A's rings logit, how concentric and how
   oriented each image is, B's and C's labels), where in a ring image A's rings evidence lies,
   the same at equal contrast, and renders of the rings logit from a ring start or with other
   transformations (docs/featviz.md, "Why the rings renders are not rings").

Usage: python bench/bench_featviz_trained.py [--cache DIR] [--search] [--seeds 0 1 2 3 4]
       python bench/bench_featviz_trained.py --cache DIR --rings
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def candidates():
    """{name: (step_size, Regularization)} of the search, the render defaults first."""
    from featviz_extras import render, transform

    base = render.Regularization()
    moves = base.transforms

    def regularization(**changes):
        return dataclasses.replace(base, **changes)

    def transforms(jitter=moves.jitter, scale=moves.scale, rotation=moves.rotation):
        return transform.Transforms(jitter=jitter, scale=scale, rotation=rotation)

    small = transforms(2, (0.95, 1.05), 5)  # 8 px of 224 is 2 px of 64
    return {
        "defaults": (None, base),
        "start_std 0.01 (the old default)": (None, regularization(start_std=0.01)),
        "start_std 0.1": (None, regularization(start_std=0.1)),
        "start_std 0.3": (None, regularization(start_std=0.3)),
        "lr 0.05": (0.05, base),
        "lr 0.2": (0.2, base),
        "fade 0.25": (None, regularization(fade=0.25)),
        "no fade (transforms throughout)": (None, regularization(fade=None)),
        "no transforms": (None, regularization(transforms=transforms(0, (1, 1), 0))),
        "jitter 2, scale 0.95-1.05, rotation 5": (None, regularization(transforms=small)),
        "the same, start_std 0.3": (None, regularization(transforms=small, start_std=0.3)),
        "decay 0.75": (None, regularization(decay=0.75)),
        "decay 1.25": (None, regularization(decay=1.25)),
        "tv 0.05": (None, regularization(tv_weight=0.05)),
    }


def measure(experiment, method: str, seeds, step_size=None, regularization=None, steps=100):
    """Mean quality numbers of one method's settings over seeds (both targets)."""
    from featviz_extras.experiment import quality

    rows = []
    start = time.perf_counter()
    warned = len(experiment.warnings)
    for seed in seeds:
        settings = experiment.settings(method, steps, seed, step_size, regularization)
        table = quality(experiment.run({method: settings}))[method]
        rows.append(table)
    seconds = (time.perf_counter() - start) / len(seeds)

    def mean(target, key):
        values = [row[target][key] for row in rows]
        return statistics.fmean(values) if None not in values else float("nan")

    return {
        "transfer": mean("all", "transfer_rate"),
        "logit": mean("logit", "transfer_rate"),
        "channel": mean("channel", "transfer_rate"),
        "own": mean("all", "self_activation"),
        "own_logit": mean("logit", "self_activation"),
        "orientation": mean("all", "mean_orientation_error"),
        "spread": statistics.pstdev([row["all"]["transfer_rate"] for row in rows]),
        "stuck": stuck(experiment.warnings[warned:]) / len(seeds),
        "seconds": seconds,
    }


def stuck(messages) -> int:
    """How many images of ZeroGradientWarning messages had a zero gradient at every step."""
    counts = [re.findall(r"\(image \d+: (\d+) of (\d+) steps\)", m) for m in messages]
    return sum(done == total for found in counts for done, total in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="model cache to use (default: a clean one)")
    parser.add_argument("--search", action="store_true", help="search the regularized settings")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rings", action="store_true", help="only the probe of the rings class")
    args = parser.parse_args()

    import tensorflow as tf

    from featviz_extras import experiment, models, trained

    with tempfile.TemporaryDirectory() as folder:
        cache = args.cache or Path(folder) / "cache"
        if args.rings:
            rings_probe(experiment.Experiment(cache=cache), args.steps)
            return
        start = time.perf_counter()
        summary = experiment.trained_demo(Path(folder) / "out", cache=cache, progress=False)
        total = time.perf_counter() - start
        load = os.getloadavg()[1]  # the machine's load over the last 5 minutes
        print(
            f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; model cache: "
            f"{'given' if args.cache else 'clean (temporary)'}; load average {load:.1f} "
            "(5 minutes; above the 2 cores, other work slowed the times)"
        )
        print(
            f"\n{'model':<20}{'role':<6}{'parameters':>11}{'training s':>12}"
            f"{'held-out accuracy':>19}"
        )
        roles = {name: role for role, name in summary["models"].items()}
        for name, report in summary["training"].items():
            model = models.load_model(name, weights=report["path"])
            print(
                f"{name:<20}{roles[name]:<6}{model.count_params():>11}"
                f"{report['seconds']:>12.1f}{report['accuracy']:>19.4f}"
            )
        recipe = trained.Recipe()
        print(
            f"(data: {recipe.train_images} training images, {recipe.test_images} held out, "
            f"generated in {report['data_seconds']:.1f} s; {recipe.epochs} epochs)"
        )
        seconds = summary["seconds"]
        print(
            f"\ntrained-demo: {total:.0f} s in all; models {seconds['models']:.0f} s, "
            f"render and classify {seconds['render_and_classify']:.0f} s, analysis "
            f"{seconds['analysis']:.0f} s"
        )
        print(
            f"\nseed {summary['settings']['seed']}, {summary['settings']['steps']} steps, "
            f"64 x 64; channels of {summary['layer']}: {summary['channels']}"
        )
        print(experiment.format_quality(summary["quality"]))
        nearest = {m: t["all"]["nearest_class_rate"] for m, t in summary["quality"].items()}
        print(f"nearest class at A's late layer is the visualization's own: {nearest}")
        print(
            f"images whose objective had a zero gradient at every step: "
            f"{stuck(summary['warnings'])}"
        )
        if not args.search:
            return

        found = experiment.Experiment(cache=cache)
        print(
            f"\nmean over seeds {args.seeds}, {args.steps} steps, logits and channels "
            "(transfer: B and C's top label is the class)"
        )
        header = (
            f"{'settings':<40}{'transfer':>9}{'+-':>6}{'logit':>7}{'channel':>8}"
            f"{'A own p':>8}{'orient.':>8}{'stuck':>6}{'s/seed':>7}"
        )
        print(header)
        classic = measure(found, "seed", args.seeds, steps=args.steps)
        print(_row("classic loop (seed)", classic))
        results = {}
        for name, (step_size, regularization) in candidates().items():
            results[name] = measure(
                found, "regularized", args.seeds, step_size, regularization, args.steps
            )
            print(_row(name, results[name]), flush=True)
        print("\nbest first:")
        print(header)
        for name, row in sorted(results.items(), key=lambda item: -item[1]["transfer"]):
            print(_row(name, row))


# ---- the rings probe -------------------------------------------------------------------------

REAL_SEED = 11  # real textures of the probe: neither training (0), test (1) nor reference (2+)


def grey(image):
    """Grey level (ITU-R BT.601) of an RGB image (H, W, 3), float."""
    import numpy as np

    from featviz_extras.images import LUMA_WEIGHTS

    return np.asarray(image, dtype=np.float64) @ np.array(LUMA_WEIGHTS)


def radial_coherence(image, step: int = 2) -> float:
    """How concentric an image is: over candidate centres on a grid inside the image (every
    ``step`` pixels), the largest |gradient|-weighted mean of |cos| between the grey gradient
    (Sobel, after a Gaussian blur of 1 pixel) and the direction from the centre. Concentric
    rings about a point of the image give about 1, gradients of random direction 2 / pi."""
    import numpy as np
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(grey(image), 1.0)
    gy, gx = ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1)
    magnitude = np.hypot(gx, gy)
    rows, columns = np.mgrid[0 : smooth.shape[0], 0 : smooth.shape[1]].astype(float)
    best = 0.0
    for cy in range(0, smooth.shape[0], step):
        for cx in range(0, smooth.shape[1], step):
            dx, dy = columns - cx, rows - cy
            along = np.abs(gx * dx + gy * dy) / (np.hypot(dx, dy) + 1e-9)
            best = max(best, along.sum() / magnitude.sum())
    return best


def orientation_share(image, bins: int = 18, band=(1 / 16, 1 / 5)) -> tuple[float, float]:
    """(share of the power between ``band`` cycles per pixel that lies in the 2 strongest of
    ``bins`` orientation bins of the wave vector: 2 / bins for an isotropic image, about 1 for
    bars of one angle; the period in pixels of the strongest peak above 2 / size)."""
    import numpy as np

    g = grey(image)
    size = g.shape[0]
    windowed = (g - g.mean()) * np.outer(np.hanning(size), np.hanning(size))
    power = np.abs(np.fft.fft2(windowed, s=(4 * size, 4 * size))) ** 2
    down = np.fft.fftfreq(4 * size)[:, None] * np.ones((1, 4 * size))
    across = np.fft.fftfreq(4 * size)[None, :] * np.ones((4 * size, 1))
    radius = np.hypot(across, down)
    angle = np.degrees(np.arctan2(-down, across)) % 180
    inside = (radius >= band[0]) & (radius <= band[1])
    histogram, _ = np.histogram(angle[inside], bins=bins, range=(0, 180), weights=power[inside])
    peak = radius.ravel()[np.argmax(np.where(radius < 2 / size, 0, power))]
    return float(np.sort(histogram)[-2:].sum() / histogram.sum()), float(1 / peak)


def centred_rings(
    n: int,
    centre,
    period: float = 8.0,
    contrast: float = 0.3,
    seed: int = 0,
    spacing: float | None = None,
):
    """``n`` grey 64 x 64 ring images around ``centre`` (pixels from the image centre, x right,
    y up), random phase, mean 0.5, amplitude ``contrast``, a little pixel noise: uint8. With
    ``spacing``, rings around each point of a square lattice of centres that far apart (each
    pixel's radius to its nearest centre; the lattice shifted at random)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    axis = np.arange(64) - 31.5
    x, y = axis[None, :].repeat(64, 0), -axis[:, None].repeat(64, 1)
    radius = np.hypot(x - centre[0], y - centre[1])
    images = []
    for _ in range(n):
        if spacing is not None:
            shift = rng.uniform(0, spacing, 2)
            dx = (x - shift[0]) % spacing - spacing / 2
            dy = (y - shift[1]) % spacing - spacing / 2
            radius = np.hypot(dx, dy)
        pattern = np.cos(2 * np.pi * radius / period + rng.uniform(0, 2 * np.pi))
        noise = 0.02 * rng.standard_normal((64, 64, 3))
        image = 0.5 + contrast * pattern[..., None] * np.ones(3) + noise
        images.append(np.round(255 * np.clip(image, 0, 1)).astype(np.uint8))
    return np.stack(images)


def rings_probe(found, steps: int = 100) -> None:
    """Print what model A's rings logit and channel prefer (see the module's docstring)."""
    import dataclasses

    import keras
    import numpy as np
    from scipy import ndimage

    from featviz_extras import classification, objectives, render, textures, trained, transform

    model = found.models["A"]
    rings = textures.class_label("rings")
    weights, bias = model.get_layer("predictions").get_weights()
    features = keras.Model(model.input, model.get_layer(found.layer).output)

    def feature_maps(images):
        batch = trained.preprocess_input(np.asarray(images, dtype=np.float32))
        return features(batch, training=False).numpy()

    def logit_maps(images):  # A's logits per late-layer position; their mean is the logit
        return feature_maps(images) @ weights + bias

    def logits(images):
        return logit_maps(images).mean(axis=(1, 2))

    def top(role, image, count=2):
        name = found.names[role]
        probabilities = classification.predict(name, found.models[role], image)
        best = np.argsort(-probabilities)[:count]
        return ", ".join(f"{textures.CLASSES[k]} {probabilities[k]:.2f}" for k in best)

    print(
        f"A = {found.names['A']}: rings logit (pre-softmax), radial coherence, orientation share "
        f"(2 of 18 bins), period; 30 real textures per class (seed {REAL_SEED})"
    )
    for name in textures.CLASSES:
        images = textures.make_class(name, 30, 64, seed=REAL_SEED)
        values = logits(images)[:, rings]
        shares = [orientation_share(image) for image in images]
        print(
            f"  {name:<13} logit {values.mean():6.2f} (max {values.max():5.2f})  coherence "
            f"{np.mean([radial_coherence(image) for image in images]):.3f}  orientation "
            f"{np.mean([share for share, _ in shares]):.2f}  period "
            f"{np.median([period for _, period in shares]):4.1f}"
        )
    print(
        f"\nthe demo's rings renders (seed 0, {steps} steps; B, C: top 2, also after a 1 px blur)"
    )
    renders = {}
    for target in ("logit", "channel"):
        for method in render.METHODS:
            image = found.visualize(target, found.settings(method, steps, 0))[rings]
            renders[target, method] = image
            blurred = ndimage.gaussian_filter(image.astype(np.float64), (1, 1, 0))
            share, period = orientation_share(image)
            print(
                f"  {target}, {method:<12} logit {logits(image[None])[0, rings]:6.2f}  coherence "
                f"{radial_coherence(image):.3f}  orientation {share:.2f}  period {period:4.1f}  "
                f"grey sd {grey(image).std():4.1f}\n    B {top('B', image)}; C {top('C', image)}"
                f" | blurred: B {top('B', blurred)}; C {top('C', blurred)}"
            )
    maps = logit_maps(textures.make_class("rings", 30, 64, seed=REAL_SEED))[..., rings]
    image = renders["logit", "regularized"]
    render_map = logit_maps(image[None])[0, ..., rings]
    print(
        f"  rings logit per late-layer position: logit, regularized render: mean "
        f"{render_map.mean():.2f}, weakest {render_map.min():.2f}; 30 real rings: mean "
        f"{maps.mean():.2f}, strongest {maps.max():.2f}"
    )
    real = textures.make_class("rings", 30, 64, seed=REAL_SEED)
    real_sd = np.mean([grey(picture).std() for picture in real])
    print(f"  at equal contrast (grey sd; real rings have {real_sd:.1f}):")
    for sd in (20, 40):

        def scaled(picture, sd=sd):
            picture = picture.astype(np.float64)
            mean = picture.mean(axis=(0, 1))
            return np.clip(mean + (picture - mean) * sd / grey(picture).std(), 0, 255)

        print(
            f"    sd {sd}: render {logits(scaled(image)[None])[0, rings]:.2f}, real rings "
            f"{logits(np.stack([scaled(r) for r in real]))[:, rings].mean():.2f}"
        )

    print("\nwhere the rings evidence is: rings centred in the image (period 9 px, 40 images),")
    print("per late-layer position (4 px apart), by distance from the centre:")
    maps = logit_maps(centred_rings(40, (0.0, 0.0), period=9.0))
    margin = maps[..., rings] - np.delete(maps, rings, axis=-1).max(axis=-1)
    cell = np.arange(maps.shape[1]) * 4 + 1.5 - 31.5
    distance = np.hypot(cell[None, :], cell[:, None])
    for low, high in [(0, 8), (8, 16), (16, 24), (24, 32), (32, 46)]:
        inside = (distance >= low) & (distance < high)
        print(
            f"  {low:2d}-{high:2d} px: rings logit {maps[..., rings][:, inside].mean():5.2f}, "
            f"margin over the best other class {margin[:, inside].mean():5.2f}"
        )
    print("the centre moved d px to the right (20 images each): A's p(rings), its top class")
    for d in (0, 32, 64, 96, 128):
        values = logits(centred_rings(20, (d, 0.0), period=9.0, seed=d))
        probabilities = np.exp(values - values.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        winner = textures.CLASSES[np.bincount(values.argmax(axis=1), minlength=8).argmax()]
        print(f"  d {d:3d}: p(rings) {probabilities[:, rings].mean():.2f}, mostly {winner}")

    print("rings around a lattice of centres (period 8 px, 20 images each): A's rings logit")
    print(
        "  "
        + ", ".join(
            f"{'one centre' if spacing is None else f'{spacing} px apart'} "
            f"{logits(centred_rings(20, (0.0, 0.0), seed=1, spacing=spacing))[:, rings].mean():.2f}"
            for spacing in (None, 32, 24, 16, 12)
        )
    )

    channel = found.channels["rings"]
    print(f"\nchannel {channel} (the most rings-selective) on real textures, mean activation:")
    means = {
        name: feature_maps(textures.make_class(name, 30, 64, seed=REAL_SEED))[..., channel].mean()
        for name in textures.CLASSES
    }
    print("  " + ", ".join(f"{name} {value:.2f}" for name, value in means.items()))
    test_images, labels = textures.make_dataset(800, 64, seed=trained.TRAINING_SEED + 1)
    for role in ("A", "B", "C"):
        batch = trained.preprocess_input(test_images.astype(np.float32))
        predicted = found.models[role].predict(batch, batch_size=200, verbose=0).argmax(axis=1)
        errors = [
            f"{textures.CLASSES[t]}->{textures.CLASSES[q]}"
            for t, q in zip(labels, predicted, strict=True)
            if t != q
        ]
        print(f"  {role} on the 800 held-out textures: {len(errors)} errors {sorted(errors)}")
        if role != "A":
            probabilities = found.models[role].predict(batch[labels == rings], verbose=0)
            print(
                f"    its mean p(rings) on the held-out rings: {probabilities[:, rings].mean():.2f}"
            )

    print(f"\nthe rings logit alone, other settings (seed 0, {steps} steps)")
    base = render.Regularization()
    moves = transform.Transforms
    start = textures.make_class("rings", 1, 64, seed=5)
    print(
        f"  (the ring start: logit {logits(start)[0, rings]:.2f}, coherence "
        f"{radial_coherence(start[0]):.3f})"
    )
    cases = {
        "regularized, defaults": ("regularized", base, None),
        "regularized, start: a real ring": ("regularized", base, start),
        "seed, start: a real ring": ("seed", None, start),
        "transforms throughout (fade None)": (
            "regularized",
            dataclasses.replace(base, fade=None),
            None,
        ),
        "transforms 2 px, 0.95-1.05, 5 degrees": (
            "regularized",
            dataclasses.replace(base, transforms=moves(2, (0.95, 1.05), 5)),
            None,
        ),
        "rotation 180 only, throughout": (
            "regularized",
            dataclasses.replace(base, transforms=moves(0, (1, 1), 180), fade=None),
            None,
        ),
        "rotation 180, jitter 8, 0.9-1.1, throughout": (
            "regularized",
            dataclasses.replace(base, transforms=moves(8, (0.9, 1.1), 180), fade=None),
            None,
        ),
    }
    for name, (method, regularization, first) in cases.items():
        settings = found.settings(method, steps, 0, regularization=regularization)
        image = render.render(model, [objectives.class_logit(rings)], settings, start=first)[0]
        print(
            f"  {name:<44} logit {logits(image[None])[0, rings]:6.2f}  coherence "
            f"{radial_coherence(image):.3f}  B {top('B', image)}; C {top('C', image)}"
        )


def _row(name: str, row: dict) -> str:
    return (
        f"{name:<40}{row['transfer']:>9.3f}{row['spread']:>6.3f}{row['logit']:>7.3f}"
        f"{row['channel']:>8.3f}{row['own']:>8.3f}{row['orientation']:>8.1f}"
        f"{row['stuck']:>6.1f}{row['seconds']:>7.1f}"
    )


if __name__ == "__main__":
    main()
