"""Command line: ``python -m featviz_extras visualize | classify | analyze``.

``visualize`` maximizes one channel and writes the image (and optionally a GIF of the ascent
and a figure with the objective per step); ``classify`` asks several ImageNet models what an
image shows; ``analyze`` places an image among real images in a layer's activation space and
writes plots, a JSON summary and a CSV of distances. ``--weights`` is ``imagenet`` (downloaded
by Keras: needs the internet once), ``none`` (random weights: runs offline, for testing) or the
path of a local weights file. Errors are reported in one line, with exit status 1.
"""

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from featviz_extras.models import MODEL_NAMES as MODEL_CHOICES  # models imports TF lazily

if TYPE_CHECKING:
    import keras

PROGRAM = "python -m featviz_extras"


def parse_weights(text: str) -> str | None:
    """``--weights`` value: ``"imagenet"``, ``None`` for ``none``, else a file path (kept as is)."""
    if text.lower() == "none":
        return None
    if text.lower() == "imagenet":
        return "imagenet"
    return text


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def model_list(text: str) -> list[str]:
    """argparse type: comma-separated model names, each one of :data:`MODEL_CHOICES`."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_CHOICES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model names {unknown}; choose from {','.join(MODEL_CHOICES)}"
        )
    return names


def _add_model_arguments(parser: argparse.ArgumentParser, layer_default: str | None) -> None:
    parser.add_argument("--model", choices=MODEL_CHOICES, default="vgg19", help="default: vgg19")
    parser.add_argument(
        "--layer",
        default=layer_default,
        required=layer_default is None,
        help=f"layer name (default: {layer_default})" if layer_default else "layer name",
    )
    _add_weights_argument(parser)
    parser.add_argument(
        "--size", type=positive_int, help="image side in pixels (default: the model's, 224/299)"
    )


def _add_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        type=parse_weights,
        default="imagenet",
        metavar="imagenet|none|PATH",
        help="imagenet (default; downloaded by Keras), none (random weights), or a local "
        ".h5/.keras file",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the three subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="See what a channel of a Keras ImageNet CNN means: visualize it by gradient "
        "ascent, classify the result with several models, analyze where it sits among real "
        "images in the layer's activation space.",
        epilog="--weights: imagenet (downloaded by Keras, needs the internet once), none (random "
        "weights, runs offline), or a local .h5/.keras file. Run COMMAND --help for its options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    visualize = commands.add_parser(
        "visualize",
        help="maximize one channel by gradient ascent",
        description="Maximize the mean activation of one channel of a layer by gradient ascent "
        "and write the image as PNG.",
    )
    _add_model_arguments(visualize, layer_default=None)
    visualize.add_argument("--channel", type=int, required=True, help="channel index")
    visualize.add_argument("--out", type=Path, required=True, help="output image (.png)")
    visualize.add_argument("--gif", type=Path, help="also write the ascent as an animated GIF")
    visualize.add_argument("--plot", type=Path, help="also write a figure with the objective curve")
    visualize.add_argument("--method", choices=("seed", "regularized"), default="seed")
    visualize.add_argument("--steps", type=int, default=100, help="default: 100")
    visualize.add_argument(
        "--step-size", type=float, help="default: 0.1 (seed), 0.05 (regularized)"
    )
    visualize.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    visualize.add_argument(
        "--frame-every",
        type=positive_int,
        default=10,
        help="a GIF frame every this many steps (default: 10)",
    )
    visualize.set_defaults(run=run_visualize)

    classify = commands.add_parser(
        "classify",
        help="top ImageNet classes of an image, from several models",
        description="Print the most probable ImageNet classes of an image for several models.",
    )
    classify.add_argument("image", type=Path, help="image file (e.g. the output of visualize)")
    classify.add_argument(
        "--models",
        type=model_list,
        default=["vgg19", "vgg16", "resnet50"],
        metavar="NAME[,NAME...]",
        help="default: vgg19,vgg16,resnet50",
    )
    _add_weights_argument(classify)
    classify.add_argument("--top", type=positive_int, default=3, help="default: 3")
    classify.add_argument("--json", type=Path, help="also write the predictions as JSON")
    classify.set_defaults(run=run_classify)

    analyze = commands.add_parser(
        "analyze",
        help="place an image among real images in a layer's activation space",
        description="Compare the channel-mean activation vector of a target image with those "
        "of an ImageNet-style image folder: L2 distances (target vs. each class; same-class, "
        "different-class and random pairs), t-SNE; writes PNG plots, distances.json and "
        "distances.csv to --out-dir.",
    )
    analyze.add_argument("--target", type=Path, required=True, help="target image file")
    analyze.add_argument(
        "--images", type=Path, required=True, help="folder <root>/<class>/*.JPEG (also .jpg, .png)"
    )
    _add_model_arguments(analyze, layer_default="block5_conv4")
    analyze.add_argument(
        "--channel",
        type=int,
        default=4,
        help="channel highlighted in the activation profile (default: 4)",
    )
    analyze.add_argument(
        "--out-dir",
        type=Path,
        default=Path("featviz_analysis"),
        help="output folder, created if needed (default: featviz_analysis)",
    )
    analyze.add_argument("--max-per-class", type=positive_int, help="images used per class")
    analyze.add_argument("--batch-size", type=positive_int, default=32, help="default: 32")
    analyze.add_argument(
        "--pairs",
        type=positive_int,
        default=2000,
        help="pairs drawn per distance group (default: 2000)",
    )
    analyze.add_argument("--perplexity", type=float, help="t-SNE perplexity (default: automatic)")
    analyze.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    analyze.set_defaults(run=run_analyze)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 error, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    try:
        args.run(args)
    except (ValueError, TypeError, IndexError, RuntimeError, OSError) as error:
        print(f"{PROGRAM} {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROGRAM} {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------


def load_model_with_layer(name: str, weights: str | None, layer: str, seed: int) -> "keras.Model":
    """A named model that has ``layer``: without the classifier head (any input size) if the
    layer is in the convolutional part, else with it. Random weights are seeded by ``seed``."""
    import keras

    from featviz_extras import models

    keras.utils.set_random_seed(seed)
    model = models.load_model(name, weights=weights, include_top=False)
    if layer not in models.layer_names(model):
        model = models.load_model(name, weights=weights, include_top=True)
    models.get_layer(model, layer)  # unknown layer: ValueError listing the valid names
    return model


def _output_folder_exists(path: Path) -> None:
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")


def run_visualize(args: argparse.Namespace) -> None:
    """``visualize``: render one channel; write --out, and --gif / --plot if given."""
    from featviz_extras import models, plots, render

    for path in (args.out, args.gif, args.plot):
        if path is not None:
            _output_folder_exists(path)
    if args.gif is not None and args.gif.suffix.lower() != ".gif":
        raise ValueError(f"--gif {args.gif} should end in .gif")
    model = load_model_with_layer(args.model, args.weights, args.layer, args.seed)
    models.check_channel(model, args.layer, args.channel)
    image, history = render.visualize(
        model,
        args.layer,
        args.channel,
        steps=args.steps,
        step_size=args.step_size,
        size=args.size or models.input_size(args.model),
        seed=args.seed,
        method=args.method,
        return_history=True,
        frame_every=args.frame_every,
        preprocess=models.preprocessor(args.model),
        progress=True,
    )
    written = [plots.save_image(image, args.out)]
    if args.gif is not None:
        written.append(plots.save_gif(history.frames, args.gif))
    if args.plot is not None:
        title = f"{args.model} {args.layer} channel {args.channel}"
        written.append(plots.plot_visualization(image, args.plot, title, history.activation))
    start, end = history.activation[0], history.activation[-1]
    print(
        f"{args.model} {args.layer} channel {args.channel}: mean activation {start:.4g} -> "
        f"{end:.4g} after {args.steps} steps ({args.method})"
    )
    print("wrote " + ", ".join(str(path) for path in written))


def run_classify(args: argparse.Namespace) -> None:
    """``classify``: print (and optionally save) each model's top classes for the image."""
    from featviz_extras.classify import classify

    if args.json is not None:
        _output_folder_exists(args.json)
    results = classify(args.image, models=args.models, top=args.top, weights=args.weights)
    for name, predictions in results.items():
        print(name)
        for rank, (wnid, class_name, probability) in enumerate(predictions, start=1):
            print(f"  {rank}. {wnid} {class_name:<30} {100 * probability:6.2f}%")
    if args.json is not None:
        table = {
            name: [{"wnid": w, "name": n, "probability": p} for w, n, p in predictions]
            for name, predictions in results.items()
        }
        args.json.write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote {args.json}")


