"""Model functions for :class:`~cobaya_plugins.theories.CallableCls` and ``ModifiedClassy``.

:mod:`.birefringence`
    ``rotate(cls, beta_deg)``: isotropic cosmic birefringence (a ``postprocess`` function).
:mod:`.template`
    ``scaled(amplitude, tilt, ell_pivot)``: the fiducial spectrum with an amplitude and a tilt
    (a fast ``function`` for demos and tests).
"""
