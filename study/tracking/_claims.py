"""A study as a ledger shared by every process that adds to it: who trains which seeds, who is
alive, which of two parents created at the same moment is the study.

The contract, for every process (a run, a resume, a shard, another machine):

- **Claims.** Before training, a process claims seeds, a chunk at a time as it goes: the
  parent run's tag ``study.claim.<host:pid>`` holds ``heartbeat=<t> seeds=<ranges>@<t>;...
  done=<ranges>`` (each chunk with the time it was claimed; a seed whose child it wrote FINISHED
  leaves its chunks for ``done``). A seed claimed by a live process, or with a FINISHED child, is
  not trained again, so processes started with the same command share a study's seeds without
  fixed shards. Two processes claiming the same seed at once both see both claims when they read
  back; the earlier claim (then the smaller process key) keeps it, the other drops it.
- **Heartbeats.** A :class:`Heartbeat` thread refreshes the claim every :data:`BEAT` seconds. A
  claim whose heartbeat is older than :data:`STALE` seconds (or whose process, on this host, is
  gone) is dead: the next process takes its seeds over, less those the dead one wrote FINISHED
  (its ``done``, and its children in the store: it may have died between writing a child and
  its next heartbeat), and ends its RUNNING children KILLED.
- **One parent.** Processes that create a study's parent at the same moment on different
  machines (no file lock reaches across them) each wait ``_parent.SETTLE`` seconds and look again;
  every one of them sees the same parents, keeps the one with the smallest run id and deletes
  its own if it lost (:func:`._parent.one_parent`).
- **Finishing.** A process whose training has ended turns its claim into the list of the seeds
  it wrote FINISHED (``finished=<t> seeds=...``), before it reads the study back: nobody trains
  those again, whoever reads when, and a process that reads the study back while no other claim
  is live has every seed that anyone wrote. The parent ends FINISHED only when no other live
  process holds a claim and the study has all its seeds; else it stays RUNNING and the report
  says what is missing and the command that completes it.

The reader counts every seed once whatever this ledger holds (see ``_reader``).
"""

from __future__ import annotations

import os
import socket
import threading
import time

from study.tracking._layout import (
    PARENT_TAG,
    PROCESS_TAG,
    quoted,
)

BEAT = 10.0  # seconds between heartbeats
STALE = 60.0  # a claim without a heartbeat for this long is dead
_RACES = 8  # claims lost to a simultaneous claim before a process gives up looking
CLAIM_PREFIX = "study.claim."
PROCESS = f"{socket.gethostname()}:{os.getpid()}"


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


def _claim_value(groups, done=()) -> str:
    """``heartbeat=<now> seeds=0-15@<t1>;16-31@<t2> done=0-9``: each chunk of seeds with the time
    it was claimed (two processes that claim a seed at once keep the earlier claim), and the
    seeds written FINISHED."""
    parts = ";".join(f"{ranges(seeds)}@{t:.3f}" for seeds, t in groups if seeds)
    return f"heartbeat={time.time():.3f} seeds={parts}" + (f" done={ranges(done)}" if done else "")


def claims(tags) -> dict[str, dict]:
    """Every claim on a parent, from its tags: ``{process: {heartbeat, seeds: {seed: claimed at},
    done, finished, live}}`` (``done``: seeds written FINISHED by a process still training;
    a finished claim's ``seeds`` are those it wrote)."""
    out = {}
    for key, value in tags.items():
        if not key.startswith(CLAIM_PREFIX):
            continue
        fields = dict(f.split("=", 1) for f in value.split() if "=" in f)
        try:
            seeds = {}
            for group in filter(None, fields.get("seeds", "").split(";")):
                text, _, t = group.partition("@")
                seeds.update(dict.fromkeys(parse_ranges(text), float(t or 0)))
            finished = "finished" in fields
            claim = {
                "heartbeat": float(fields.get("heartbeat", fields.get("finished"))),
                "seeds": seeds,
                "done": parse_ranges(fields.get("done", "")),
                "finished": finished,
            }
        except (KeyError, TypeError, ValueError):
            continue
        process = key.removeprefix(CLAIM_PREFIX)
        claim["live"] = not finished and alive(process, claim["heartbeat"])
        out[process] = claim
    return out


