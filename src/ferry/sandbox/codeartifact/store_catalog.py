"""Catalog maintenance for the CodeArtifact stand-in's store (a mixin of :class:`~.store.Store`).

Lifecycle of domains and repositories, package listing with keyset paging, version deletion and
same-domain copies, permission policies and tags. Copies share blobs (content-addressed), so copying a
version never moves bytes.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ferry.sandbox.codeartifact.records import (
    DEFAULT_ACCOUNT, Conflict, Domain, NotFound, Package, Repository, ValidationError, Version,
    row_domain, row_package, row_repository, row_version,
)

MAX_UPSTREAMS = 10

_UNSET: Any = object()


class CatalogMixin:
    """Catalog methods of the store (relies on the store's ``tx``, ``query`` and core lookups)."""

    # -- domains -----------------------------------------------------------------------------------

    def delete_domain(self, domain: Domain) -> None:
        """Delete a domain. Raises :class:`Conflict` while it still has repositories."""
        with self.tx() as db:
            if db.execute("SELECT 1 FROM repositories WHERE domain_id=? LIMIT 1", (domain.id,)).fetchone():
                raise Conflict(f"Domain {domain.name} still contains repositories", "domain", domain.name)
            db.execute("DELETE FROM domains WHERE id=?", (domain.id,))
            db.execute("DELETE FROM policies WHERE arn=?", (domain.arn,))
            db.execute("DELETE FROM tags WHERE arn=? OR arn LIKE ?",
                       (domain.arn, f"arn:aws:codeartifact:{domain.region}:{domain.owner}:package-group/{domain.name}/%"))

    def domain_usage(self, domain: Domain) -> tuple[int, int]:
        """(number of repositories, total bytes of assets stored in the domain)."""
        repos = self.query("SELECT COUNT(*) AS n FROM repositories WHERE domain_id=?", (domain.id,))[0]["n"]
        size = self.query(
            "SELECT COALESCE(SUM(a.size), 0) AS s FROM assets a JOIN versions v ON v.id = a.version_id"
            " JOIN packages p ON p.id = v.package_id JOIN repositories r ON r.id = p.repo_id WHERE r.domain_id=?",
            (domain.id,),
        )[0]["s"]
        return repos, size

    # -- repositories ------------------------------------------------------------------------------

    def repositories_in_region(self, region: str, owner: str = DEFAULT_ACCOUNT) -> list[Repository]:
        """Every repository of every domain ``owner`` has in ``region``, ordered by (name, domain)."""
        out = []
        for row in self.query("SELECT * FROM domains WHERE region=? AND owner=?", (region, owner)):
            out.extend(self.repositories(row_domain(row)))
        return sorted(out, key=lambda r: (r.name, r.domain.name))

    def repository_by_id(self, repo_id: int) -> Repository:
        row = self.query("SELECT * FROM repositories WHERE id=?", (repo_id,))[0]
        return row_repository(row, self.domain_by_id(row["domain_id"]))

    def check_upstreams(self, repo_name: str, domain: Domain, upstreams: list[str]) -> None:
        """Validate an upstream list for ``repo_name``: each exists, no duplicates, no cycles, at most 10.

        Raises :class:`NotFound` for an unknown upstream, :class:`ValidationError` otherwise.
        """
        if len(upstreams) > MAX_UPSTREAMS:
            raise ValidationError(f"A repository can have at most {MAX_UPSTREAMS} upstream repositories")
        if len(set(upstreams)) != len(upstreams):
            raise ValidationError("Upstream repositories must not repeat")
        for up in upstreams:
            if up == repo_name:
                raise ValidationError(f"Repository {repo_name} cannot be its own upstream")
            seen, todo = set(), [up]
            while todo:
                name = todo.pop()
                if name in seen:
                    continue
                seen.add(name)
                try:
                    current = self.repository(domain, name)
                except NotFound:
                    if name == up:
                        raise
                    continue  # a dangling reference further up does not make a cycle
                if repo_name in current.upstreams:
                    raise ValidationError(f"Adding upstream {up} to {repo_name} would create a cycle")
                todo.extend(current.upstreams)

    def update_repository(self, repo: Repository, description: Any = _UNSET, upstreams: Any = _UNSET) -> Repository:
        """Change the description and/or replace the upstream list (validated as :meth:`check_upstreams`)."""
        with self.tx() as db:
            if upstreams is not _UNSET:
                ups = list(upstreams or [])
                self.check_upstreams(repo.name, repo.domain, ups)
                db.execute("UPDATE repositories SET upstreams=? WHERE id=?", (json.dumps(ups), repo.id))
            if description is not _UNSET:
                db.execute("UPDATE repositories SET description=? WHERE id=?", (description, repo.id))
        return self.repository(repo.domain, repo.name)

    def set_external_connections(self, repo: Repository, connections: list[str]) -> Repository:
        with self.tx() as db:
            db.execute("UPDATE repositories SET external_connections=? WHERE id=?", (json.dumps(connections), repo.id))
        return self.repository(repo.domain, repo.name)

    def delete_repository(self, repo: Repository) -> None:
        """Delete a repository with all its packages. Repositories naming it as upstream keep the (now
        dangling) reference, as the real service does."""
        with self.tx() as db:
            db.execute("DELETE FROM repositories WHERE id=?", (repo.id,))
            db.execute("DELETE FROM policies WHERE arn=?", (repo.arn,))
            db.execute("DELETE FROM tags WHERE arn=?", (repo.arn,))

    def upstream_closure(self, repo: Repository) -> list[Repository]:
        """The repositories reachable upstream of ``repo``, nearest first (depth-first, configured order)."""
        out: list[Repository] = []
        seen = {repo.name}

        def walk(r: Repository) -> None:
            for name in r.upstreams:
                if name in seen:
                    continue
                seen.add(name)
                try:
                    up = self.repository(r.domain, name)
                except NotFound:
                    continue
                out.append(up)
                walk(up)

        walk(repo)
        return out

    # -- packages ----------------------------------------------------------------------------------

    def list_packages(
        self,
        repo: Repository,
        *,
        fmt: str | None = None,
        namespace_prefix: str | None = None,
        name_prefix: str | None = None,
        publish: str | None = None,
        upstream: str | None = None,
        after: tuple[str, str, str] | None = None,
        limit: int | None = None,
    ) -> list[Package]:
        """Packages of ``repo`` ordered by (format, namespace, name), filtered, starting after ``after``."""
        sql = ["SELECT * FROM packages WHERE repo_id=?"]
        args: list[Any] = [repo.id]
        for column, value in (("format", fmt), ("publish", publish), ("upstream", upstream)):
            if value is not None:
                sql.append(f"AND {column}=?")
                args.append(value)
        for column, prefix in (("namespace", namespace_prefix), ("name", name_prefix)):
            if prefix:
                sql.append(f"AND substr({column}, 1, ?) = ?")
                args.extend([len(prefix), prefix])
        if after is not None:
            sql.append("AND (format, namespace, name) > (?, ?, ?)")
            args.extend(after)
        sql.append("ORDER BY format, namespace, name")
        if limit is not None:
            sql.append("LIMIT ?")
            args.append(limit)
        return [row_package(r) for r in self.query(" ".join(sql), tuple(args))]

    def domain_package_coordinates(self, domain: Domain) -> list[tuple[str, str, str]]:
        """Distinct (format, namespace, name) of all packages in the domain's repositories, sorted."""
        rows = self.query(
            "SELECT DISTINCT p.format, p.namespace, p.name FROM packages p JOIN repositories r ON r.id = p.repo_id"
            " WHERE r.domain_id=? ORDER BY p.format, p.namespace, p.name",
            (domain.id,),
        )
        return [(r["format"], r["namespace"], r["name"]) for r in rows]

    def delete_package(self, pkg: Package) -> None:
        """Delete a package with all its versions, assets and dist-tags."""
        with self.tx() as db:
            db.execute("DELETE FROM packages WHERE id=?", (pkg.id,))

    # -- versions ----------------------------------------------------------------------------------

    def mark_deleted(self, ver: Version) -> Version:
        """Set a version's status to Deleted and drop its assets (it may be published again later)."""
        with self.tx() as db:
            db.execute("UPDATE versions SET status='Deleted', changed=? WHERE id=?", (time.time(), ver.id))
            db.execute("DELETE FROM assets WHERE version_id=?", (ver.id,))
            return row_version(db.execute("SELECT * FROM versions WHERE id=?", (ver.id,)).fetchone())

    def same_content(self, a: Version, b: Version) -> bool:
        """True if both versions hold the same assets (names and SHA-256) and the same metadata."""
        def assets(v: Version) -> set[tuple[str, str]]:
            return {(x.name, x.sha256) for x in self.assets(v)}

        return assets(a) == assets(b) and a.metadata == b.metadata

    def copy_version(self, src: Version, dst_pkg: Package, *, overwrite: bool) -> tuple[str, Version | None]:
        """Copy ``src`` (with its assets, revision, status, metadata) into ``dst_pkg``.

        Returns ``("copied", version)``, ``("identical", version)`` when the destination already holds the
        same content, or ``("exists", None)`` when it holds different content and ``overwrite`` is false.
        """
        with self.tx() as db:
            existing = self.version(dst_pkg, src.version)
            if existing is not None and existing.status != "Deleted":
                if self.same_content(src, existing):
                    return "identical", existing
                if not overwrite:
                    return "exists", None
            if existing is not None:
                db.execute("DELETE FROM versions WHERE id=?", (existing.id,))
            db.execute(
                "INSERT INTO versions (package_id, version, revision, status, published, changed, metadata,"
                " origin_type, entry_repo) VALUES (?,?,?,?,?,?,?,?,?)",
                (dst_pkg.id, src.version, src.revision, src.status, src.published, time.time(),
                 json.dumps(src.metadata), src.origin_type, src.entry_repo),
            )
            new = self.version(dst_pkg, src.version)
            assert new is not None
            db.execute(
                "INSERT INTO assets (version_id, name, size, md5, sha1, sha256, sha512)"
                " SELECT ?, name, size, md5, sha1, sha256, sha512 FROM assets WHERE version_id=?",
                (new.id, src.id),
            )
            return "copied", new

    # -- permission policies and tags --------------------------------------------------------------

    def policy(self, arn: str) -> tuple[str, str] | None:
        """(document, revision) of the resource policy on ``arn``, or None."""
        rows = self.query("SELECT document, revision FROM policies WHERE arn=?", (arn,))
        return (rows[0]["document"], rows[0]["revision"]) if rows else None

    def put_policy(self, arn: str, document: str, expected_revision: str | None = None) -> str:
        """Set the policy; returns its new revision. Raises :class:`Conflict` if ``expected_revision``
        is given and is not the current one."""
        with self.tx() as db:
            current = self.policy(arn)
            if expected_revision is not None and (current is None or current[1] != expected_revision):
                raise Conflict("The policy revision does not match the current revision", None, arn)
            revision = secrets.token_urlsafe(24)
            db.execute("INSERT OR REPLACE INTO policies (arn, document, revision) VALUES (?,?,?)",
                       (arn, document, revision))
            return revision

    def delete_policy(self, arn: str, expected_revision: str | None = None) -> tuple[str, str]:
        """Remove the policy; returns the removed (document, revision). Raises :class:`NotFound` if there
        is none, :class:`Conflict` on a revision mismatch."""
        with self.tx() as db:
            current = self.policy(arn)
            if current is None:
                raise NotFound(f"No resource policy on {arn}", None, arn)
            if expected_revision is not None and current[1] != expected_revision:
                raise Conflict("The policy revision does not match the current revision", None, arn)
            db.execute("DELETE FROM policies WHERE arn=?", (arn,))
            return current

    def tags(self, arn: str) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.query("SELECT key, value FROM tags WHERE arn=? ORDER BY key", (arn,))}

    def set_tags(self, arn: str, tags: dict[str, str]) -> None:
        with self.tx() as db:
            for key, value in tags.items():
                db.execute("INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?,?,?)", (arn, key, value))

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        with self.tx() as db:
            for key in keys:
                db.execute("DELETE FROM tags WHERE arn=? AND key=?", (arn, key))
