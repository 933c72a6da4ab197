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

Usage: python bench/bench_featviz_trained.py [--cache DIR] [--search] [--seeds 0 1 2 3 4]
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
    args = parser.parse_args()

    import tensorflow as tf

    from featviz_extras import experiment, models, trained

    with tempfile.TemporaryDirectory() as folder:
        cache = args.cache or Path(folder) / "cache"
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


def _row(name: str, row: dict) -> str:
    return (
        f"{name:<40}{row['transfer']:>9.3f}{row['spread']:>6.3f}{row['logit']:>7.3f}"
        f"{row['channel']:>8.3f}{row['own']:>8.3f}{row['orientation']:>8.1f}"
        f"{row['stuck']:>6.1f}{row['seconds']:>7.1f}"
    )


if __name__ == "__main__":
    main()
