"""Client-side rate limits per CodeArtifact operation class, adapting to throttling (AIMD).

CodeArtifact's quotas are per account and region, per operation (service-limits page, see
``shared/reference/service-apis.md`` §1.7). ferry keeps under them on its own side instead of
finding them by being throttled: every control-plane call (:meth:`ferry.codeartifact.Domain.call`)
and every package-endpoint write (:meth:`ferry.migrators.base.PublishContext.send`) first takes a
slot from the limiter of its class. A CodeArtifact source's calls do too: from the target's limiter
when both are one account and region, else from one of their own (``[options.source_rates]``, see
:func:`ferry.codeartifact.source_limiter`).

Classes and default rates (requests per second, per account):

===========  =====  ==============================================================
class        rate   operations
===========  =====  ==============================================================
publish      10     PublishPackageVersion; package-endpoint writes (npm PUT, twine
                    upload, mvn deploy PUT, NuGet push, ...)
copy         5      CopyPackageVersions
asset_read   50     GetPackageVersionAsset
list         200    ListPackages, ListPackageVersions, ListPackageVersionAssets, other lists
token        40     GetAuthorizationToken
write        100    every other write (Create*, Delete*, Put*, Update*, ...)
read         800    every other read (Describe*, Get*)
===========  =====  ==============================================================

A rate of ``0`` switches a class's limit off (stand-ins, or quotas raised far above what one
machine sends). Each limiter is a GCRA token bucket (a burst of half a second's worth of slots may
go out back to back, then one every ``1/rate`` seconds; the burst follows the rate in force). When
the service throttles anyway (429 / ThrottlingException), the class's rate is halved (at most once
per ``cooldown``, so the answers to one burst count once) down to ``floor`` of the configured rate,
and the rate it was throttled at is remembered: every ``recovery`` seconds without throttling the
rate grows back by ``step`` of that remembered rate up to it, then by ``probe`` of it, and once it
has stayed at or above it for ``forget`` seconds, by ``step`` of the configured rate again.

Why remember: an account's quota may be far below the configured rate (a lower quota than the
default, or another job sharing it). Growing back by a share of the configured rate, the rate climbed
past such a quota within a second of each halving: with 8 workers against a quota of 1 publish/s
and the default 10/s, 59 % of requests were throttled and 0.32/s went through; remembering, 11 %
and 0.87/s; against 5/s of lists (default 200/s), 62 % and 3 % (a simulation of the bucket against
a token-bucket quota, 600 s each; tests/test_ratelimit.py keeps its cases). Clock and sleep are
injectable, so tests never wait.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

CLASSES = ("publish", "copy", "asset_read", "list", "token", "write", "read")
DEFAULT_RATES: dict[str, float] = {"publish": 10.0, "copy": 5.0, "asset_read": 50.0, "list": 200.0,
                                   "token": 40.0, "write": 100.0, "read": 800.0}

_EXACT = {
    "publish_package_version": "publish",
    "copy_package_versions": "copy",
    "get_package_version_asset": "asset_read",
    "get_authorization_token": "token",
}
_WRITE_PREFIXES = ("create_", "delete_", "put_", "update_", "associate_", "disassociate_", "dispose_",
                   "tag_", "untag_")


def operation_class(operation: str) -> str:
    """The limiter class of a control-plane operation given by its snake_case boto3 name."""
    if operation in _EXACT:
        return _EXACT[operation]
    if operation.startswith("list_"):
        return "list"
    if operation.startswith(_WRITE_PREFIXES):
        return "write"
    return "read"


def endpoint_class(method: str) -> str | None:
    """The limiter class of a package-endpoint request: writes count as publishes; reads are not limited."""
    return "publish" if method.upper() in ("PUT", "POST", "DELETE", "PATCH") else None


@dataclass(frozen=True)
class Adapt:
    """How a class adapts to throttling (fractions are of the configured rate)."""

    decrease: float = 0.5  # multiply the rate by this on a throttle
    # never below this share of the configured rate: low enough for a quota of a two-hundredth of it
    floor: float = 0.005
    step: float = 0.05  # add this share of the rate last throttled at (or of the configured rate) ...
    recovery: float = 1.0  # ... per this many seconds without a throttle
    probe: float = 0.02  # at or above the rate last throttled at, add this share of it instead
    forget: float = 20.0  # after this many seconds at or above it without a throttle, forget that rate
    cooldown: float = 1.0  # throttles closer together than this (and than 2/rate) count as one


class Bucket:
    """One class's limiter: a GCRA bucket whose rate adapts. Thread-safe."""

    def __init__(self, name: str, rate: float, burst: float | None = None, adapt: Adapt = Adapt(),
                 clock: Callable[[], float] = time.monotonic):
        if rate < 0:
            raise ValueError(f"{name}: rate must not be negative")
        self.name = name
        self.ceiling = float(rate)
        # The burst is this many seconds' worth of the rate in force, so a lowered rate sends smaller bursts.
        self._burst_seconds = (burst if burst is not None else self.ceiling * 0.5) / self.ceiling if rate else 0.0
        self.adapt = adapt
        self._set_rate(float(rate))
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next slot
        self._last_change = clock()
        self._last_throttle: float | None = None
        self.known: float | None = None  # the rate in force when the service last throttled (see module doc)
        self._at_known_since: float | None = None
        self.acquired = 0
        self.throttles = 0
        self.waited = 0.0  # seconds callers were made to wait

    @property
    def unlimited(self) -> bool:
        return self.ceiling <= 0

    def reserve(self) -> float:
        """Take the next slot. Returns how many seconds the caller must wait before sending (0: now)."""
        if self.unlimited:
            with self._lock:
                self.acquired += 1
            return 0.0
        with self._lock:
            now = self._clock()
            self._recover(now)
            interval = 1.0 / self.rate
            tat = max(self._tat, now)
            # GCRA: a request may go at tat - (burst - 1) * interval at the earliest.
            wait = tat - (self.burst - 1) * interval - now
            wait = wait if wait > 1e-9 else 0.0  # float dust is no reason to sleep
            self._tat = tat + interval
            self.acquired += 1
            self.waited += wait
            return wait

    def throttled(self) -> bool:
        """The service throttled a request of this class. Returns True if the rate was lowered."""
        if self.unlimited:
            with self._lock:
                self.throttles += 1
            return False
        with self._lock:
            now = self._clock()
            self.throttles += 1
            window = max(self.adapt.cooldown, 2.0 / self.rate)
            if self._last_throttle is not None and now - self._last_throttle < window:
                return False
            self._recover(now)
            self._last_throttle = now
            self.known, self._at_known_since = self.rate, None
            lowered = max(self.ceiling * self.adapt.floor, self.rate * self.adapt.decrease)
            changed = lowered < self.rate
            self._set_rate(lowered)
            self._last_change = now
            # The slots already handed out were spaced for the old rate; later ones follow the new one.
            return changed

    def _set_rate(self, rate: float) -> None:
        self.rate = rate
        # whole slots: a fractional burst would let a part of a request through early
        self.burst = max(1, int(rate * self._burst_seconds + 1e-9))

    def _recover(self, now: float) -> None:
        """Grow the rate back for each ``recovery`` seconds without a throttle (see the module docstring)."""
        if self.rate >= self.ceiling:
            self._last_change = now
            return
        adapt = self.adapt
        quiet_since = max(self._last_change, self._last_throttle or self._last_change)
        steps = int((now - quiet_since) / adapt.recovery)
        if steps <= 0:
            return
        rate = self.rate
        for step in range(1, steps + 1):
            if self.known is None:
                rate = min(self.ceiling, rate + (steps - step + 1) * self.ceiling * adapt.step)
                break  # linear from here: the rest of the steps at once
            if rate < self.known:
                rate = min(self.known, rate + self.known * adapt.step)
            else:
                rate += self.known * adapt.probe
            rate = min(self.ceiling, rate)
            if rate >= self.known:
                at = quiet_since + step * adapt.recovery
                if self._at_known_since is None:
                    self._at_known_since = at
                elif at - self._at_known_since >= adapt.forget:
                    self.known = self._at_known_since = None
            if rate >= self.ceiling:
                break
        self._set_rate(rate)
        self._last_change = quiet_since + steps * adapt.recovery

    def current_rate(self) -> float:
        """The rate in force now (recovery applied), requests per second; 0 for unlimited."""
        with self._lock:
            if not self.unlimited:
                self._recover(self._clock())
            return self.rate


