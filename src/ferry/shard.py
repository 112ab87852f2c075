"""Splitting one job across N machines: ``--shard i/N``, deterministic by package.

Every package (format, namespace, name) belongs to exactly one shard, chosen by a stable hash of
its identity, so all versions and assets of a package travel together (npm dist-tags, Maven
metadata and PyPI multi-file versions are finished by the shard that published them) and every
run, on any machine, splits the same way. Each shard keeps its own ledger (``ferry.db`` becomes
``ferry.shard-2-of-4.db``) and takes 1/N of the account's rate limits (:mod:`ferry.ratelimit`).

When ``--shard`` is not given, the shard comes from the batch system: AWS Batch array jobs set
``AWS_BATCH_JOB_ARRAY_INDEX`` (0-based) and ``AWS_BATCH_JOB_ARRAY_SIZE``; a Kubernetes Indexed Job
sets ``JOB_COMPLETION_INDEX`` (0-based) and the manifest passes the completion count as
``FERRY_SHARD_COUNT``. ``--shard`` itself counts from 1.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ferry.errors import UsageError
from ferry.model import ItemKey

MAX_SHARDS = 10_000  # AWS Batch's largest array
_SPEC = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count {self.count} out of range 1..{MAX_SHARDS}")
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard index {self.index} out of range 1..{self.count}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, fmt: str, namespace: str | None, package: str) -> bool:
        """Whether this shard moves the package ``(fmt, namespace, package)``."""
        return shard_of(fmt, namespace, package, self.count) == self.index

    def owns_key(self, key: ItemKey) -> bool:
        """Whether this shard moves the package ``key`` belongs to."""
        return self.owns(key.format.value, key.namespace, key.package)

    def ledger(self, path: Path) -> Path:
        """The shard's own ledger next to ``path``: ``ferry.db`` → ``ferry.shard-2-of-4.db``."""
        return path.with_name(f"{path.stem}.shard-{self.index}-of-{self.count}{path.suffix}")


def shard_of(fmt: str, namespace: str | None, package: str, count: int) -> int:
    """The 1-based shard of a package among ``count``: a stable hash (SHA-256), the same on every machine."""
    ident = "\0".join((str(fmt), namespace or "", package)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(ident).digest()[:8], "big") % count + 1


def parse(text: str, label: str = "--shard") -> Shard:
    """``"2/4"`` → ``Shard(2, 4)``. Raises :class:`UsageError` naming ``label``."""
    m = _SPEC.fullmatch(text or "")
    if not m:
        raise UsageError(f"{label} {text!r}: write it as INDEX/COUNT, e.g. --shard 1/4 (the first of four)")
    try:
        return Shard(int(m.group(1)), int(m.group(2)))
    except ValueError as err:
        raise UsageError(f"{label} {text!r}: {err}; the index counts from 1 to COUNT") from None


def _env_int(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "").strip()
    if not (raw.isascii() and raw.isdigit()):  # isdigit alone accepts "²", which int() refuses
        raise UsageError(f"environment variable {name}={raw!r} is not a whole number; set it to one, or pass "
                         "--shard INDEX/COUNT")
    return int(raw)


def _env_names(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The (index, count) variables of the batch system that set an index, or None outside an array job."""
    if env.get("AWS_BATCH_JOB_ARRAY_INDEX", "").strip():
        return "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE"
    if env.get("JOB_COMPLETION_INDEX", "").strip():
        return "JOB_COMPLETION_INDEX", "FERRY_SHARD_COUNT"
    return None


def from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard the batch system asks for, or None outside an array job. Raises :class:`UsageError`."""
    env = os.environ if env is None else env
    names = _env_names(env)
    if names is None:
        return None
    index_var, count_var = names
    index = _env_int(env, index_var)
    if not env.get(count_var, "").strip():
        raise UsageError(f"{index_var}={index} is set but {count_var} is not; set it to the number of shards "
                         "or pass --shard INDEX/COUNT")
    count = _env_int(env, count_var)
    if not index < count:  # the batch system's index counts from 0
        raise UsageError(f"{index_var}={index} is not below {count_var}={count} (the index counts from 0); "
                         f"set {count_var} to the number of shards")
    try:
        return Shard(index + 1, count)
    except ValueError as err:
        raise UsageError(f"shard from the environment: {err}; set {count_var} to the number of shards") from None


def check_indexed(env: Mapping[str, str] | None = None) -> None:
    """Refuse a shard count the batch system set without the index that goes with it, for a run that would
    otherwise move the whole job: a Kubernetes Job without ``completionMode: Indexed`` sets no
    ``JOB_COMPLETION_INDEX``, so each of its N pods would migrate every package, N times over the quota.
    A count of 1 passes (one shard is the whole job). Raises :class:`UsageError`."""
    env = os.environ if env is None else env
    for index_var, count_var, fix in (("JOB_COMPLETION_INDEX", "FERRY_SHARD_COUNT",
                                       "give the Job completionMode: Indexed"),
                                      ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE",
                                       "run it as an array job")):
        count = env.get(count_var, "").strip()
        if count and not env.get(index_var, "").strip() and count != "1":
            raise UsageError(f"{count_var}={count} is set but {index_var} is not, so this run is no shard and "
                             f"would migrate the whole job; {fix}, or unset {count_var} to run it on one machine")


def resolve(flag: str | None, env: Mapping[str, str] | None = None) -> Shard | None:
    """``--shard`` if given, else the batch system's shard, else None (one machine does it all).

    Raises :class:`UsageError` for a shard that cannot be meant, and for a ``--shard`` that names another
    shard than the batch system's index does.
    """
    if flag is None:
        return from_env(env)
    chosen = parse(flag)  # an empty --shard "$UNSET" must not run everything on every machine
    env = os.environ if env is None else env
    try:
        given = from_env(env)
    except UsageError:  # a half-set environment: the flag alone says which shard
        given = None
    if given is not None and given != chosen:
        # --shard written into an array job's command would have every child run that one shard (each
        # exiting 0) and no child the others: their packages would never move.
        index_var, count_var = _env_names(env)
        raise UsageError(f"--shard {chosen} disagrees with {index_var}={env[index_var].strip()} and "
                         f"{count_var}={env[count_var].strip()} (shard {given}); leave --shard out of an array "
                         "job's command, or unset those variables")
    return chosen
