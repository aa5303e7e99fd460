"""How a study lies in the tracking store: the tags that mark its runs, the filter strings that
find them and the names of its array artifacts. Plain names and pure functions, imported by
every other module of the package and importing none of them."""

from __future__ import annotations

import hashlib

__all__ = [
    "PARENT_TAG",
    "ROLE_TAG",
    "ERROR_TAG",
    "NAME_TAG",
    "NAME_KEY_TAG",
    "HASH_TAG",
    "RESAMPLE_TAG",
    "SEEDS_TAG",
    "PROCESS_TAG",
    "BUNDLE",
    "NULL_BUNDLE",
    "name_key",
    "quoted",
]

PARENT_TAG = "mlflow.parentRunId"
ROLE_TAG = "study.role"
ERROR_TAG = "study.error"  # on a FAILED child: the error its seed raised
NAME_TAG = "study.name"  # on a parent: the study's name (study.resume finds it by this)
NAME_KEY_TAG = "study.name_key"  # sha1 of the name: found by filter whatever the name holds
HASH_TAG = "study.config_hash"  # on a parent: hash of the settings that define its numbers
RESAMPLE_TAG = "study.resample"  # on a resample network's child: its index b
SEEDS_TAG = "study.seeds"  # on a parent: "first:n_runs", the seeds the latest process asked for
PROCESS_TAG = "study.process"  # on a child: "host:pid" of the process that logged it

BUNDLE = "study_runs.npz"  # the parent's artifact with every seed's arrays (Tracker.log_bundle)
NULL_BUNDLE = "randomisation_null.npz"  # the randomisation test's null values (Tracker.log_arrays)


def name_key(name: str) -> str:
    """A study name's key for filters: the first 16 hex digits of its sha1."""
    return hashlib.sha1(str(name).encode()).hexdigest()[:16]


def quoted(value: str) -> str | None:
    """``value`` as a string literal of MLflow's filter syntax, which has no escapes: in single
    quotes, else in double quotes; None if it holds both kinds."""
    value = str(value)
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def study_filter(name: str, ident_hash: str | None = None) -> str:
    """The filter string of the parents of study ``name`` (and settings hash ``ident_hash``)."""
    q = quoted(name)
    by_name = f"tags.`{NAME_TAG}` = {q}" if q else f"tags.`{NAME_KEY_TAG}` = '{name_key(name)}'"
    query = f"tags.`{ROLE_TAG}` = 'study' and {by_name}"
    return query + (f" and tags.`{HASH_TAG}` = '{ident_hash}'" if ident_hash else "")
