"""The exception that rejects one parameter point without stopping the sampler."""


class CosmoComputationError(Exception):
    """A model could not be computed at this parameter point (it raised, or returned NaN/inf).

    Raised inside a Theory's ``calculate``, Cobaya gives the point zero likelihood and the
    sampler moves on (set ``stop_at_error: True`` on the theory to stop with a traceback
    instead). It plays the role of CLASS's ``CosmoComputationError`` for Python models.
    """
