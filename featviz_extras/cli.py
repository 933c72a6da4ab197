"""Command line: ``python -m featviz_extras visualize | classify | analyze | trained-demo``.

``visualize`` maximizes one channel and writes the image (and optionally a GIF of the ascent
and a figure with the objective per step); ``classify`` asks several ImageNet models what an
image shows; ``analyze`` places an image among real images in a layer's activation space and
writes plots, a JSON summary and a CSV of distances. ``--weights`` is ``imagenet`` (downloaded
by Keras: needs the internet once), ``none`` (random weights: runs offline, for testing) or the
path of a local weights file. ``trained-demo`` runs the whole experiment on small texture CNNs
trained here (:mod:`featviz_extras.experiment`). Errors are reported in one line, with exit
status 1.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

# no TensorFlow here: models, render and experiment import it lazily
from featviz_extras import experiment, images, missing_extra, trained
from featviz_extras.models import MODEL_NAMES as MODEL_CHOICES
from featviz_extras.render import DEFAULT_STEP_SIZE, METHODS

if TYPE_CHECKING:
    import keras

PROGRAM = "python -m featviz_extras"
WEIGHTS_CHOICES = "imagenet|none|PATH"


class CommandError(Exception):
    """A mistake in the command's arguments found while it runs (printed as one line)."""


def parse_weights(text: str) -> str | None:
    """``--weights`` value: ``"imagenet"``, ``None`` for ``none``, else the path of an existing
    file (kept as given)."""
    if text.lower() == "none":
        return None
    if text.lower() == "imagenet":
        return "imagenet"
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(
            f"weights file {text!r} does not exist; give --weights {WEIGHTS_CHOICES} (the path "
            "of a local .h5/.keras weights file)"
        )
    return text


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
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
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the random weights (--weights none) and of every random draw (default: 0)",
    )


def model_triple(text: str) -> list[str]:
    """argparse type: three different comma-separated texture model names (A,B,C)."""
    from featviz_extras.models import TEXTURE_MODEL_NAMES

    names = [name.strip() for name in text.split(",")]
    if len(names) != 3 or len(set(names)) != 3 or not set(names) <= set(TEXTURE_MODEL_NAMES):
        raise argparse.ArgumentTypeError(
            f"expected three different texture models A,B,C from {','.join(TEXTURE_MODEL_NAMES)}, "
            f"got {text!r}"
        )
    return names


