"""Replication between CodeArtifact domains (other regions or accounts): ``ferry replicate``.

- :mod:`.run`: one run (incremental or full), the library behind the command;
- :mod:`.repo_pass`: one repository mapping's scan, plan and settling (statuses, deletions, dist-tags);
- :mod:`.memory`: what the ledger remembers of the source between runs (the high-water marks);
- :mod:`.batches`: status/delete/dispose/copy calls in batches of 100, and dist-tag sync;
- :mod:`.config_sync`: ``--config-only``: domain, repositories, upstreams, external connections,
  package groups and origin configurations, diffed first and applied idempotently.
"""
