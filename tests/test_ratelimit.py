"""The client-side rate limiter: GCRA spacing, AIMD on throttling, classes, config and hook-up. No sleeping."""

from __future__ import annotations

import threading

import pytest

from ferry.config import parse_job
from ferry.errors import UsageError
from ferry.ratelimit import DEFAULT_RATES, Adapt, Bucket, RateLimiter, endpoint_class, operation_class


class Clock:
    """A fake monotonic clock; ``sleep`` advances it."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def send_times(limiter: RateLimiter, cls: str, n: int, clock: Clock) -> list[float]:
    """Times at which n back-to-back callers of one thread get to send."""
    times = []
    for _ in range(n):
        limiter.acquire(cls)
        times.append(clock.now)
    return times


def test_publish_default_is_ten_per_second_after_the_burst():
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    start = clock.now
    times = send_times(limiter, "publish", 105, clock)
    # burst: half a second's worth (5) go at once, then one every 100 ms
    assert times[:5] == [start] * 5
    gaps = [round(b - a, 9) for a, b in zip(times[5:], times[6:])]
    assert set(gaps) == {0.1}
    # 105 publishes take (105 - 5) / 10 s: exactly the quota over the long run
    assert times[-1] - start == pytest.approx(100 / 10)


def test_each_class_has_its_documented_default():
    assert DEFAULT_RATES["publish"] == 10 and DEFAULT_RATES["copy"] == 5 and DEFAULT_RATES["asset_read"] == 50
    assert DEFAULT_RATES["list"] == 200 and DEFAULT_RATES["write"] == 100
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    for cls, rate in DEFAULT_RATES.items():
        begin = clock.now
        times = send_times(limiter, cls, int(rate * 3), clock)
        burst = max(1, int(rate * 0.5))
        assert times[-1] - begin == pytest.approx((len(times) - burst) / rate), cls


def test_operation_and_endpoint_classes():
    assert operation_class("publish_package_version") == "publish"
    assert operation_class("copy_package_versions") == "copy"
    assert operation_class("get_package_version_asset") == "asset_read"
    for op in ("list_packages", "list_package_versions", "list_package_version_assets", "list_repositories"):
        assert operation_class(op) == "list"
    for op in ("create_repository", "put_package_origin_configuration", "update_package_versions_status",
               "delete_package_versions", "dispose_package_versions"):
        assert operation_class(op) == "write"
    assert operation_class("get_authorization_token") == "token"
    assert operation_class("describe_package_version") == "read"
    assert operation_class("get_repository_endpoint") == "read"
    assert endpoint_class("PUT") == "publish" and endpoint_class("post") == "publish"
    assert endpoint_class("GET") is None and endpoint_class("HEAD") is None


def test_zero_means_no_limit():
    clock = Clock()
    limiter = RateLimiter({"publish": 0}, clock=clock, sleep=clock.sleep)
    send_times(limiter, "publish", 1000, clock)
    assert clock.slept == []
    assert limiter.stats()["publish"]["requests"] == 1000


def test_shards_share_the_account_rate():
    clock = Clock()
    limiter = RateLimiter(share=4, clock=clock, sleep=clock.sleep)
    begin = clock.now
    times = send_times(limiter, "publish", 41, clock)
    # 10/s for the account is 2.5/s for each of four shards (burst floor: 1 slot)
    assert times[-1] - begin == pytest.approx(40 / 2.5)


def test_throttling_halves_the_rate_once_per_burst_then_it_recovers():
    clock = Clock()
    bucket = Bucket("publish", 10, burst=1, adapt=Adapt(), clock=clock)
    assert bucket.throttled() is True
    assert bucket.current_rate() == 5 and bucket.known == 10
    # the other answers to the same burst do not count again
    assert bucket.throttled() is False and bucket.throttled() is False
    assert bucket.current_rate() == 5 and bucket.throttles == 3
    clock.now += 1.5  # one quiet second: +5 % of the rate last throttled at (10), then throttled at 5.5
    assert bucket.throttled() is True
    assert bucket.current_rate() == pytest.approx(2.75) and bucket.known == pytest.approx(5.5)
    # additive increase: +5 % of the rate last throttled at per quiet second, up to it ...
    clock.now += 1.0
    assert bucket.current_rate() == pytest.approx(3.025)
    clock.now += 9.0
    assert bucket.current_rate() == pytest.approx(5.5)
    # ... then +2 % of it per second, probing ...
    clock.now += 1.0
    assert bucket.current_rate() == pytest.approx(5.61)
    # ... and after 20 s at or above it without a throttle it is forgotten: +5 % of the configured rate
    clock.now += 19.0
    bucket.current_rate()
    assert bucket.known is None
    clock.now += 100.0
    assert bucket.current_rate() == 10


def test_rate_never_drops_below_the_floor():
    clock = Clock()
    bucket = Bucket("publish", 10, burst=1, adapt=Adapt(recovery=1e9), clock=clock)  # no recovery in between
    for _ in range(20):
        bucket.throttled()
        clock.now += 2 / bucket.rate  # past the window in which throttles count as one
    assert bucket.rate == pytest.approx(10 * Adapt().floor)


def test_the_burst_follows_the_rate_in_force():
    clock = Clock()
    bucket = Bucket("list", 200, burst=100, adapt=Adapt(recovery=1e9), clock=clock)  # no recovery in between
    assert bucket.burst == 100
    for _ in range(4):
        bucket.throttled()
        clock.now += 1.5  # past the window in which throttles count as one
    assert bucket.rate == 12.5 and bucket.burst == 6  # half a second's worth, as at 200/s


def _simulate(configured: float, quota: float, seconds: float = 300.0, workers: int = 8) -> tuple[float, float]:
    """Workers sending through a bucket of ``configured`` requests/s to a service whose token-bucket quota is
    ``quota``/s (burst: a second's worth); a throttled request waits the Retry-After the service gives, then
    tries again. Returns (share of requests throttled, requests/s let through)."""
    import heapq
    import math

    clock = Clock(0.0)
    bucket = Bucket("publish", configured, burst=configured * 0.5, clock=clock)
    tokens, stamp = max(1.0, quota), 0.0
    events = [(0.0, w) for w in range(workers)]
    sent = throttled = 0
    while events:
        t, worker = heapq.heappop(events)
        if t > seconds:
            break
        clock.now = t
        at = t + bucket.reserve()
        tokens, stamp = min(max(1.0, quota), tokens + (at - stamp) * quota), max(stamp, at)
        sent += 1
        if tokens >= 1:
            tokens -= 1
            heapq.heappush(events, (at + 0.05, worker))
        else:
            throttled += 1
            clock.now = at
            bucket.throttled()
            heapq.heappush(events, (at + math.ceil((1 - tokens) / quota), worker))
    return throttled / sent, (sent - throttled) / seconds


@pytest.mark.parametrize("configured, quota, most_throttled, least_through", [
    (10, 1, 0.2, 0.75),  # a publish quota of 1/s under the default 10/s: before, 59 % throttled, 0.32/s through
    (200, 5, 0.1, 4.0),  # a list quota of 5/s under the default 200/s: before, 62 % throttled
    (10, 10, 0.0, 9.9),  # the quota as configured: nothing throttled, all of it used
])
def test_a_quota_far_below_the_configured_rate_is_learned_not_overrun(configured, quota, most_throttled,
                                                                     least_through):
    share, through = _simulate(configured, quota)
    assert share <= most_throttled and through >= least_through, (share, through)


def test_slots_after_a_throttle_follow_the_lower_rate():
    clock = Clock()
    limiter = RateLimiter({"publish": 10}, burst_seconds=0.1, clock=clock, sleep=clock.sleep)
    send_times(limiter, "publish", 5, clock)
    limiter.throttled("publish")
    times = send_times(limiter, "publish", 5, clock)
    gaps = [round(b - a, 6) for a, b in zip(times, times[1:])]
    assert gaps == [0.2, 0.2, 0.2, 0.2]


def test_threads_never_exceed_the_rate():
    """Eight threads share one class: the slots they reserve stay 100 ms apart after the burst."""
    clock = Clock()
    lock = threading.Lock()
    slots: list[float] = []
    bucket = Bucket("publish", 10, burst=1, clock=clock)

    def worker():
        for _ in range(25):
            wait = bucket.reserve()
            with lock:
                slots.append(clock.now + wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert len(slots) == 200
    assert all(round(b - a, 9) >= 0.1 for a, b in zip(slots, slots[1:]))
    assert slots[-1] - slots[0] == pytest.approx(19.9)


JOB = """
[source]
kind = "nexus"
url = "http://127.0.0.1:1"

[target]
domain = "acme"

[[repositories]]
source = "npm-a"
target = "npm-b"
"""


def test_job_file_rates():
    job = parse_job(JOB + "\n[options.rates]\npublish = 25\nlist = 0\nasset_read = 12.5\n")
    assert dict(job.options.rates) == {"publish": 25.0, "list": 0.0, "asset_read": 12.5}
    limiter = RateLimiter(dict(job.options.rates))
    assert limiter.buckets["publish"].ceiling == 25 and limiter.buckets["list"].unlimited
    assert limiter.buckets["copy"].ceiling == 5  # untouched classes keep the default
    assert parse_job(JOB).options.rates == ()


@pytest.mark.parametrize("text, message", [
    ("publsh = 3", "options.rates.publsh: unknown key; did you mean 'publish'?"),
    ('publish = "10"', "options.rates.publish: expected a number"),
    ("publish = -1", "options.rates.publish: -1 is out of range"),
    ("publish = true", "options.rates.publish: expected a number"),
])
def test_job_file_rate_errors(text, message):
    with pytest.raises(UsageError, match=message.replace("?", r"\?").replace("(", r"\(")):
        parse_job(JOB + "\n[options.rates]\n" + text + "\n")


def test_options_rates_must_be_a_table():
    with pytest.raises(UsageError, match="options.rates: expected a table"):
        parse_job(JOB + "\n[options]\nrates = 5\n")
