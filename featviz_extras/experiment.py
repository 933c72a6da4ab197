"""The "what do other models call it?" experiment, end to end, on the texture CNNs trained here.

Model A (default ``texture_vgg``) is visualized, models B and C (``texture_resnet``,
``texture_mobilenet``) say what they see, as in the classic case where a maximized VGG19 channel
is classified by VGG19, VGG16 and ResNet50. Because the textures' meaning is known
(:mod:`featviz_extras.textures`), the answers can be checked:

1. for each class, A's logit, and the channel of A's late layer most selective for the class
   (:func:`select_channels`), are maximized with both methods of :mod:`featviz_extras.render`
   (``seed``: the classic loop; ``regularized``);
2. each visualization is classified by A (its own probability of the class) and by B and C
   (their top 3) through :func:`featviz_extras.classification.classify`;
3. the activation analysis of :mod:`featviz_extras.analysis` places each visualization among
   reference images of every class at A's late layer: channel means, mean L2 distance to each
   class's images, t-SNE;
4. :func:`quality` reduces the results to the quality numbers: the transfer rate, the
   orientation error of the ``stripes_*`` visualizations (:func:`textures.orientation`) and
   the self-activation.

:func:`trained_demo` runs it all (``python -m featviz_extras trained-demo --out DIR``) and
writes ``DIR/summary.json``, ``DIR/overview.png``, ``DIR/tsne.png`` and one PNG per
visualization in ``DIR/images/``. Images are uint8 RGB (H, W, 3), 64 x 64 by default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from featviz_extras import textures, trained

if TYPE_CHECKING:
    from featviz_extras import render

DEFAULT_MODELS = ("texture_vgg", "texture_resnet", "texture_mobilenet")
ROLES = ("A", "B", "C")
TARGETS = ("logit", "channel")
DEFAULT_STEPS = 100
REFERENCE_PER_CLASS = 50
REFERENCE_SEED = 2  # not the training (0) or test (1) images of the default recipe
TOP = 3


@dataclass
class Result:
    """One visualization and what the models and the analysis say about it.

    :param class_name: the class it stands for; ``method``: "seed" or "regularized";
        ``target``: "logit" (A's class logit) or "channel" (``channel`` of A's late layer).
    :param image: uint8 (H, W, 3).
    :param own_probability: A's probability of ``class_name``.
    :param others: ``{"B": [(label, probability), ...top 3], "C": [...]}``.
    :param orientation: for a ``stripes_*`` class, the measured angle of the bars (degrees,
        :func:`textures.orientation`), else None.
    :param distances: mean L2 distance, at A's late layer, from the visualization's channel
        means to each class's reference images; ``tsne``: its point in the t-SNE map.
    """

    class_name: str
    method: str
    target: str
    channel: int | None
    image: np.ndarray
    own_probability: float
    others: dict[str, list[tuple[str, float]]]
    orientation: float | None = None
    distances: dict[str, float] = field(default_factory=dict)
    tsne: tuple[float, float] | None = None

    @property
    def orientation_error(self) -> float | None:
        """Degrees between the measured bars and the class's angle (stripes classes only)."""
        if self.orientation is None:
            return None
        return textures.angle_difference(self.orientation, textures.STRIPE_ANGLES[self.class_name])

    @property
    def nearest_class(self) -> str | None:
        """The class whose reference images are nearest on average (None before analysis)."""
        return min(self.distances, key=self.distances.get) if self.distances else None

    def transferred(self, role: str) -> bool:
        """Whether model ``role``'s most probable label is the visualization's class."""
        return self.others[role][0][0] == self.class_name

    def png_name(self) -> str:
        """File name of the image, relative to the output folder."""
        return f"images/{self.class_name}_{self.target}_{self.method}.png"

    def to_json(self) -> dict[str, Any]:
        """The entry of ``summary.json``'s ``results`` list."""
        return {
            "class": self.class_name,
            "method": self.method,
            "target": self.target,
            "channel": self.channel,
            "png": self.png_name(),
            "own_probability": self.own_probability,
            "others": {role: [[label, p] for label, p in top] for role, top in self.others.items()},
            "orientation": None
            if self.orientation is None
            else {"angle": self.orientation, "error": self.orientation_error},
            "activation": {
                "nearest_class": self.nearest_class,
                "mean_distance": self.distances,
                "tsne": None if self.tsne is None else list(self.tsne),
            },
        }


