"""What makes two runs of ``study-run`` the same study: its name and the settings that decide
its numbers (``study.resume=true`` adds seeds only to a study whose settings match).

Everything in the composed config counts except what changes how many seeds run, where and how
fast, and how the results are shown: :data:`NOT_IDENTITY`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

__all__ = ["NOT_IDENTITY", "identity", "identity_keys", "config_hash", "differences"]

# keys (or prefixes ending in ".") that may differ between the processes of one study
NOT_IDENTITY = (
    "study.n_runs",
    "study.n_resamples",
    "study.n_jobs",
    "study.progress",
    "study.charts",
    "study.resume",
    "study.max_failures",
    "study.shard",
    "study.n_shards",
    "paths.",
    "tracking.",
    "hydra.",
)


def _flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = "null" if value is None else str(value)[:6000]  # as MLflow params
    return out


def identity(config: Mapping) -> dict[str, str]:
    """The settings of ``config`` that define a study's numbers, flattened (``"a.b": "1"``) as
    MLflow logs them as params."""
    return identity_keys(_flatten(config))


def identity_keys(flat: Mapping[str, str]) -> dict[str, str]:
    """Identity keys only of flattened settings (a study's params), with defaults that older
    studies did not write left out."""
    flat = dict(flat)
    if flat.get("model.backend") == "sklearn":  # the default: studies from before the key match
        del flat["model.backend"]
    if flat.get("study.resample") == "none":  # no resamples: what every study had before the key
        del flat["study.resample"]
    # the test's design: no test, or the design every study had before the keys, is no key
    design = {k: flat.get(f"randomisation.{k}") for k in ("permute", "init", "tested")}
    no_test = flat.get("randomisation.n_permutations", "0") == "0"
    if no_test or design == {"permute": "response", "init": "fresh", "tested": "all"}:
        for k in design:
            flat.pop(f"randomisation.{k}", None)
    if no_test or flat.get("randomisation.stop_after") == "0":  # every null network, as before
        flat.pop("randomisation.stop_after", None)
    return {
        k: v
        for k, v in sorted(flat.items())
        if not any(k == n or (n.endswith(".") and k.startswith(n)) for n in NOT_IDENTITY)
    }


def config_hash(ident: Mapping[str, str]) -> str:
    """A short stable hash of :func:`identity`."""
    return hashlib.sha256(json.dumps(sorted(ident.items())).encode()).hexdigest()[:16]


def differences(ours: Mapping[str, str], theirs: Mapping[str, str]) -> list[str]:
    """``key: theirs -> ours`` for every identity key whose value differs (missing = absent),
    both sides normalised alike (``theirs``: an earlier study's params): a default one of them
    did not write is no difference. A different dataset or model is said once, not key by key."""
    ours, theirs = identity_keys(ours), identity_keys(theirs)
    out = []
    for group in ("dataset", "model"):
        key = f"{group}.name"
        if key in ours and key in theirs and ours[key] != theirs[key]:
            out.append(f"{key}: {theirs[key]} -> {ours[key]}")
            ours = {k: v for k, v in ours.items() if not k.startswith(group + ".")}
            theirs = {k: v for k, v in theirs.items() if not k.startswith(group + ".")}
    return out + [
        f"{k}: {theirs.get(k, 'absent')} -> {ours.get(k, 'absent')}"
        for k in sorted(set(ours) | set(theirs))
        if ours.get(k) != theirs.get(k)
    ]