def finished_elsewhere(tags) -> set[int]:
    """Seeds that other processes wrote FINISHED, as their claims say (those that ended, and the
    ``done`` of those training or dead)."""
    return _written(claims(tags))


def _written(every: dict[str, dict]) -> set[int]:
    return set().union(
        *(set(c["seeds"]) if c["finished"] else c["done"] for p, c in every.items() if p != PROCESS)
    )


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


class Claim:
    """This process's claim on a study's seeds: what it took, chunk by chunk, less what it has
    written FINISHED (its ``done``). :meth:`take` is the claiming protocol; a :class:`Heartbeat`
    keeps it alive. ``checked``: dead processes whose FINISHED children the caller already
    counts as done (it read the study after they died): their seeds are taken over without
    looking for their children again."""

    def __init__(self, client, run_id: str, *, checked=()):
        self._client, self._run_id = client, run_id
        self._groups: list[tuple[set[int], float]] = []
        self._done: set[int] = set()
        self._settled = False
        self._checked = {p: set() for p in checked}  # dead process: seeds it wrote FINISHED
        self._lock = threading.Lock()
        # one tag write at a time, each with the state when it starts: a heartbeat's write that
        # began before a new chunk was claimed must not land after it and drop the chunk (another
        # process took the chunk as free and both trained it)
        self._writing = threading.Lock()

    @property
    def key(self) -> str:
        return CLAIM_PREFIX + PROCESS

    def seeds(self) -> set[int]:
        with self._lock:
            return set().union(*(s for s, _ in self._groups))

    def value(self) -> str:
        with self._lock:
            return _claim_value(self._groups, self._done)

    def others(self) -> dict[str, dict[int, float]]:
        """The claims of other processes that are live or finished (their seeds are taken):
        ``{process: {seed: claimed at}}``."""
        return _others(self._client, self._run_id, finished=True)

    def written(self, seeds) -> None:
        """Seeds whose children this process wrote FINISHED: they leave its chunks for ``done``
        (in the tag from the next refresh)."""
        with self._lock:
            self._done |= set(seeds)
            self._groups = [(s - self._done, t) for s, t in self._groups if s - self._done]

    def take(self, wanted, done, *, n: int | None = None) -> tuple[list[int], dict[str, set[int]]]:
        """Claim up to ``n`` (None: all) seeds of ``wanted`` (in its order) that are not
        ``done``, not already ours and not claimed by another live process. Read back, a seed
        another process claimed at the same moment goes to the earlier claim; a process that
        lost every seed it claimed that way tries the seeds still free (workers started together
        raced for the same chunk, and the loser stopped as if nothing were left). Returns the
        seeds taken now and the others' live claims on ``wanted`` (``{process: seeds}``)."""
        for _ in range(_RACES):
            new, taken, raced = self._take_once(wanted, done, n)
            if new or not raced:
                break
        return new, taken

    def _take_once(self, wanted, done, n):
        t0, mine = time.time(), self.seeds() | self._done
        run = self._client.get_run(self._run_id)
        every = claims(run.data.tags)
        others = _seeds_of(every, finished=True)
        busy = set().union(*others.values()) if others else set()
        done = set(done) | _written(every)
        free = [s for s in wanted if s not in done and s not in mine and s not in busy]
        dead = {
            p
            for p, c in every.items()
            if p != PROCESS
            and not c["live"]
            and not c["finished"]
            and not c["seeds"].keys().isdisjoint(free)
        }
        if dead:  # its children written since its last heartbeat are not in its done
            done |= set().union(*(self._finished_by(run, p) for p in sorted(dead)))
            free = [s for s in free if s not in done]
        new, raced = set(free if n is None else free[:n]), False
        if new:
            self._write(new, t0)
            for p, seeds in self.others().items():  # what was claimed at the same moment
                lost = {s for s in new if s in seeds and (seeds[s], p) < (t0, PROCESS)}
                if lost:
                    new -= lost
                    others[p] = seeds
                    raced = True
            self._replace(t0, new)
        want = set(wanted)
        taken = {p: set(s) & want - done for p, s in others.items()}
        return sorted(new), {p: s for p, s in taken.items() if s}, raced

    def _finished_by(self, run, process: str) -> set[int]:
        """The seeds dead ``process`` wrote FINISHED to this study, once per process; its
        children left RUNNING are ended KILLED (nobody will finish them)."""
        if process not in self._checked:
            self._checked[process] = end_orphans(
                self._client, run.info.experiment_id, self._run_id, process
            )
        return self._checked[process]

    def forget(self, seeds) -> None:
        """Seeds this process gave up (they failed): no longer claimed, a resume may retry them.
        Trained seeds stay claimed while their children are being written, then move to done
        (:meth:`written`): others must not take them, then or after."""
        gone = set(seeds)
        with self._lock:
            self._groups = [(s - gone, t) for s, t in self._groups if s - gone]

    def refresh(self) -> None:
        with self._writing:
            with self._lock:
                if self._settled:  # a heartbeat late for the settled claim must not revive it
                    return
                value = _claim_value(self._groups, self._done)
            self._client.set_tag(self._run_id, self.key, value)

    def settle(self, written) -> None:
        """Training ends: the claim becomes the record of the seeds this process wrote FINISHED
        (``finished=<t> seeds=...``), which nobody trains again; the others are free."""
        with self._lock:
            self._settled = True
            # what the writer confirmed even when training stopped early (a signal, the failure
            # budget, a store error) before ``written`` was known: deleting the claim then freed
            # seeds whose children are FINISHED for a live neighbour to train again
            written = set(written) | self._done
        # a heartbeat stuck on a store that stopped answering is not waited for long: should it
        # land later, the claim it writes goes stale, and is taken over less what was written
        waited = self._writing.acquire(timeout=5)
        value = f"finished={time.time():.3f} seeds={ranges(written)}"
        try:
            if written:
                self._client.set_tag(self._run_id, self.key, value)
            else:
                self._client.delete_tag(self._run_id, self.key)
        except Exception:  # noqa: BLE001 - no claim, or the store is gone: the heartbeat stops
            pass
        finally:
            if waited:
                self._writing.release()

    def _write(self, seeds: set[int], t0: float) -> None:
        with self._lock:
            self._groups.append((set(seeds), t0))
        self.refresh()

    def _replace(self, t0: float, seeds: set[int]) -> None:
        with self._lock:
            before = [s for s, t in self._groups if t == t0]
            self._groups = [(s, t) for s, t in self._groups if t != t0] + [(seeds, t0)]
        if before and before[0] != seeds:
            self.refresh()


