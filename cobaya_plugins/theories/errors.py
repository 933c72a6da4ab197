"""The exception that rejects one parameter point without stopping the sampler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn


class CosmoComputationError(Exception):
    """A model could not be computed at this parameter point (it raised, or returned NaN/inf).

    Raised inside a Theory's ``calculate``, Cobaya gives the point zero likelihood and the
    sampler moves on (set ``stop_at_error: True`` on the theory to stop with a traceback
    instead). It plays the role of CLASS's ``CosmoComputationError`` for Python models.
    """


def reject_point(component: Any, what: str, reason: str, params: Mapping[str, Any]) -> NoReturn:
    """Raise :class:`CosmoComputationError` for ``component`` (a Cobaya Theory) at ``params``.

    ``what`` names the failing piece (e.g. "the function mymodel"). The first rejection of a
    component is logged as a warning with the reason; later ones only reach Cobaya's debug log.
    """
    point = ", ".join(f"{p}={v}" for p, v in params.items())
    message = f"{component.get_name()}: {what} failed at {point}: {reason}"
    if not getattr(component, "_rejected_once", False):
        component._rejected_once = True
        component.log.warning(
            "%s. The point is rejected (zero likelihood); further rejections are logged "
            "at debug level. Set 'stop_at_error: True' on the theory to stop here instead.",
            message,
        )
    raise CosmoComputationError(message)
