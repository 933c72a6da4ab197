r"""The exactness report of an online-emulator chain: the exact code at random posterior samples.

A chain sampled through :class:`cobaya_plugins.theories.OnlineEmulator` is a sample of the
emulated posterior. :func:`exactness_report` measures how far it is from the exact one, at the
cost of ``n`` exact calls (at most):

1. the run's input is read back from ``<prefix>.updated.yaml`` and the chains from
   ``<prefix>.*.txt`` (Cobaya's :func:`~cobaya.output.load_samples`; every chain of an MPI run),
   the first ``burn_in`` fraction of each chain skipped as Cobaya's own ``skip`` does;
2. ``n`` samples are drawn from the rows with probability proportional to their weights (with
   replacement: i.i.d. posterior draws; a row drawn twice is computed once);
3. a Cobaya model is built from the same input with every ``OnlineEmulator`` under ``theory:``
   replaced by its ``exact:`` theory (:func:`exact_info`), and its log-posterior computed at each
   drawn row; the emulated one is the chain's own ``minuslogpost`` (what the sampler used);
4. with Δ_i = log p_exact − log p_emulated at draw i (the priors are the same, so this is the
   difference of log-likelihoods), the importance weights w_i = exp(Δ_i − max Δ) turn the draws
   into a sample of the exact posterior. Reported: the mean, standard deviation and largest |Δ|;
   the effective sample size (Σw)²/Σw² as a fraction of ``n``; and for every sampled parameter,
   and every derived one the exact model computes (not the chi2 sums), the shift of its mean
   after reweighting, (Σ w x_exact / Σ w − mean of x over the draws) / σ, σ the parameter's
   standard deviation over the whole chain after burn-in (weighted), and the ratio of its
   reweighted to its unweighted standard deviation over the draws (noisy for small ``n``:
   ~1/√(2n)).

A point where the exact code fails has log p_exact = −∞: its weight is 0 (counted as ``failed``).
The report is a dictionary (:data:`REPORT_SUFFIX` file beside the chain, JSON) and a log line
(:func:`summary`); ``python -m cobaya_plugins online-report PREFIX`` makes it from the command
line, and ``OnlineEmulator``'s ``validate: N`` at the end of a run (``docs/online_emulator.md``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np

#: Appended to the chain's output prefix for the report file.
REPORT_SUFFIX = ".online_report.json"
#: Default fraction of each chain skipped as burn-in (as ``triangle --burn-in`` and ``post: skip``).
BURN_IN = 0.3
#: Version of the report's layout.
REPORT_FORMAT = 1


def is_online_emulator(name: str, options: Any) -> bool:
    """Whether a ``theory:`` entry (``name``: its ``options``) is an ``OnlineEmulator``."""
    class_name = options.get("class") if isinstance(options, Mapping) else None
    return str(class_name or name).rsplit(".", 1)[-1] == "OnlineEmulator"


def exact_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """The model part of a Cobaya input (``theory``, ``likelihood``, ``params``, ``prior``,
    ``packages_path``) with every ``OnlineEmulator`` under ``theory:`` replaced by the theory of
    its ``exact:`` block (its options as written there; the wrapper's ``params``, which are the
    exact theory's, go with it). ValueError when there is no ``OnlineEmulator``."""
    theories: dict[str, Any] = {}
    replaced = 0
    for name, options in (info.get("theory") or {}).items():
        if not is_online_emulator(name, options):
            theories[name] = deepcopy(options)
            continue
        exact = (options or {}).get("exact")
        if not (isinstance(exact, Mapping) and len(exact) == 1):
            raise ValueError(f"the theory {name} has no valid `exact:` block (got {exact!r}).")
        ((exact_name, exact_options),) = exact.items()
        exact_options = deepcopy(dict(exact_options or {}))
        if options.get("params"):
            exact_options["params"] = deepcopy(options["params"])
        theories[exact_name] = exact_options
        replaced += 1
    if not replaced:
        raise ValueError(
            "the run has no cobaya_plugins.theories.OnlineEmulator under `theory:`; the "
            "exactness report compares an emulated chain with its exact theory."
        )
    out = {key: deepcopy(info[key]) for key in ("likelihood", "params", "prior", "packages_path")
           if info.get(key) is not None}  # fmt: skip
    out["theory"] = theories
    return out


def _load(prefix: str, burn_in: float) -> tuple[dict, list[str], list[Any]]:
    """(updated input, chain file names, their data frames after burn-in, row index kept)."""
    from cobaya.output import OutputReadOnly, load_samples
    from cobaya.yaml import yaml_load_file

    output = OutputReadOnly(prefix=prefix)
    updated = Path(output.file_updated)
    if not updated.is_file():
        raise FileNotFoundError(
            f"no Cobaya output with prefix {prefix!r}: {updated} does not exist. Give the "
            "`output:` prefix of the run (e.g. chains/my_run for chains/my_run.1.txt)."
        )
    info = yaml_load_file(str(updated))
    files = output.find_collections() if Path(output.folder).is_dir() else []
    collections = load_samples(prefix, skip=0, combined=False) if files else []
    if not files or not collections:
        raise FileNotFoundError(
            f"the run {prefix!r} has no chain files ({prefix}.1.txt, ...): the report needs the "
            "samples of a finished (or stopped) mcmc or HMC run, not a minimize or test run."
        )
    frames = []
    for collection in collections:
        data = collection.data.reset_index(drop=True)
        skip = int(np.round(burn_in * len(data)))  # as Cobaya's skip_samples
        frames.append(data.iloc[skip:])
    return info, [str(f) for f in files], frames


def exactness_report(
    prefix: str,
    n: int = 50,
    *,
    seed: int | None = None,
    burn_in: float = BURN_IN,
    write: bool = True,
    logger: logging.Logger | None = None,
    option: str = "--n",
) -> dict[str, Any]:
    """The exactness report of the chain ``prefix`` (module docstring) from ``n`` posterior
    draws (``n`` >= 1, at most the number of chain rows after skipping the ``burn_in`` fraction
    of each chain), drawn with ``seed`` (None: a fresh one, recorded in the report). Writes
    ``<prefix>`` + :data:`REPORT_SUFFIX` when ``write``; logs :func:`summary` to ``logger``.
    ``option``: how the user set ``n`` (``--n``, ``validate:``), for the messages.

    Errors (FileNotFoundError, ValueError) name what is wrong and the fix: no output at
    ``prefix``, no chain, no ``OnlineEmulator`` in the run, ``n`` too large or not positive."""
    from cobaya.input import update_info
    from cobaya.model import Model

    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{option} must be a positive integer (samples), got {n!r}.")
    if not 0 <= burn_in < 1:
        raise ValueError(f"burn_in must be a fraction in [0, 1), got {burn_in!r}.")
    info, files, frames = _load(prefix, burn_in)
    model_info = exact_info(info)
    rows = sum(len(f) for f in frames)
    if n > rows:
        raise ValueError(
            f"{n} samples asked, but the chain{'s' if len(files) > 1 else ''} of {prefix!r} "
            f"{'have' if len(files) > 1 else 'has'} {rows} row(s) after skipping the first "
            f"{burn_in:g} as burn-in: ask for {rows} or fewer ({option} {rows}), or run the "
            "chain longer."
        )
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    rng = np.random.default_rng(seed)
    weights = np.concatenate([f["weight"].to_numpy(dtype=float) for f in frames])
    where = [(c, int(i)) for c, f in enumerate(frames) for i in f.index]
    draws = rng.choice(rows, size=n, replace=True, p=weights / weights.sum())
    unique, counts = np.unique(draws, return_counts=True)

    start = time.perf_counter()
    # as cobaya.model.get_model, without resetting the logging of a run in progress
    updated = update_info(model_info)
    model = Model(
        updated["params"], updated["likelihood"], updated.get("prior"), updated.get("theory"),
        packages_path=model_info.get("packages_path"),
    )  # fmt: skip
    sampled = list(model.parameterization.sampled_params())
    derived_names = list(model.parameterization.derived_params())
    table = [frames[c].loc[i] for c, i in (where[k] for k in unique)]
    missing = [p for p in sampled if p not in table[0].index]
    if missing:
        raise ValueError(
            f"the chain has no column for the sampled parameter(s) {missing} of the exact model: "
            "the chain and its .updated.yaml do not belong together."
        )
    exact_names = [n for n in model_info["theory"] if n not in (info.get("theory") or {})]
    # rows sharing the exact theories' inputs (differing in fast nuisance parameters only) are
    # evaluated one after another, so Cobaya's cache makes one exact call for all of them
    inputs = {p for n in exact_names for p in model.theory[n].input_params}
    dependence = model.parameterization.sampled_input_dependence()
    feeding = [p for p in sampled if p in inputs or inputs & set(dependence.get(p, ()))]
    key = [tuple(float(row[p]) for p in feeding) for row in table]
    order = sorted(range(len(table)), key=key.__getitem__)
    delta = np.empty(len(unique))
    exact_derived = np.full((len(unique), len(derived_names)), np.nan)
    for j in order:
        row = table[j]
        result = model.logposterior({p: float(row[p]) for p in sampled})
        delta[j] = result.logpost - (-float(row["minuslogpost"]))
        if np.isfinite(result.logpost):
            exact_derived[j] = result.derived
    seconds = time.perf_counter() - start
    model.close()

    ok = np.isfinite(delta)
    d = np.repeat(delta, counts)  # per draw
    finite = np.isfinite(d)
    w = np.zeros(n)
    if finite.any():
        w[finite] = np.exp(d[finite] - d[finite].max())
    ess = float(w.sum() ** 2 / np.sum(w**2)) / n if w.sum() > 0 else 0.0

    # parameters: sampled, and derived ones but the chi2 sums (not parameters of the model)
    columns = sampled + [
        p for p in derived_names if p in table[0].index and p.split("__")[0] != "chi2"
    ]
    params: dict[str, dict[str, float]] = {}
    for p in columns:
        values = np.concatenate([f[p].to_numpy(dtype=float) for f in frames])
        mean_all = np.average(values, weights=weights)
        sigma = float(np.sqrt(np.average((values - mean_all) ** 2, weights=weights)))
        if not sigma > 0:
            continue  # constant over the chain
        emulated = np.repeat(values[unique], counts)  # in the order of d and w
        if p in sampled:
            exact = emulated
        else:
            exact = np.repeat(exact_derived[:, derived_names.index(p)], counts)
        mean = float(emulated.mean())
        entry = {"mean": mean, "sigma": sigma}
        if w.sum() > 0:
            use = w > 0
            reweighted = float(np.sum(w[use] * exact[use]) / w.sum())
            spread = float(np.sqrt(np.sum(w[use] * (exact[use] - reweighted) ** 2) / w.sum()))
            entry.update(
                reweighted_mean=reweighted,
                shift_sigma=(reweighted - mean) / sigma,
                sigma_ratio=spread / float(emulated.std()) if emulated.std() > 0 else math.nan,
            )
        params[p] = entry
    shifts = {p: abs(e["shift_sigma"]) for p, e in params.items() if "shift_sigma" in e}
    worst = max(shifts, key=shifts.get) if shifts else None
    report = {
        "format": REPORT_FORMAT,
        "prefix": str(prefix),
        "chains": files,
        "exact_theory": exact_names,
        "burn_in": burn_in,
        "rows": rows,
        "n": n,
        "seed": seed,
        "exact_calls": len(set(key)),
        "failed": int(np.sum(~ok)),
        "seconds": seconds,
        "delta_logpost": {
            "mean": float(np.mean(d[finite])) if finite.any() else math.nan,
            "std": float(np.std(d[finite])) if finite.any() else math.nan,
            "max_abs": float(np.max(np.abs(d[finite]))) if finite.any() else math.nan,
        },
        "ess_fraction": ess,
        "max_shift_sigma": shifts[worst] if worst else math.nan,
        "max_shift_param": worst,
        "params": params,
        "samples": [
            {"chain": where[k][0], "row": where[k][1], "count": int(c), "delta_logpost": float(x)}
            for k, c, x in zip(unique, counts, delta, strict=True)
        ],
    }
    if write:
        path = Path(str(prefix) + REPORT_SUFFIX)
        path.write_text(json.dumps(report, indent=1, allow_nan=True) + "\n")
        report["file"] = str(path)
    (logger or logging.getLogger(__name__)).info(summary(report))
    return report


def summary(report: Mapping[str, Any]) -> str:
    """The report in one paragraph (for the log and the command line)."""
    d = report["delta_logpost"]
    failed = f", {report['failed']} failed" if report["failed"] else ""
    worst = report["max_shift_param"]
    shift = f"{report['max_shift_sigma']:.3g} σ ({worst})" if worst else "none (no weight left)"
    where = f" Written to {report['file']}." if report.get("file") else ""
    return (
        f"Exactness report of {report['prefix']}: {report['n']} posterior draws "
        f"({report['exact_calls']} exact calls{failed}, {report['seconds']:.1f} s; first "
        f"{report['burn_in']:g} of each chain skipped). Δ log posterior (exact − emulated): "
        f"mean {d['mean']:.3g}, std {d['std']:.3g}, max |Δ| {d['max_abs']:.3g}; importance-"
        f"weight ESS {report['ess_fraction']:.3f} N; largest shift of a mean after reweighting "
        f"{shift}.{where}"
    )
