"""A study as a ledger shared by every process that adds to it: who trains which seeds, who is
alive, which of two parents created at the same moment is the study.

The contract, for every process (a run, a resume, a shard, another machine):

- **Claims.** Before training, a process claims its seeds: the parent run's tag
  ``study.claim.<host:pid>`` holds ``claimed=<t> heartbeat=<t> seeds=<ranges>``. A seed claimed
  by a live process, or with a FINISHED child, is not trained again. Two processes claiming the
  same seed at once both see both claims when they read back; the earlier claim (then the
  smaller process key) keeps it, the other drops it.
- **Heartbeats.** A :class:`Heartbeat` thread refreshes the claim every :data:`BEAT` seconds. A
  claim whose heartbeat is older than :data:`STALE` seconds (or whose process, on this host, is
  gone) is dead: its seeds are free and its RUNNING children are ended KILLED by the next process.
- **One parent.** Processes that create a study's parent at the same moment on different
  machines (no file lock reaches across them) each wait :data:`SETTLE` seconds and look again;
  every one of them sees the same parents, keeps the one with the smallest run id and deletes
  its own if it lost (:func:`converge`).
- **Finishing.** The parent ends FINISHED only when no other live process holds a claim; the last
  one to finish writes the complete tables.

The reader counts every seed once whatever this ledger holds (see ``_reader``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

from ._store import HASH_TAG, NAME_TAG, ROLE_TAG

BEAT = 10.0  # seconds between heartbeats
STALE = 60.0  # a claim without a heartbeat for this long is dead
SETTLE = 2.0  # seconds a new shard waits before converging with shards started with it
CLAIM_PREFIX = "study.claim."
NAME_KEY_TAG = "study.name_key"  # sha1 of the name: found by filter whatever the name holds
PROCESS = f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------------------------------
# names in filter strings


def name_key(name: str) -> str:
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


# ---------------------------------------------------------------------------------------------
# seed ranges


def ranges(seeds) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"``."""
    seeds, out = sorted(set(int(s) for s in seeds)), []
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        out.append(f"{seeds[i]}" if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(out)


def parse_ranges(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


# ---------------------------------------------------------------------------------------------
# claims


def _claim_value(claimed: float, seeds) -> str:
    return f"claimed={claimed:.3f} heartbeat={time.time():.3f} seeds={ranges(seeds)}"


def claims(tags) -> dict[str, dict]:
    """Every claim on a parent, from its tags: ``{process: {claimed, heartbeat, seeds, live}}``."""
    out = {}
    for key, value in tags.items():
        if not key.startswith(CLAIM_PREFIX):
            continue
        fields = dict(f.split("=", 1) for f in value.split() if "=" in f)
        try:
            claim = {"claimed": float(fields["claimed"]), "heartbeat": float(fields["heartbeat"]),
                     "seeds": parse_ranges(fields.get("seeds", ""))}  # fmt: skip
        except (KeyError, ValueError):
            continue
        process = key.removeprefix(CLAIM_PREFIX)
        claim["live"] = alive(process, claim["heartbeat"])
        out[process] = claim
    return out


def alive(process: str | None, heartbeat: float | None = None) -> bool:
    """Whether ``host:pid`` may still be running: on this host its pid exists; elsewhere its
    heartbeat is fresh (None: no heartbeat known, so only this host can tell)."""
    if not process:
        return False
    host, _, pid = process.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    if heartbeat is None:
        return host != socket.gethostname()
    return time.time() - heartbeat < STALE


def claim(client, run_id: str, wanted, done) -> tuple[list[int], dict[str, set[int]]]:
    """Claim the seeds of ``wanted`` that are not ``done`` and not claimed by another live
    process. Returns the seeds this process now owns, sorted, and the live claims of the others
    on the rest (``{process: seeds}``)."""
    key, t0 = CLAIM_PREFIX + PROCESS, time.time()
    wanted = set(int(s) for s in wanted) - set(done)
    others = {p: c for p, c in claims(client.get_run(run_id).data.tags).items()
              if p != PROCESS and c["live"]}  # fmt: skip
    mine = wanted - set().union(*(c["seeds"] for c in others.values()))
    client.set_tag(run_id, key, _claim_value(t0, mine))
    # read back: a claim made at the same moment by another process wins if it came first
    for p, c in claims(client.get_run(run_id).data.tags).items():
        if p != PROCESS and c["live"] and (c["claimed"], p) < (t0, PROCESS):
            mine -= c["seeds"]
            others[p] = c
    client.set_tag(run_id, key, _claim_value(t0, mine))
    taken = {p: c["seeds"] & wanted for p, c in others.items() if c["seeds"] & wanted}
    return sorted(mine), taken


def release(client, run_id: str) -> None:
    """Drop this process's claim (its seeds are finished, or it stops)."""
    try:
        client.delete_tag(run_id, CLAIM_PREFIX + PROCESS)
    except Exception:  # noqa: BLE001 - no claim, or the store is gone: nothing to release
        pass


def live_others(client, run_id: str) -> dict[str, set[int]]:
    """The live claims of other processes on ``run_id``."""
    return {p: c["seeds"] for p, c in claims(client.get_run(run_id).data.tags).items()
            if p != PROCESS and c["live"]}  # fmt: skip


class Heartbeat:
    """Refreshes this process's claim on ``run_id`` every :data:`BEAT` seconds, in a thread.
    Errors (the store stopped answering) are kept, not raised: the writer reports those."""

    def __init__(self, client, run_id: str, seeds, *, claimed: float | None = None):
        self._client, self._run_id, self._seeds = client, run_id, sorted(seeds)
        self._claimed = time.time() if claimed is None else claimed
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="study-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(BEAT):
            try:
                self._client.set_tag(self._run_id, CLAIM_PREFIX + PROCESS,
                                     _claim_value(self._claimed, self._seeds))  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - reported by the writer, which fails too
                self.error = exc


# ---------------------------------------------------------------------------------------------
# one parent


def converge(client, experiment_id: str, run_id: str, name: str, ident_hash: str, *,
             created: bool = True) -> str:
    """After creating the parent ``run_id`` of a study that other processes may be creating at
    the same moment: wait :data:`SETTLE` seconds, then keep the parent with the smallest run id
    among those created in the last minute with this name and settings (every racing process
    sees the same set), delete ours if it lost, and return the winner's id. ``created`` False:
    ``run_id`` is a parent this process found and attached to; if it is that young, it may lose
    the same race, so the same rule is applied (nothing deleted)."""
    ours = client.get_run(run_id)
    if not created and time.time() * 1000 - ours.info.start_time > 60_000:
        return run_id  # an established study: no race left to lose
    time.sleep(SETTLE)
    since = ours.info.start_time - 60_000
    runs = client.search_runs([experiment_id], filter_string=study_filter(name, ident_hash) +
                              f" and attributes.start_time >= {since}", max_results=100)  # fmt: skip
    winner = min([r.info.run_id for r in runs] + [run_id])
    if winner != run_id and created:
        client.delete_run(run_id)
    return winner