def _others(client, run_id: str, *, finished: bool) -> dict[str, dict[int, float]]:
    """Other processes' claims on ``run_id`` that are live (and, with ``finished``, those of
    processes that ended): ``{process: {seed: claimed at}}``."""
    return _seeds_of(claims(client.get_run(run_id).data.tags), finished=finished)


def _seeds_of(every: dict[str, dict], *, finished: bool) -> dict[str, dict[int, float]]:
    return {
        p: c["seeds"]
        for p, c in every.items()
        if p != PROCESS and (c["live"] or finished and c["finished"])
    }


def dead_claims(tags) -> set[str]:
    """The processes whose claims on a parent (its ``tags``) are dead: not live, not finished."""
    return {
        p for p, c in claims(tags).items() if p != PROCESS and not c["live"] and not c["finished"]
    }


def end_orphans(client, experiment_id: str, run_id: str, process: str) -> set[int]:
    """The children of ``run_id`` that ``process`` (dead) wrote: those RUNNING are ended KILLED;
    returns the seeds of the FINISHED ones."""
    query = f"tags.`{PARENT_TAG}` = '{run_id}' and tags.`{PROCESS_TAG}` = {quoted(process)}"
    finished, token = set(), None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=query, max_results=1000, page_token=token
        )
        for child in page:
            if child.info.status == "FINISHED":
                finished.add(int(child.data.params["seed"]))
            elif child.info.status == "RUNNING":
                client.set_terminated(child.info.run_id, "KILLED")
        token = page.token
        if not token:
            return finished


def live_others(client, run_id: str) -> dict[str, set[int]]:
    """The live claims of other processes on ``run_id``."""
    return {p: set(seeds) for p, seeds in _others(client, run_id, finished=False).items()}


class Heartbeat:
    """Refreshes a :class:`Claim` every :data:`BEAT` seconds, in a thread. Errors (the store
    stopped answering) are kept, not raised: the writer reports those."""

    def __init__(self, claim: Claim):
        self._claim = claim
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
                self._claim.refresh()
            except Exception as exc:  # noqa: BLE001 - reported by the writer, which fails too
                self.error = exc