def _add_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        type=parse_weights,
        default="imagenet",
        metavar=WEIGHTS_CHOICES,
        help="imagenet (default; downloaded by Keras), none (random weights), or a local "
        ".h5/.keras file",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the four subcommands."""
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
    visualize.add_argument("--method", choices=METHODS, default="seed", help="default: seed")
    visualize.add_argument("--steps", type=non_negative_int, default=100, help="default: 100")
    defaults = ", ".join(f"{step} ({method})" for method, step in DEFAULT_STEP_SIZE.items())
    visualize.add_argument("--step-size", type=float, help=f"default: {defaults}")
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
    analyze.set_defaults(run=run_analyze)

    demo = commands.add_parser(
        "trained-demo",
        help="the whole experiment on small texture CNNs trained here (offline, minutes)",
        description="Train (once, then cached) three small CNNs on procedural textures of known "
        "meaning; visualize model A's class logits and most class-selective late channels with "
        "both methods; have models B and C classify each visualization; place them among real "
        "textures in A's activation space. Writes DIR/summary.json, DIR/overview.png, "
        "DIR/tsne.png and DIR/images/*.png.",
    )
    demo.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    demo.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help=f"folder of the trained models (default: ${trained.CACHE_ENV}, else "
        "~/.cache/featviz_extras)",
    )
    demo.add_argument(
        "--models",
        type=model_triple,
        default=list(experiment.DEFAULT_MODELS),
        metavar="A,B,C",
        help=f"default: {','.join(experiment.DEFAULT_MODELS)}",
    )
    demo.add_argument(
        "--steps",
        type=non_negative_int,
        default=experiment.DEFAULT_STEPS,
        help=f"gradient-ascent steps of both methods (default: {experiment.DEFAULT_STEPS})",
    )
    demo.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the renders (default: 0)"
    )
    demo.set_defaults(run=run_trained_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 error, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    from featviz_extras.models import WeightsDownloadError

    try:
        args.run(args)
    except ModuleNotFoundError as error:  # the featviz extra is not installed: say what to do
        hint = missing_extra(error)
        if hint is None:
            raise
        _error(args, hint)
        return 1
    except WeightsDownloadError as error:
        _error(
            args,
            f"could not download ImageNet weights for {error.model_name}; pass "
            "--weights PATH (a local .h5/.keras file, e.g. copied from "
            "~/.keras/models/ on a machine with internet) or --weights none (random "
            f"weights). The error was: {error.cause}",
        )
        return 1
    except (CommandError, ValueError, TypeError, IndexError, RuntimeError, OSError) as error:
        _error(args, str(error))
        return 1
    except KeyboardInterrupt:
        print(f"{PROGRAM} {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _error(args: argparse.Namespace, message: str) -> None:
    print(f"{PROGRAM} {args.command}: error: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------


def load_model(args: argparse.Namespace) -> "keras.Model":
    """The model of ``--model`` that has ``--layer`` (random weights seeded by ``--seed``);
    checks ``--channel``."""
    check_texture_weights([args.model], args.weights)  # before the slow imports
    import keras

    from featviz_extras import models

    keras.utils.set_random_seed(args.seed)
    model = models.load_model_for_layer(args.model, args.layer, args.weights)
    models.check_channel(model, args.layer, args.channel)
    return model


def check_texture_weights(names: list[str], weights: str | None) -> None:
    """Texture models have no ImageNet weights: say which ``--weights`` to pass instead."""
    from featviz_extras import models

    textured = [name for name in names if name in models.TEXTURE_MODEL_NAMES]
    if textured and weights == "imagenet":
        raise CommandError(
            f"{textured[0]} is a texture model trained here and has no ImageNet weights; pass "
            f"--weights PATH, its .keras file ({textured[0]}-*.keras in {trained.cache_dir()}, "
            f"written by `{PROGRAM} trained-demo`), or --weights none"
        )


def image_size(args: argparse.Namespace, model: "keras.Model") -> int:
    """``--size``, else the model's fixed input size, else the named model's native size."""
    from featviz_extras import models

    fixed = models.fixed_input_size(model)
    if args.size is not None and fixed is not None and args.size != fixed:
        raise CommandError(
            f"--size {args.size} does not fit layer {args.layer!r}: it is in the classifier "
            f"head of {args.model}, whose input is {fixed}x{fixed}; pass --size {fixed} or leave "
            "--size out"
        )
    return args.size or fixed or models.input_size(args.model)


def run_visualize(args: argparse.Namespace) -> None:
    """``visualize``: render one channel; write --out, and --gif / --plot if given."""
    from featviz_extras import models, plots, render

    for path in (args.out, args.gif, args.plot):  # before the slow work, as analyze does
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if args.gif is not None and args.gif.suffix.lower() != ".gif":
        raise CommandError(f"--gif {args.gif} should end in .gif")
    model = load_model(args)
    settings = render.Settings(
        steps=args.steps,
        method=args.method,
        step_size=args.step_size,
        size=image_size(args, model),
        seed=args.seed,
        preprocess=models.preprocessor(args.model),
        return_history=True,
        frame_every=args.frame_every,
        progress=True,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", render.ZeroGradientWarning)
        image, history = render.visualize(model, args.layer, args.channel, settings)
    for warning in caught:
        if issubclass(warning.category, render.ZeroGradientWarning):
            print(f"{PROGRAM} visualize: warning: {warning.message}", file=sys.stderr)
        else:  # not ours: shown as Python would have
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    written = [images.save_image(image, args.out)]
    if args.gif is not None:
        written.append(images.save_gif(history.frames, args.gif))
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
    import json

    from featviz_extras.classification import RANDOM_WEIGHTS_NOTE, classify

    if args.json is not None:
        images.output_path(args.json)
    check_texture_weights(args.models, args.weights)
    result = classify(args.image, models=args.models, top=args.top, weights=args.weights)
    print(result.table())
    if result.random_weights:
        print(
            f"NOTE: {RANDOM_WEIGHTS_NOTE} (--weights none); use --weights imagenet or "
            "--weights PATH"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        print(f"wrote {args.json}")


def run_analyze(args: argparse.Namespace) -> None:
    """``analyze``: activation vectors of target and folder, distances, t-SNE; plots and tables."""
    from featviz_extras import analysis

    # the inputs are checked before the (slow) model loading
    paths, _ = images.labelled_images(args.images, args.max_per_class)
    images.load_image(args.target)
    points = len(paths) + 1  # the images and the target
    if args.perplexity is not None and not 0 < args.perplexity < points:
        raise CommandError(
            f"--perplexity {args.perplexity:g} must be above 0 and below {points} (the number "
            f"of images plus the target); leave --perplexity out to use "
            f"{analysis.auto_perplexity(points):g}"
        )
    model = load_model(args)
    result = analysis.analyze(
        model,
        args.layer,
        args.target,
        args.images,
        args.model,
        args.channel,
        size=image_size(args, model),
        max_per_class=args.max_per_class,
        batch_size=args.batch_size,
        n_pairs=args.pairs,
        perplexity=args.perplexity,
        seed=args.seed,
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    written = result.write_plots(args.out_dir)
    written.append(
        result.write_json(
            args.out_dir / "distances.json", extra={"model": args.model, "weights": args.weights}
        )
    )
    written.append(result.write_csv(args.out_dir / "distances.csv"))
    closest = result.class_summaries()
    print(
        f"{len(result.paths)} images in {len(closest)} classes; closest classes to the target "
        "(mean L2 distance):"
    )
    for label, summary in list(closest.items())[:5]:
        print(f"  {label:<20} {summary['mean']:.4g}")
    print("wrote " + ", ".join(str(path) for path in written))


def run_trained_demo(args: argparse.Namespace) -> None:
    """``trained-demo``: run :func:`featviz_extras.experiment.trained_demo`; print the quality
    numbers and what was written."""
    from featviz_extras import experiment

    if args.out.exists() and not args.out.is_dir():
        raise CommandError(f"--out {args.out} is a file; give a folder (created if needed)")
    summary = experiment.trained_demo(
        args.out, models=args.models, cache=args.cache, steps=args.steps, seed=args.seed
    )
    for message in summary["warnings"]:
        print(f"{PROGRAM} trained-demo: warning: {message}", file=sys.stderr)
    print(experiment.format_quality(summary["quality"]))
    seconds = summary["seconds"]
    print(
        f"{seconds['total']:.0f} s in all ({seconds['models']:.0f} s to train or load the models)"
    )
    written = ["summary.json", *summary["figures"].values(), "images/"]
    print("wrote " + ", ".join(str(args.out / name) for name in written))
