"""Figures of feature-visualization results, written to files (matplotlib).

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state, no display
needed); the file format follows the suffix of the path (use ``.png``). Every function returns the
path it wrote. Images themselves (PNG, GIF) are written by :mod:`featviz_extras.images`.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from featviz_extras.images import output_path, to_uint8

FIGURE_DPI = 120
HIGHLIGHT = "tab:red"
GROUP_COLOURS = {
    "same_class": "tab:green",
    "different_class": "tab:orange",
    "random": "tab:gray",
    "target_vs_images": "tab:purple",
}


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(figure, path: Path, title: str | None, axes=None) -> Path:
    """Give ``axes`` (or, without axes, the whole figure) its title, write the figure to
    ``path`` and return the path."""
    if title and axes is not None:
        axes.set_title(title)
    elif title:
        figure.suptitle(title)
    figure.savefig(path, dpi=FIGURE_DPI)
    return path


def plot_visualization(
    image: np.ndarray,
    path: str | Path,
    title: str | None = None,
    activation: np.ndarray | None = None,
) -> Path:
    """The visualization ``(H, W, 3)`` in [0, 255], beside the objective per ascent step
    (``activation``, shape ``(steps + 1,)``, e.g. ``history.activation``) if given."""
    path = output_path(path)
    image = to_uint8(image)
    if activation is None:
        figure = _figure(5, 5)
        image_axes = figure.add_subplot()
    else:
        activation = np.asarray(activation, dtype=np.float64)
        if activation.ndim != 1 or activation.size == 0:
            raise ValueError(f"activation has shape {activation.shape}; expected (steps + 1,)")
        figure = _figure(10, 4.5)
        image_axes, curve_axes = figure.subplots(1, 2, width_ratios=[1, 1.2])
        curve_axes.plot(np.arange(activation.size), activation, color=HIGHLIGHT)
        curve_axes.set_xlabel("gradient-ascent step")
        curve_axes.set_ylabel("objective (mean channel activation)")
        curve_axes.grid(alpha=0.3)
    image_axes.imshow(image)
    image_axes.set_axis_off()
    return _save(figure, path, title)


def plot_activation_profile(
    vector: np.ndarray,
    path: str | Path,
    channel: int | None = None,
    title: str | None = None,
) -> Path:
    """Bar chart of a channel-mean activation vector ``(C,)`` over the channel index, with
    ``channel`` highlighted (and its value written in the legend)."""
    path = output_path(path)
    vector = np.asarray(vector, dtype=np.float64)
    if vector.ndim != 1 or vector.size == 0:
        raise ValueError(f"vector has shape {vector.shape}; expected (C,), one value per channel")
    if channel is not None and not 0 <= channel < vector.size:
        raise IndexError(f"channel {channel} is out of range for {vector.size} channels")
    figure = _figure(10, 4)
    axes = figure.add_subplot()
    axes.bar(np.arange(vector.size), vector, width=1.0, color="tab:blue")
    if channel is not None:
        axes.bar(
            [channel],
            [vector[channel]],
            width=1.0,
            color=HIGHLIGHT,
            label=f"channel {channel}: {vector[channel]:.3g}",
        )
        axes.legend(loc="upper right")
    axes.set_xlim(-0.5, vector.size - 0.5)
    axes.set_xlabel("channel")
    axes.set_ylabel("mean activation")
    return _save(figure, path, title, axes)


def plot_distance_histograms(
    groups: Mapping[str, np.ndarray],
    path: str | Path,
    markers: Mapping[str, float] | None = None,
    bins: int = 40,
    title: str | None = None,
) -> Path:
    """Histograms (normalized to unit area) of L2 distances, one per group, on shared bins.

    ``groups`` maps a group name (e.g. the keys of :func:`analysis.pair_distances`, or
    ``"target vs images"``) to distances ``(n,)``; ``markers`` maps a label to a distance drawn
    as a vertical line (e.g. the target's mean distance to one class).
    """
    path = output_path(path)
    if not groups:
        raise ValueError("no distance groups to plot")
    values = {name: np.asarray(d, dtype=np.float64).ravel() for name, d in groups.items()}
    empty = [name for name, d in values.items() if d.size == 0]
    if empty:
        raise ValueError(f"distance groups {empty} are empty")
    everything = np.concatenate(list(values.values()) + [list((markers or {}).values())])
    edges = np.histogram_bin_edges(everything, bins=bins)
    figure = _figure(8, 4.5)
    axes = figure.add_subplot()
    for name, distances in values.items():
        axes.hist(
            distances,
            bins=edges,
            density=True,
            histtype="step",
            linewidth=1.8,
            color=GROUP_COLOURS.get(name),
            label=f"{name.replace('_', ' ')} (n={distances.size})",
        )
    for i, (label, value) in enumerate((markers or {}).items()):
        axes.axvline(value, color=HIGHLIGHT, linestyle=("--", ":", "-.")[i % 3], label=label)
    axes.set_xlabel("L2 distance between activation vectors")
    axes.set_ylabel("density")
    axes.legend()
    return _save(figure, path, title, axes)


def plot_tsne(
    embedding: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    with_target: bool = True,
    target_label: str = "target",
    title: str | None = None,
) -> Path:
    """Scatter of a 2-D embedding ``(N, 2)``, or ``(N + 1, 2)`` whose last row is the target
    (``with_target=True``, as returned by :func:`analysis.tsne_embedding` with a target).

    Points are coloured by their ``N`` labels (legend shown up to 20 classes); the target is a
    large red star.
    """
    path = output_path(path)
    embedding = np.asarray(embedding, dtype=np.float64)
    labels = np.asarray(labels)
    expected = len(labels) + int(with_target)
    if embedding.ndim != 2 or embedding.shape != (expected, 2):
        raise ValueError(
            f"embedding has shape {embedding.shape}; expected ({expected}, 2) for {len(labels)} "
            f"labels{' plus the target as last row' if with_target else ''}"
        )
    figure = _figure(7, 6)
    axes = figure.add_subplot()
    classes = np.unique(labels)
    for label, colour in zip(classes, _class_colours(len(classes)), strict=True):
        points = embedding[: len(labels)][labels == label]
        axes.scatter(points[:, 0], points[:, 1], s=14, color=colour, label=str(label), alpha=0.8)
    if with_target:
        axes.scatter(
            *embedding[-1],
            s=300,
            marker="*",
            color=HIGHLIGHT,
            edgecolor="black",
            zorder=3,
            label=target_label,
        )
    if len(classes) <= 20:
        axes.legend(fontsize="small", markerscale=1.0, loc="best")
    axes.set_xlabel("t-SNE 1")
    axes.set_ylabel("t-SNE 2")
    return _save(figure, path, title, axes)


def _class_colours(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct colours: the qualitative tab10/tab20 palettes, else samples of turbo."""
    from matplotlib import colormaps

    if n <= 20:
        palette = colormaps["tab10" if n <= 10 else "tab20"]
        return [palette(i) for i in range(n)]
    return [colormaps["turbo"](x) for x in np.linspace(0, 1, n)]


def plot_image_grid(
    images: Sequence[Sequence[np.ndarray]],
    path: str | Path,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    captions: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
    cell_inches: float = 1.9,
) -> Path:
    """A table of images: ``images[row][column]``, each RGB ``(H, W, 3)`` in [0, 255] (drawn
    pixel for pixel, no smoothing), with a label per row (left) and per column (top) and, if
    given, a caption of one or more lines under each image (``captions[row][column]``)."""
    path = output_path(path)
    rows, columns = len(images), len(column_labels)
    if rows == 0 or len(row_labels) != rows or any(len(row) != columns for row in images):
        raise ValueError(
            f"images must be {len(row_labels)} rows of {columns} images, one per row and "
            "column label"
        )
    if captions is not None and (
        len(captions) != rows or any(len(row) != columns for row in captions)
    ):
        raise ValueError(f"captions must be {rows} rows of {columns} strings, like images")
    lines = max((text.count("\n") + 1 for row in captions or [] for text in row), default=0)
    caption_inches = 0.16 * lines
    figure = _figure(cell_inches * columns + 1.2, (cell_inches + caption_inches) * rows + 0.6)
    grid = figure.subplots(rows, columns, squeeze=False)
    for row in range(rows):
        for column in range(columns):
            axes = grid[row][column]
            axes.imshow(to_uint8(images[row][column]), interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            if captions is not None:
                axes.set_xlabel(captions[row][column], fontsize="x-small", loc="left")
            if row == 0:
                axes.set_title(column_labels[column], fontsize="small")
            if column == 0:
                axes.set_ylabel(row_labels[row], fontsize="small")
    return _save(figure, path, title)


KIND_MARKERS = "oDs^vP*X<>"
"""Marker of each kind of :func:`draw_embedding`, in the order the kinds first occur."""
KIND_LARGEST, KIND_SHRINK = 300.0, 0.55
"""Area (points squared) of the first kind's markers, and the factor each later kind's is
smaller by."""
PLAIN_SIZE, PLAIN_ALPHA = 8.0, 0.35
"""Area and opacity of the plain points (those without a kind)."""


def draw_embedding(
    axes, embedding: np.ndarray, labels: Sequence[str], kinds: Sequence[str | None] | None = None
) -> dict[str, tuple[str, float]]:
    """Draw a 2-D embedding ``(N, 2)`` onto matplotlib ``axes``, every point coloured by its
    label, so that every point with a kind stays in sight.

    Plain points (``kinds[i]`` None, e.g. real images) are small and translucent and drawn
    first, underneath. Points with a kind (e.g. visualizations) are opaque, black-edged, with
    one marker shape per kind; each later kind is drawn smaller (``KIND_SHRINK`` of the area)
    and above the earlier ones, so that markers at one place nest like rings instead of
    hiding each other. Returns ``{kind: (marker, area)}`` (for a legend).
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    labels = np.asarray(labels)
    kinds = [None] * len(labels) if kinds is None else list(kinds)
    if embedding.shape != (len(labels), 2) or len(kinds) != len(labels):
        raise ValueError(
            f"embedding has shape {embedding.shape}; expected ({len(labels)}, 2), one row per "
            f"label, and as many kinds ({len(kinds)} given)"
        )
    classes = list(dict.fromkeys(labels.tolist()))
    colours = dict(zip(classes, _class_colours(len(classes)), strict=True))
    order = list(dict.fromkeys(kind for kind in kinds if kind is not None))
    if len(order) > len(KIND_MARKERS):
        raise ValueError(f"{len(order)} kinds of points; at most {len(KIND_MARKERS)} can be marked")
    styles = {
        kind: (KIND_MARKERS[i], KIND_LARGEST * KIND_SHRINK**i) for i, kind in enumerate(order)
    }
    plain = np.array([kind is None for kind in kinds], dtype=bool)
    for label in classes:
        points = embedding[plain & (labels == label)]
        axes.scatter(
            points[:, 0],
            points[:, 1],
            s=PLAIN_SIZE,
            color=colours[label],
            alpha=PLAIN_ALPHA,
            linewidths=0,
            zorder=1,
        )
    for rank, kind in enumerate(order):
        marker, area = styles[kind]
        for index in np.flatnonzero(np.array([k == kind for k in kinds], dtype=bool)):
            axes.scatter(
                *embedding[index],
                s=area,
                marker=marker,
                color=colours[labels[index]],
                edgecolors="black",
                linewidths=0.8,
                zorder=3 + rank,
            )
    return styles


def plot_embedding(
    embedding: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    kinds: Sequence[str | None] | None = None,
    title: str | None = None,
) -> Path:
    """Scatter of a 2-D embedding ``(N, 2)`` (e.g. t-SNE of activation vectors), each point
    coloured by its label (legend up to 20 labels). Points whose ``kinds[i]`` is not None (e.g.
    visualizations among real images) are drawn large, black-edged, one marker shape and size
    per kind, on top of the others and nested where they coincide (:func:`draw_embedding`;
    legend per kind)."""
    from matplotlib.lines import Line2D

    path = output_path(path)
    figure = _figure(9.5, 6.5)
    axes = figure.add_subplot()
    styles = draw_embedding(axes, embedding, labels, kinds)
    classes = list(dict.fromkeys(np.asarray(labels).tolist()))
    colours = dict(zip(classes, _class_colours(len(classes)), strict=True))
    handles = [Line2D([], [], linestyle="", marker="o", color=colours[c], label=c) for c in classes]
    handles = handles if len(classes) <= 20 else []
    handles += [
        Line2D(
            [],
            [],
            linestyle="",
            marker=marker,
            color="white",
            markeredgecolor="black",
            markersize=np.sqrt(area),
            label=kind,
        )
        for kind, (marker, area) in styles.items()
    ]
    if handles:  # beside the map, where it covers no point
        axes.legend(
            handles=handles,
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            labelspacing=1.0,
        )
    axes.set_xlabel("t-SNE 1")
    axes.set_ylabel("t-SNE 2")
    return _save(figure, path, title, axes)