class RateLimiter:
    """The limiters of one ferry process, one :class:`Bucket` per class.

    ``rates`` are per account (defaults :data:`DEFAULT_RATES`, missing classes keep the default);
    ``share`` divides them (``--shard i/N`` runs N processes against one account, each at 1/N).
    """

    def __init__(self, rates: Mapping[str, float] | None = None, *, share: int = 1,
                 burst_seconds: float = 0.5, adapt: Adapt = Adapt(),
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if share < 1:
            raise ValueError("share must be at least 1")
        unknown = set(rates or {}) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown rate class(es): {', '.join(sorted(unknown))}")
        merged = {**DEFAULT_RATES, **(rates or {})}
        self.share = share
        self._sleep = sleep
        self.buckets = {
            name: Bucket(name, merged[name] / share, burst=merged[name] / share * burst_seconds, adapt=adapt,
                         clock=clock)
            for name in CLASSES
        }

    def acquire(self, cls: str | None) -> float:
        """Wait for a slot of class ``cls`` (None: not limited). Returns the seconds waited."""
        if cls is None:
            return 0.0
        wait = self.buckets[cls].reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def throttled(self, cls: str | None) -> None:
        """Tell the limiter the service throttled a request of class ``cls``."""
        if cls is not None:
            self.buckets[cls].throttled()

    def stats(self) -> dict[str, dict[str, float]]:
        """Per class: configured and current rate, requests let through, throttles seen, seconds waited."""
        return {name: {"rate": b.ceiling, "current": b.current_rate(), "requests": b.acquired,
                       "throttles": b.throttles, "waited": round(b.waited, 3)}
                for name, b in self.buckets.items() if b.acquired or b.throttles}


def unlimited() -> RateLimiter:
    """A limiter that never waits (every class off) but still counts."""
    return RateLimiter({name: 0.0 for name in CLASSES})


__all__ = ["Adapt", "Bucket", "CLASSES", "DEFAULT_RATES", "RateLimiter", "endpoint_class", "operation_class",
           "unlimited"]
