"""The online emulator's pieces; all but :mod:`.report` work without Cobaya (numpy, scipy, JAX).

:mod:`~cobaya_plugins.online.control`
    The Gaussian Δχ² metric of the spectra, the error estimate in Δ log-likelihood, its
    calibration on points the emulator had not learned, and the rule "serve or call the exact code".
:mod:`~cobaya_plugins.online.compress`
    Spectra ↔ a few PCA coefficients, in coordinates where distance is √Δχ².
:mod:`~cobaya_plugins.online.regress`
    Gaussian processes in JAX: coefficients (and derived parameters) from parameters, with an
    uncertainty; numpy prediction in milliseconds and a JAX-traceable one.
:mod:`~cobaya_plugins.online.store`
    The training set on disk, keyed by the exact theory's configuration, shared by processes.
:mod:`~cobaya_plugins.online.emulator`
    The three first put together: learn points, predict with an error, keep the calibration.
:mod:`~cobaya_plugins.online.report`
    The exactness report of a finished chain: the exact theory at random posterior samples
    (this one uses Cobaya: it reads the chain and builds the exact model).

The Cobaya Theory that uses them is :class:`cobaya_plugins.theories.OnlineEmulator`
(``docs/online_emulator.md``).
"""
