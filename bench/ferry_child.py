"""Run one ferry command in this process with timers around the ledger, then write the figures as JSON.

``python bench/ferry_child.py STATS.json -- migrate job.toml --state ...``: the arguments after ``--``
go to the ferry CLI unchanged. The timers are wrapped around ferry's own classes here, so nothing in
ferry itself knows it is being measured:

- ledger: wall and CPU time the ledger writer thread spends applying and committing batches (from the
  moment a batch is taken off the queue to its commit), and the time producers were blocked putting
  events on a full queue;
- phases: wall time of ``Engine.plan`` and ``Engine.transfer``;
- the engine's rate-limiter figures and CodeArtifact request counts per operation.

The parent measures this process's peak RSS (``os.wait4``), so everything ferry holds is counted.
"""

from __future__ import annotations

import json
import sys
import threading
import time


def main() -> int:
    out_path, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: ferry_child.py STATS.json -- FERRY ARGS..."
    from ferry.cli import app
    from ferry.cli._state import run_app
    from ferry.engine import Engine
    from ferry.state.ledger import LedgerWriter

    stats = {"ledger_busy_s": 0.0, "ledger_cpu_s": 0.0, "ledger_batches": 0, "ledger_events": 0,
             "put_blocked_s": 0.0, "plan_s": 0.0, "transfer_s": 0.0}
    lock = threading.Lock()
    engines: list[Engine] = []

    take, batch, put = LedgerWriter._take, LedgerWriter._batch, LedgerWriter.put

    def timed_take(self):
        got = take(self)
        self._bench_started = (time.perf_counter(), time.thread_time())
        stats["ledger_events"] += len(got[0])
        return got

    def timed_batch(self, db):
        result = batch(self, db)
        wall, cpu = self._bench_started
        stats["ledger_busy_s"] += time.perf_counter() - wall
        stats["ledger_cpu_s"] += time.thread_time() - cpu
        stats["ledger_batches"] += 1
        return result

    def timed_put(self, event):
        began = time.perf_counter()
        put(self, event)
        spent = time.perf_counter() - began
        if spent > 0.001:  # only real waits on a full queue, not the call itself
            with lock:
                stats["put_blocked_s"] += spent

    LedgerWriter._take, LedgerWriter._batch, LedgerWriter.put = timed_take, timed_batch, timed_put

    init, plan, transfer = Engine.__init__, Engine.plan, Engine.transfer

    def tracked_init(self, *a, **kw):
        init(self, *a, **kw)
        engines.append(self)

    def timed(name, fn):
        def wrapper(self, *a, **kw):
            began = time.perf_counter()
            try:
                return fn(self, *a, **kw)
            finally:
                stats[name] += time.perf_counter() - began
        return wrapper

    Engine.__init__, Engine.plan, Engine.transfer = tracked_init, timed("plan_s", plan), timed("transfer_s", transfer)

    began = time.perf_counter()
    code = run_app(app, argv)
    stats["wall_s"] = time.perf_counter() - began
    stats["exit_code"] = code
    if engines:
        engine = engines[-1]
        limiter = getattr(engine, "limiter", None)
        stats["limiter"] = limiter.stats() if limiter is not None else {}
        stats["requests"] = engine.domain.request_counts()
    with open(out_path, "w") as fh:
        json.dump(stats, fh, indent=2)
    return code


if __name__ == "__main__":
    sys.exit(main())
