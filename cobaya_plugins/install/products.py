"""What can be installed: the Planck 2018 baseline product, where it comes from, what it holds."""

from __future__ import annotations

import dataclasses
import os

#: Environment variable that replaces the default download URL (a mirror, a local tarball).
URL_ENV = "COBAYA_PLUGINS_PLANCK_URL"


@dataclasses.dataclass(frozen=True)
class Product:
    """A downloadable likelihood product.

    ``url``: default download address; ``archive``: the archive's file name; ``size``: its
    size in bytes if known (used for the progress bar only when the server does not say it);
    ``sha256``: its checksum if known (then enforced); ``required``: the ``.clik`` paths
    (relative to the install directory) that must exist after the install; ``data_path``: the
    sub-directory of ``<packages_path>/data`` that ``cobaya-install`` uses.
    """

    name: str
    description: str
    url: str
    archive: str
    size: int | None
    sha256: str | None
    required: tuple[str, ...]
    data_path: str


PLANCK_2018 = Product(
    name="planck2018",
    description="Planck 2018 baseline likelihoods (PLA product COM_Likelihood_Data-baseline_R3.00)",
    url="https://pla.esac.esa.int/pla-sl/data-action?COSMOLOGY.COSMOLOGY_OID=151902",
    archive="COM_Likelihood_Data-baseline_R3.00.tar.gz",
    size=60293120,  # Cobaya's progress-bar hint for product 151902; not checked
    sha256=None,  # no checksum known here: the archive is checked by full decompression instead
    required=(
        "baseline/plc_3.0/low_l/commander/commander_dx12_v3_2_29.clik",
        "baseline/plc_3.0/hi_l/plik/plik_rd12_HM_v22b_TTTEEE.clik",
        "baseline/plc_3.0/hi_l/plik_lite/plik_lite_v22_TTTEEE.clik",
        "baseline/plc_3.0/lensing/smicadx12_Dec5_ftl_mv2_ndclpp_p_teb_consext8.clik_lensing",
    ),
    data_path="planck_2018",
)
PRODUCTS = {PLANCK_2018.name: PLANCK_2018}


def get_product(name: str) -> Product:
    """The product called ``name`` (see :data:`PRODUCTS`); ``ValueError`` lists the valid ones."""
    try:
        return PRODUCTS[name]
    except KeyError:
        raise ValueError(f"Unknown product {name!r}; available: {', '.join(PRODUCTS)}.") from None


def resolve_url(product: Product, url: str | None = None) -> str:
    """The URL to use: ``url`` if given, else ``$COBAYA_PLUGINS_PLANCK_URL``, else the default."""
    return url or os.environ.get(URL_ENV) or product.url
