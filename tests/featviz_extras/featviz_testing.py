"""Helpers shared by the featviz_extras tests (importable as ``featviz_testing`` when this
directory is on the Python path, as pytest puts it)."""

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """The RGB pixels (H, W, 3) of a PNG file, as int, after checking the PNG signature."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def write_image(path, array):
    """Save a uint8 RGB array; the format follows the suffix (.png, .jpg, .JPEG)."""
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def make_image_tree(root):
    """<root>/<class>/ with 3 + 2 random 12x10 images of different formats, files that are not
    images, and an empty class folder."""
    rng = np.random.default_rng(0)
    layout = {"n0001": ["a.JPEG", "b.jpg", "c.png"], "n0002": ["x.PNG", "y.jpeg"]}
    for label, names in layout.items():
        (root / label).mkdir(parents=True)
        for name in names:
            write_image(root / label / name, rng.integers(0, 256, (12, 10, 3)))
        (root / label / "notes.txt").write_text("not an image")
    (root / "empty_class").mkdir()
    return root
