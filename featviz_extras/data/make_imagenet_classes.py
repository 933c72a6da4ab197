"""Regenerate ``imagenet_classes.tsv`` from the synset files shipped in the ``timm`` wheel.

Usage (from the repository root)::

    pip download --no-deps timm -d /tmp/timm
    unzip -o -q /tmp/timm/timm-*.whl 'timm/data/_info/*' -d /tmp/timm
    python featviz_extras/data/make_imagenet_classes.py /tmp/timm/timm/data/_info

The output has one line per ImageNet-1k class, in Keras order (the 1000 WordNet ids sorted), with
three tab-separated columns: ``index``, ``wnid`` and ``name``. The name is the first WordNet lemma
with spaces replaced by underscores, the convention of Keras's ``imagenet_class_index.json``
(e.g. ``n02321529 -> sea_cucumber``).
"""

import sys
from pathlib import Path

N_CLASSES = 1000
SYNSETS_FILE = "imagenet_synsets.txt"
LEMMAS_FILE = "imagenet_synset_to_lemma.txt"
OUTPUT = Path(__file__).with_name("imagenet_classes.tsv")


def read_lemmas(path: Path) -> dict[str, str]:
    r"""Map each WordNet id to its first lemma, from ``<wnid>\t<lemma>, <lemma>, ...`` lines."""
    lemmas = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        wnid, _, names = line.partition("\t")
        lemmas[wnid.strip()] = names.split(",")[0].strip()
    return lemmas


def make_table(info_dir: Path) -> list[tuple[int, str, str]]:
    """Rows ``(index, wnid, name)`` of the 1000 ImageNet classes in Keras order."""
    wnids = [w.strip() for w in (info_dir / SYNSETS_FILE).read_text().splitlines() if w.strip()]
    if len(wnids) != N_CLASSES or len(set(wnids)) != N_CLASSES:
        raise ValueError(f"{info_dir / SYNSETS_FILE} should list {N_CLASSES} distinct WordNet ids")
    lemmas = read_lemmas(info_dir / LEMMAS_FILE)
    missing = [w for w in wnids if w not in lemmas]
    if missing:
        raise ValueError(f"{info_dir / LEMMAS_FILE} has no lemma for {missing[:5]} ...")
    return [(i, w, lemmas[w].replace(" ", "_")) for i, w in enumerate(sorted(wnids))]


def main(argv: list[str]) -> int:
    """Write the class table from the file named in ``argv`` (see the module docstring)."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    rows = make_table(Path(argv[0]))
    lines = ["index\twnid\tname"] + [f"{i}\t{w}\t{n}" for i, w, n in rows]
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} classes to {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