def run_analyze(args: argparse.Namespace) -> None:
    """``analyze``: activation vectors of target and folder, distances, t-SNE; plots and tables."""
    from featviz_extras import analysis, models, plots

    paths, labels = analysis.labelled_images(args.images, args.max_per_class)
    target_image = analysis.load_image(args.target)  # fails early if unreadable
    model = load_model_with_layer(args.model, args.weights, args.layer, args.seed)
    models.check_channel(model, args.layer, args.channel)
    size = args.size or analysis.model_input_size(model) or models.input_size(args.model)
    target = analysis.activation_vectors(
        model, args.layer, [target_image], args.model, size=size, progress=False
    )[0]
    vectors = analysis.activation_vectors(
        model, args.layer, paths, args.model, size=size, batch_size=args.batch_size
    )
    to_target = analysis.l2_distances(target, vectors)
    by_class = analysis.distances_by_class(target, vectors, labels)
    groups = analysis.pair_distances(vectors, labels, n_pairs=args.pairs, seed=args.seed)
    perplexity = args.perplexity
    if perplexity is None:
        perplexity = analysis.auto_perplexity(len(vectors) + 1)
    embedding = analysis.tsne_embedding(vectors, target, perplexity=perplexity, seed=args.seed)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    class_summaries = {label: analysis.summarize(d) for label, d in by_class.items()}
    closest = sorted(class_summaries, key=lambda label: class_summaries[label]["mean"])
    title = f"{args.model} {args.layer}"
    written = [
        plots.plot_activation_profile(
            target,
            args.out_dir / "activation_profile.png",
            args.channel,
            title=f"{args.target.name}: {title} channel means",
        ),
        plots.plot_distance_histograms(
            {**groups, "target_vs_images": to_target},
            args.out_dir / "distances.png",
            markers={f"target vs {closest[0]} (mean)": class_summaries[closest[0]]["mean"]},
            title=f"{title}: L2 distances of channel-mean activations",
        ),
        plots.plot_tsne(
            embedding,
            labels,
            args.out_dir / "tsne.png",
            target_label=args.target.name,
            title=f"{title}: t-SNE (perplexity {perplexity:g})",
        ),
    ]
    summary = {
        "model": args.model,
        "layer": args.layer,
        "channel": args.channel,
        "weights": args.weights,
        "image_size": size,
        "target": str(args.target),
        "images": str(args.images),
        "n_images": len(paths),
        "target_channel_activation": float(target[args.channel]),
        "target_vs_images": analysis.summarize(to_target),
        "target_vs_class": {label: class_summaries[label] for label in closest},
        "pairs": {group: analysis.summarize(d) for group, d in groups.items()},
        "tsne": {"perplexity": perplexity, "seed": args.seed, "target": embedding[-1].tolist()},
    }
    (args.out_dir / "distances.json").write_text(json.dumps(summary, indent=2) + "\n")
    with open(args.out_dir / "distances.csv", "w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(
            ["path", "class", "distance_to_target", "channel_activation", "tsne_x", "tsne_y"]
        )
        for i, path in enumerate(paths):
            writer.writerow(
                [
                    path,
                    labels[i],
                    f"{to_target[i]:.6g}",
                    f"{vectors[i, args.channel]:.6g}",
                    *embedding[i].round(4),
                ]
            )
    written += [args.out_dir / "distances.json", args.out_dir / "distances.csv"]
    print(
        f"{len(paths)} images in {len(by_class)} classes; closest classes to the target "
        "(mean L2 distance):"
    )
    for label in closest[:5]:
        print(f"  {label:<20} {class_summaries[label]['mean']:.4g}")
    print("wrote " + ", ".join(str(path) for path in written))