class Experiment:
    """Models A, B, C loaded from their trained files, reference images of every class, and
    the channels of A's late layer chosen for the classes.

    :param names: the three texture model names for roles A, B, C (distinct).
    :param cache: folder of the trained models (default :func:`trained.cache_dir`); models it
        lacks are trained first (about 20 s each on 2 cores).
    :param per_class: reference images per class (seed :data:`REFERENCE_SEED`), used to choose
        the channels and for the activation analysis.
    :param progress: print a line per model trained.
    """

    def __init__(
        self,
        names: Sequence[str] = DEFAULT_MODELS,
        cache: str | os.PathLike | None = None,
        per_class: int = REFERENCE_PER_CLASS,
        progress: bool = False,
    ):
        from featviz_extras import analysis, models

        names = tuple(names)
        if len(names) != 3 or len(set(names)) != 3:
            raise ValueError(f"give three different texture models for A, B, C, not {names}")
        for name in names:
            if name not in models.TEXTURE_MODEL_NAMES:
                raise ValueError(
                    f"{name!r} is not a texture model; choose from {models.TEXTURE_MODEL_NAMES}"
                )
        self.names = dict(zip(ROLES, names, strict=True))
        self.paths = trained.trained_model_paths(names, cache, progress=progress)
        self.reports = {name: trained.report(path) for name, path in self.paths.items()}
        self.models = {
            role: models.load_model(name, weights=self.paths[name])
            for role, name in self.names.items()
        }
        self.size = trained.INPUT_SIZE
        self.layer = trained.FEATURE_LAYERS[self.names["A"]]
        images, labels = [], []
        for label, name in enumerate(textures.CLASSES):
            images.append(textures.make_class(name, per_class, self.size, REFERENCE_SEED + label))
            labels += [name] * per_class
        self.reference_images = np.concatenate(images)
        self.reference_labels = labels
        self.reference_vectors = analysis.activation_vectors(
            self.models["A"],
            self.layer,
            self.reference_images,
            self.names["A"],
            self.size,
            batch_size=100,
            progress=False,
        )
        self.channels, self.selectivity = select_channels(self.reference_vectors, labels)
        self.warnings: list[str] = []

    def settings(
        self,
        method: str,
        steps: int = DEFAULT_STEPS,
        seed: int = 0,
        step_size: float | None = None,
        regularization: render.Regularization | None = None,
    ) -> render.Settings:
        """The render settings of a method for model A: its size, its preprocessing, one seed;
        ``regularization`` only for "regularized" (None: the defaults)."""
        from featviz_extras import models, render

        return render.Settings(
            steps=steps,
            method=method,
            step_size=step_size,
            size=self.size,
            seed=seed,
            preprocess=models.preprocessor(self.names["A"]),
            regularization=regularization if method == "regularized" else None,
        )

    def visualize(self, target: str, settings: render.Settings) -> np.ndarray:
        """One visualization per class (in :data:`textures.CLASSES` order) of A's class logits
        (``target="logit"``) or of the chosen channels (``"channel"``), in one batch: uint8
        (8, H, W, 3). A :class:`render.ZeroGradientWarning` is kept in :attr:`warnings`
        (``"target, method: message"``) instead of being shown."""
        from featviz_extras import objectives, render

        if target == "logit":
            batch = [objectives.class_logit(k) for k in range(len(textures.CLASSES))]
        elif target == "channel":
            batch = [objectives.channel(self.layer, self.channels[c]) for c in textures.CLASSES]
        else:
            raise ValueError(f"unknown target {target!r}; valid targets are {TARGETS}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", render.ZeroGradientWarning)
            images = render.render(self.models["A"], batch, settings)
        for warning in caught:
            if issubclass(warning.category, render.ZeroGradientWarning):
                self.warnings.append(f"{target}, {settings.method}: {warning.message}")
            else:  # not ours: shown as Python would have
                warnings.showwarning(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        return images

    def judge(self, images: np.ndarray, method: str, target: str) -> list[Result]:
        """What A (its own probability), B and C (their top 3) say about one visualization
        per class (``images`` (8, H, W, 3) in class order); the orientation of the stripes."""
        from featviz_extras import classification

        results = []
        for index, (name, image) in enumerate(zip(textures.CLASSES, images, strict=True)):
            own = classification.predict(self.names["A"], self.models["A"], image)[index]
            predictions = classification.classify(
                image, {self.names[role]: self.models[role] for role in ("B", "C")}, top=TOP
            )
            others = {
                role: [(label, p) for _, label, p in predictions[self.names[role]]]
                for role in ("B", "C")
            }
            angle = textures.orientation(image)[0] if name in textures.STRIPE_ANGLES else None
            results.append(
                Result(
                    class_name=name,
                    method=method,
                    target=target,
                    channel=self.channels[name] if target == "channel" else None,
                    image=image,
                    own_probability=float(own),
                    others=others,
                    orientation=angle,
                )
            )
        return results

    def run(
        self, settings: Mapping[str, render.Settings], targets: Sequence[str] = TARGETS
    ) -> list[Result]:
        """Visualize and judge every target with every method of ``settings`` ({method:
        render settings}, e.g. from :meth:`settings`)."""
        results = []
        for target in targets:
            for method, method_settings in settings.items():
                if method_settings.method != method:
                    raise ValueError(f"settings[{method!r}] has method {method_settings.method!r}")
                images = self.visualize(target, method_settings)
                results += self.judge(images, method, target)
        return results

    def analyze(self, results: Sequence[Result], seed: int = 0) -> np.ndarray:
        """The activation analysis of the visualizations at A's late layer: fills each result's
        ``distances`` (mean L2 to each class's reference images) and ``tsne``; returns the
        t-SNE map (reference images first, then the results in order), (N + R, 2)."""
        from featviz_extras import analysis

        vectors = analysis.activation_vectors(
            self.models["A"],
            self.layer,
            np.stack([r.image for r in results]),
            self.names["A"],
            self.size,
            progress=False,
        )
        for result, vector in zip(results, vectors, strict=True):
            by_class = analysis.distances_by_class(
                vector, self.reference_vectors, self.reference_labels
            )
            result.distances = {name: float(by_class[name].mean()) for name in textures.CLASSES}
        embedding = analysis.tsne_embedding(
            np.vstack([self.reference_vectors, vectors]), seed=seed, n_threads=1
        )
        for result, point in zip(results, embedding[len(self.reference_vectors) :], strict=True):
            result.tsne = (float(point[0]), float(point[1]))
        return embedding

    def pair_summary(self, seed: int = 0) -> dict[str, dict[str, float]]:
        """Summaries of the L2 distances between reference images' channel means: same-class,
        different-class and random pairs (the scale the visualizations' distances are read on)."""
        from featviz_extras import analysis

        pairs = analysis.pair_distances(self.reference_vectors, self.reference_labels, seed=seed)
        return {group: analysis.summarize(d) for group, d in pairs.items()}


def select_channels(
    vectors: np.ndarray, labels: Sequence[str]
) -> tuple[dict[str, int], np.ndarray]:
    """The channel most selective for each class.

    :param vectors: channel means (N, C) of N labelled images at one layer.
    :param labels: their classes, (N,); every class of :data:`textures.CLASSES` must occur.
    :return: ``({class: channel}, selectivity)``; selectivity (8, C) is, per class and
        channel, the mean over the class's images minus the mean over the other images,
        divided by the channel's standard deviation over all images (channels that never vary
        get 0).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(labels)
    spread = vectors.std(axis=0)
    selectivity = np.zeros((len(textures.CLASSES), vectors.shape[1]))
    for k, name in enumerate(textures.CLASSES):
        inside = labels == name
        if not inside.any() or inside.all():
            raise ValueError(f"class {name!r} must have some but not all of the images")
        difference = vectors[inside].mean(axis=0) - vectors[~inside].mean(axis=0)
        selectivity[k] = np.divide(difference, spread, out=np.zeros_like(spread), where=spread > 0)
    channels = {name: int(np.argmax(selectivity[k])) for k, name in enumerate(textures.CLASSES)}
    return channels, selectivity


def quality(results: Sequence[Result]) -> dict[str, Any]:
    """The quality numbers of a set of results, per method and target ("logit", "channel")
    and for both targets together ("all"):

    * ``transfer_rate``: the fraction of (visualization, model B or C) pairs where the model's
      top label is the visualization's class; also per model (``transfer_rate_by_model``);
    * ``orientation_error``: {stripes class: degrees between the bars measured in the
      visualization and the class angle}, and their mean (``mean_orientation_error``);
    * ``self_activation``: the mean of A's probability of its own class, and
      ``own_probability_at_least_0.9``: for how many classes it is >= 0.9;
    * ``nearest_class_rate`` (after :meth:`Experiment.analyze`): the fraction whose nearest
      class at A's late layer is their own.
    """
    table: dict[str, Any] = {}
    for method in dict.fromkeys(r.method for r in results):
        table[method] = {}
        for target in [*dict.fromkeys(r.target for r in results), "all"]:
            chosen = [r for r in results if r.method == method and target in (r.target, "all")]
            roles = list(chosen[0].others)
            by_model = {
                role: float(np.mean([r.transferred(role) for r in chosen])) for role in roles
            }
            stripes = [r for r in chosen if r.orientation is not None]
            entry = {
                "transfer_rate": float(np.mean(list(by_model.values()))),
                "transfer_rate_by_model": by_model,
                "self_activation": float(np.mean([r.own_probability for r in chosen])),
                "own_probability_at_least_0.9": sum(r.own_probability >= 0.9 for r in chosen),
                "count": len(chosen),
            }
            if target != "all":
                entry["orientation_error"] = {r.class_name: r.orientation_error for r in stripes}
            entry["mean_orientation_error"] = (
                float(np.mean([r.orientation_error for r in stripes])) if stripes else None
            )
            if all(r.distances for r in chosen):
                entry["nearest_class_rate"] = float(
                    np.mean([r.nearest_class == r.class_name for r in chosen])
                )
            table[method][target] = entry
    return table


def format_quality(table: Mapping[str, Any]) -> str:
    """The table of :func:`quality` (or ``summary["quality"]``) as text, one line per target
    and method."""
    stripes = list(textures.STRIPE_ANGLES)
    angles = ", ".join(name.split("_")[1] for name in stripes)
    lines = [
        f"{'target, method':<22}{'transfer (B, C)':<20}{'A own p':<9}{'>= 0.9':<8}"
        f"orientation error, degrees ({angles})"
    ]
    for method, by_target in table.items():
        for target, entry in by_target.items():
            if target == "all":
                continue
            by_model = ", ".join(f"{rate:.2f}" for rate in entry["transfer_rate_by_model"].values())
            transfer = f"{entry['transfer_rate']:.2f} ({by_model})"
            counted = f"{entry['own_probability_at_least_0.9']}/{entry['count']}"
            errors = entry.get("orientation_error", {})
            measured = " ".join(f"{errors[n]:5.1f}" if n in errors else "    -" for n in stripes)
            lines.append(
                f"{target + ', ' + method:<22}{transfer:<20}{entry['self_activation']:<9.2f}"
                f"{counted:<8}{measured}"
            )
    return "\n".join(lines)


def caption(result: Result) -> str:
    """Three lines under a visualization in the overview: A's own probability, B's and C's
    top label and probability (a check mark where it is the class)."""
    channel = "" if result.channel is None else f"  (channel {result.channel})"
    lines = [f"A {result.own_probability:.2f}{channel}"]
    for role, top in result.others.items():
        label, probability = top[0]
        mark = " ✓" if label == result.class_name else ""
        lines.append(f"{role} {label} {probability:.2f}{mark}")
    return "\n".join(lines)


def write_outputs(
    out_dir: Path, experiment: Experiment, results: Sequence[Result], embedding: np.ndarray
) -> dict[str, Path]:
    """The PNG of every visualization, the overview figure and the t-SNE figure; returns
    ``{"overview": path, "tsne": path}``."""
    from featviz_extras import images, plots

    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for result in results:
        images.save_image(result.image, out_dir / result.png_name())
    columns = list(dict.fromkeys((r.target, r.method) for r in results))
    cells = {(r.class_name, r.target, r.method): r for r in results}
    examples = {
        name: experiment.reference_images[experiment.reference_labels.index(name)]
        for name in textures.CLASSES
    }
    grid = [
        [examples[name]] + [cells[name, *column].image for column in columns]
        for name in textures.CLASSES
    ]
    captions = [
        ["reference image"] + [caption(cells[name, *column]) for column in columns]
        for name in textures.CLASSES
    ]
    names = experiment.names
    overview = plots.plot_image_grid(
        grid,
        out_dir / "overview.png",
        row_labels=textures.CLASSES,
        column_labels=["example"] + [f"{target}, {method}" for target, method in columns],
        captions=captions,
        title=f"A = {names['A']} visualized (A: its probability of the class); "
        f"B = {names['B']}, C = {names['C']}: top label (✓: the class)",
    )
    labels = experiment.reference_labels + [r.class_name for r in results]
    kinds = [None] * len(experiment.reference_labels) + [f"{r.target}, {r.method}" for r in results]
    tsne = plots.plot_embedding(
        embedding,
        labels,
        out_dir / "tsne.png",
        kinds,
        title=f"t-SNE of {names['A']} {experiment.layer} channel means",
    )
    return {"overview": overview, "tsne": tsne}


def trained_demo(
    out_dir: str | os.PathLike,
    models: Sequence[str] = DEFAULT_MODELS,
    cache: str | os.PathLike | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    regularization: render.Regularization | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the whole experiment and write its outputs into ``out_dir`` (created if needed).

    :param models: texture model names for A (visualized), B and C (classifiers).
    :param cache: folder of the trained models (default :func:`trained.cache_dir`); missing
        models are trained and kept there.
    :param steps: gradient-ascent steps of both methods; ``seed``: their seed (and t-SNE's).
    :param regularization: settings of the "regularized" method (None: its defaults).
    :param progress: print what is being done.
    :return: the content of ``summary.json``: ``classes``, ``models`` {A, B, C: name},
        ``results`` (one entry per visualization: class, method, target, png (relative to
        ``out_dir``), own_probability, others {B, C: [[label, probability], ...top 3]}, ...),
        ``quality`` (:func:`quality`), and the settings, channels, training reports, figures
        and timings.
    """
    from featviz_extras import render

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = {"start": time.perf_counter()}

    def say(text: str) -> None:
        if progress:
            print(text, flush=True)

    experiment = Experiment(models, cache, progress=progress)
    clock["models"] = time.perf_counter()
    say(
        f"A = {experiment.names['A']}, B = {experiment.names['B']}, C = {experiment.names['C']}; "
        f"visualizing {len(TARGETS) * len(render.METHODS) * len(textures.CLASSES)} images ..."
    )
    settings = {
        method: experiment.settings(method, steps, seed, regularization=regularization)
        for method in render.METHODS
    }
    results = experiment.run(settings)
    clock["render"] = time.perf_counter()
    embedding = experiment.analyze(results, seed)
    clock["analysis"] = time.perf_counter()
    figures = write_outputs(out_dir, experiment, results, embedding)
    regularization = regularization or render.Regularization()
    summary = {
        "classes": list(textures.CLASSES),
        "models": experiment.names,
        "results": [result.to_json() for result in results],
        "quality": quality(results),
        "settings": {
            "size": experiment.size,
            "steps": steps,
            "seed": seed,
            "step_size": {m: s.resolved_step_size() for m, s in settings.items()},
            "regularization": dataclasses.asdict(regularization),
        },
        "layer": experiment.layer,
        "channels": experiment.channels,
        "reference": {
            "images_per_class": len(experiment.reference_labels) // len(textures.CLASSES),
            "pairs": experiment.pair_summary(seed),
        },
        "training": {
            name: {**experiment.reports[name].to_json(), "path": str(path)}
            for name, path in experiment.paths.items()
        },
        "figures": {name: str(path.relative_to(out_dir)) for name, path in figures.items()},
        "warnings": experiment.warnings,
    }
    clock["end"] = time.perf_counter()
    summary["seconds"] = {
        "models": clock["models"] - clock["start"],
        "render_and_classify": clock["render"] - clock["models"],
        "analysis": clock["analysis"] - clock["render"],
        "total": clock["end"] - clock["start"],
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
