"""Images on disk and in memory: reading, checking, resizing, writing, and image metrics.

Convention: an image is float (or uint8) RGB with values in [0, 255], shape ``(H, W, 3)``; a
batch is ``(N, H, W, 3)``. Image folders follow the ImageNet layout ``<root>/<class>/<image>``.
(The render loops optimize images in [-1, 1]; :mod:`featviz_extras.param` converts.)

Nothing here needs TensorFlow; reading, resizing and writing use Pillow.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
FOLDER_LAYOUT = "<root>/<class, e.g. a wnid like n02321529>/<image>.JPEG (also .jpg, .png)"
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 R, G, B weights of the grey level

ImageLike = str | Path | np.ndarray

# ---------------------------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------------------------


def find_images(root: str | Path) -> dict[str, list[Path]]:
    """Image files of an ImageNet-style folder tree, ``<root>/<class>/*.JPEG`` (also .jpg, .png).

    Returns ``{class folder name: sorted image paths}``, classes sorted by name; class folders
    without images are left out. Raises FileNotFoundError if ``root`` is not a folder and
    ValueError if it holds no images in that layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; expected {FOLDER_LAYOUT}")
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if files:
            found[folder.name] = files
    if not found:
        loose = [p.name for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" ({len(loose)} images lie directly in it: move them into class folders)"
        raise ValueError(
            f"no images found in {root}; expected {FOLDER_LAYOUT}" + (hint if loose else "")
        )
    return found


def labelled_images(
    root: str | Path, max_per_class: int | None = None
) -> tuple[list[Path], list[str]]:
    """Flattened :func:`find_images`: image paths and their class names, in the same order.

    ``max_per_class`` keeps at most that many images (the first ones, sorted by name) per class.
    """
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be a positive integer or None, not {max_per_class}")
    paths, labels = [], []
    for label, files in find_images(root).items():
        kept = files[:max_per_class] if max_per_class else files
        paths.extend(kept)
        labels.extend([label] * len(kept))
    return paths, labels


# ---------------------------------------------------------------------------------------------
# Checking, reading, resizing
# ---------------------------------------------------------------------------------------------


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check that ``image`` is a finite RGB image ``(H, W, 3)`` with values in [0, 255].

    Returns it as float32 (a copy only if the dtype changes); raises ValueError otherwise.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"{name} has shape {image.shape}; expected an RGB image of shape (H, W, 3) "
            "(drop an alpha channel with image[..., :3]; repeat a grey image over 3 channels)"
        )
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"{name} has dtype {image.dtype}; expected real numbers in [0, 255]")
    image = image.astype(np.float32, copy=False)
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 255:
        raise ValueError(
            f"{name} has values in [{low:g}, {high:g}]; expected RGB values in [0, 255] "
            "(undo any model preprocessing first)"
        )
    return image


def to_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """An RGB image ``(H, W, 3)`` in [0, 255] as uint8 (floats are rounded to the nearest)."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return check_image(image, name).astype(np.uint8)
    return np.round(check_image(image, name)).astype(np.uint8)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an RGB image ``(H, W, 3)`` to ``(size, size, 3)`` float32.

    The aspect ratio is not kept (as ``keras.utils.load_img(target_size=...)``); an image that
    already has that size is returned unchanged (as float32).
    """
    from PIL import Image

    image = check_image(image)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, not {size}")
    if image.shape[:2] == (size, size):
        return image
    channels = [
        np.asarray(Image.fromarray(image[..., c]).resize((size, size), Image.Resampling.BILINEAR))
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.float32)


def load_image(image: ImageLike, size: int | None = None) -> np.ndarray:
    """One image as float32 RGB in [0, 255], shape ``(size, size, 3)`` (or unresized if None).

    ``image`` is a file path (any format Pillow reads; grey or CMYK files are converted to RGB)
    or an array ``(H, W, 3)`` with values in [0, 255]. The input array is not modified.
    """
    if isinstance(image, str | Path):
        from PIL import Image, UnidentifiedImageError

        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file {path} does not exist")
        try:
            with Image.open(path) as opened:
                array = np.asarray(opened.convert("RGB"), dtype=np.float32)
        except UnidentifiedImageError as error:
            raise ValueError(f"{path} is not an image file Pillow can read") from error
        name = str(path)
    else:
        array, name = image, "image array"
    array = check_image(array, name)
    return array if size is None else resize_image(array, size)


def load_images(images: Sequence[ImageLike] | np.ndarray, size: int | None = None) -> np.ndarray:
    """Several images (paths and/or arrays, or one array ``(N, H, W, 3)``) as ``(N, S, S, 3)``.

    With ``size=None`` the images are not resized and must all have the same shape.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if len(images) == 0:
        raise ValueError("no images given")
    loaded = [load_image(image, size) for image in images]
    shapes = {image.shape for image in loaded}
    if len(shapes) > 1:
        raise ValueError(f"images have different shapes {sorted(shapes)}; pass size= to resize")
    return np.stack(loaded)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def output_path(path: str | Path, suffix: str | None = None) -> Path:
    """``path`` as a Path, after checking that its folder exists (and its suffix, if given)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{path} should end in {suffix}")
    return path


def save_image(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB image ``(H, W, 3)`` in [0, 255] pixel for pixel (uint8; floats rounded); the
    format follows the suffix (use ``.png``). Returns the path."""
    from PIL import Image

    path = output_path(path)
    Image.fromarray(to_uint8(image)).save(path)
    return path


def save_gif(
    frames: Sequence[np.ndarray], path: str | Path, duration_ms: int = 80, loop: int = 0
) -> Path:
    """Write an animated GIF of RGB frames ``(H, W, 3)`` in [0, 255], all of the same shape.

    ``duration_ms`` is the display time of each frame in milliseconds; ``loop=0`` repeats
    forever. Pillow stores a frame identical to the one before it by lengthening that frame's
    display time instead, so such a GIF has fewer frames but plays the same. Returns the path.
    """
    from PIL import Image

    path = output_path(path, ".gif")
    if len(frames) == 0:
        raise ValueError("no frames to write (ask render.visualize for return_history=True)")
    if duration_ms < 1:
        raise ValueError(f"duration_ms must be a positive number of milliseconds: {duration_ms}")
    arrays = [to_uint8(frame, f"frame {i}") for i, frame in enumerate(frames)]
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise ValueError(f"frames have different shapes {sorted(shapes)}")
    pictures = [Image.fromarray(array) for array in arrays]
    pictures[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=duration_ms,
        loop=loop,
        disposal=1,
        optimize=False,
    )
    return path


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def high_frequency_share(image: np.ndarray, cutoff: float = 0.25) -> float:
    """Fraction of an image's spectral power above a spatial frequency.

    The image is converted to greyscale (:data:`LUMA_WEIGHTS`), its mean is removed, and the
    power of its 2D FFT is summed over the frequencies whose magnitude sqrt(fx**2 + fy**2)
    exceeds ``cutoff`` (cycles/pixel; the highest is 0.5 per axis). White noise gives about
    0.80 for cutoff 0.25, natural photographs about 0.02-0.03.

    :param image: (H, W, 3) RGB or (H, W) grey, any numeric dtype and range.
    :return: a number in [0, 1]; NaN for a constant image (no power at all).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image @ np.array(LUMA_WEIGHTS)
    elif image.ndim != 2:
        raise ValueError(f"image must have shape (H, W, 3) or (H, W), got {image.shape}")
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    frequency = np.hypot(
        *np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    )
    total = power.sum()
    if total == 0:
        return float("nan")
    return float(power[frequency > cutoff].sum() / total)
