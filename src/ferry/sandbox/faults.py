"""Injectable faults for the stand-ins: ``--faults throttle=0.1,error5xx=0.05,reset=0.02,...``."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields


class FaultSpecError(ValueError):
    """The ``--faults`` text could not be parsed; the message names the bad part."""


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def _seconds(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise FaultSpecError(f"not a duration: {text!r} (use e.g. 20ms, 2s, 1m)")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


@dataclass(frozen=True)
class FaultSpec:
    """Rates are probabilities per request (0..1); durations are seconds.

    - ``throttle``: HTTP 429 with ``Retry-After`` (``retry_after`` seconds)
    - ``error5xx``: HTTP 500/502/503
    - ``reset``: the connection is reset before a response is sent
    - ``truncate``: a response body is cut short (Content-Length promises more)
    - ``latency``: added to every request
    - ``token_ttl``: CodeArtifact authorization tokens expire after this, whatever was asked
    """

    throttle: float = 0.0
    error5xx: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    latency: float = 0.0
    token_ttl: float | None = None
    retry_after: float = 1.0

    @classmethod
    def parse(cls, text: str | None) -> "FaultSpec":
        """Parse ``key=value,key=value``. Raises :class:`FaultSpecError` on unknown keys or bad values."""
        if not text:
            return cls()
        names = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise FaultSpecError(f"unknown fault {key!r}; known: {', '.join(sorted(names))}")
            if key in ("latency", "token_ttl", "retry_after"):
                values[key] = _seconds(raw)
            else:
                try:
                    rate = float(raw)
                except ValueError:
                    raise FaultSpecError(f"{key} takes a rate between 0 and 1, not {raw!r}") from None
                if not 0.0 <= rate <= 1.0:
                    raise FaultSpecError(f"{key} takes a rate between 0 and 1, not {raw!r}")
                values[key] = rate
        return cls(**values)

    @property
    def any_request_faults(self) -> bool:
        return bool(self.throttle or self.error5xx or self.reset or self.truncate or self.latency)
