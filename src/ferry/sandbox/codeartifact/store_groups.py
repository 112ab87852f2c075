"""Package groups of the CodeArtifact stand-in's store (a mixin of :class:`~.store.Store`).

Each domain has the root group ``/*`` (created with the domain, never deleted, everything ALLOW). A
group's origin configuration is kept as JSON: ``{"restrictions": {type: mode}, "allowed": {type: [repo]}}``.
Parents are computed from the patterns on every read, so deleting a group re-parents its children.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from ferry.sandbox.codeartifact import groups as gp
from ferry.sandbox.codeartifact.records import (
    Conflict, Domain, NotFound, OriginBlocked, Repository, ValidationError, label,
)


@dataclass(frozen=True)
class PackageGroup:
    id: int
    domain: Domain
    pattern: str
    description: str | None
    contact_info: str | None
    created: float
    restrictions: dict[str, str] = field(default_factory=dict)  # type -> mode
    allowed: dict[str, list[str]] = field(default_factory=dict)  # type -> repository names

    @property
    def arn(self) -> str:
        d = self.domain
        return f"arn:aws:codeartifact:{d.region}:{d.owner}:package-group/{d.name}{self.pattern}"

    @property
    def parsed(self) -> gp.Pattern:
        return gp.parse(self.pattern)

    def mode(self, rtype: str) -> str:
        default = "ALLOW" if self.pattern == gp.ROOT_PATTERN else "INHERIT"
        return self.restrictions.get(rtype, default)


@dataclass(frozen=True)
class EffectiveRestriction:
    mode: str
    effective_mode: str
    inherited_from: PackageGroup | None
    repositories_count: int


def _group(r: sqlite3.Row, domain: Domain) -> PackageGroup:
    origin = json.loads(r["origin"] or "{}")
    return PackageGroup(r["id"], domain, r["pattern"], r["description"], r["contact_info"], r["created"],
                        dict(origin.get("restrictions", {})), {k: list(v) for k, v in origin.get("allowed", {}).items()})


class GroupsMixin:
    """Package-group methods of the store (relies on the store's ``tx`` and ``query``)."""

    def ensure_root_group(self, domain: Domain) -> PackageGroup:
        """The domain's root group ``/*``, created if missing."""
        with self.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO package_groups (domain_id, pattern, description, contact_info, created, origin)"
                " VALUES (?,?,?,?,?,?)",
                (domain.id, gp.ROOT_PATTERN, None, None, domain.created, "{}"),
            )
        return self.package_group(domain, gp.ROOT_PATTERN)

    def create_package_group(
        self, domain: Domain, pattern: str, description: str | None = None, contact_info: str | None = None
    ) -> PackageGroup:
        """Create a group. Raises :class:`ValidationError` for a bad pattern, :class:`Conflict` if it exists."""
        gp.parse(pattern)
        self.ensure_root_group(domain)
        with self.tx() as db:
            try:
                db.execute(
                    "INSERT INTO package_groups (domain_id, pattern, description, contact_info, created, origin)"
                    " VALUES (?,?,?,?,?,?)",
                    (domain.id, pattern, description, contact_info, time.time(), "{}"),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"Package group {pattern} already exists", "package-group", pattern) from None
        return self.package_group(domain, pattern)

    def package_group(self, domain: Domain, pattern: str) -> PackageGroup:
        """The group with exactly this pattern. Raises :class:`NotFound`."""
        if pattern == gp.ROOT_PATTERN:
            self._ensure_root_quietly(domain)
        rows = self.query("SELECT * FROM package_groups WHERE domain_id=? AND pattern=?", (domain.id, pattern))
        if not rows:
            raise NotFound(f"Package group {pattern} not found in domain {domain.name}", "package-group", pattern)
        return _group(rows[0], domain)

    def package_groups(self, domain: Domain) -> list[PackageGroup]:
        """Every group of the domain (root included), ordered by pattern."""
        self._ensure_root_quietly(domain)
        rows = self.query("SELECT * FROM package_groups WHERE domain_id=? ORDER BY pattern", (domain.id,))
        return [_group(r, domain) for r in rows]

    def _ensure_root_quietly(self, domain: Domain) -> None:
        if not self.query("SELECT 1 FROM package_groups WHERE domain_id=? AND pattern=?", (domain.id, gp.ROOT_PATTERN)):
            self.ensure_root_group(domain)

    def update_package_group(
        self, group: PackageGroup, description: str | None = None, contact_info: str | None = None
    ) -> PackageGroup:
        """Set description and/or contact info (None leaves a field unchanged)."""
        with self.tx() as db:
            if description is not None:
                db.execute("UPDATE package_groups SET description=? WHERE id=?", (description, group.id))
            if contact_info is not None:
                db.execute("UPDATE package_groups SET contact_info=? WHERE id=?", (contact_info, group.id))
        return self.package_group(group.domain, group.pattern)

    def delete_package_group(self, group: PackageGroup) -> None:
        """Delete a group (its children then belong to its parent). The root cannot be deleted."""
        if group.pattern == gp.ROOT_PATTERN:
            raise ValidationError("The root package group /* cannot be deleted")
        with self.tx() as db:
            db.execute("DELETE FROM package_groups WHERE id=?", (group.id,))

    def set_package_group_origin(
        self,
        group: PackageGroup,
        restrictions: dict[str, str] | None,
        add: list[tuple[str, str]] = (),
        remove: list[tuple[str, str]] = (),
    ) -> tuple[PackageGroup, dict[str, dict[str, list[str]]]]:
        """Update modes and allowed-repository lists; returns the group and {type: {ADDED|REMOVED: [repo]}}.

        Raises :class:`ValidationError` for INHERIT on the root group or an unknown type/mode.
        """
        new_restrictions = dict(group.restrictions)
        for rtype, mode in (restrictions or {}).items():
            if rtype not in gp.RESTRICTION_TYPES or mode not in gp.MODES:
                raise ValidationError(f"Invalid origin restriction {rtype}={mode}")
            if mode == "INHERIT" and group.pattern == gp.ROOT_PATTERN:
                raise ValidationError("The root package group cannot inherit origin restrictions")
            new_restrictions[rtype] = mode
        allowed = {k: list(v) for k, v in group.allowed.items()}
        updates: dict[str, dict[str, list[str]]] = {}
        for repo_name, rtype in add:
            lst = allowed.setdefault(rtype, [])
            if repo_name not in lst:
                lst.append(repo_name)
                updates.setdefault(rtype, {}).setdefault("ADDED", []).append(repo_name)
        for repo_name, rtype in remove:
            lst = allowed.get(rtype, [])
            if repo_name in lst:
                lst.remove(repo_name)
                updates.setdefault(rtype, {}).setdefault("REMOVED", []).append(repo_name)
        origin = {"restrictions": new_restrictions, "allowed": {k: sorted(v) for k, v in allowed.items() if v}}
        with self.tx() as db:
            db.execute("UPDATE package_groups SET origin=? WHERE id=?", (json.dumps(origin), group.id))
        return self.package_group(group.domain, group.pattern), updates

    # -- hierarchy -------------------------------------------------------------------------------

    def group_parent(self, group: PackageGroup, all_groups: list[PackageGroup] | None = None) -> PackageGroup | None:
        """The group's parent (None for the root)."""
        all_groups = all_groups if all_groups is not None else self.package_groups(group.domain)
        found = gp.parent_of(group.parsed, [(g.parsed, g) for g in all_groups if g.id != group.id])
        return found[1] if found else None  # type: ignore[return-value]

    def associated_group(self, domain: Domain, fmt: str, namespace: str | None, name: str,
                         all_groups: list[PackageGroup] | None = None) -> PackageGroup:
        """The most specific group matching the package (at worst the root)."""
        all_groups = all_groups if all_groups is not None else self.package_groups(domain)
        found = gp.most_specific([(g.parsed, g) for g in all_groups if g.parsed.matches(fmt, namespace, name)])
        assert found is not None  # the root matches everything
        return found[1]  # type: ignore[return-value]

    def effective_restriction(self, group: PackageGroup, rtype: str,
                              all_groups: list[PackageGroup] | None = None) -> EffectiveRestriction:
        """The group's own mode for ``rtype`` and the mode in force after following INHERIT upwards."""
        all_groups = all_groups if all_groups is not None else self.package_groups(group.domain)
        own = group.mode(rtype)
        current, source = group, None
        while current.mode(rtype) == "INHERIT":
            parent = self.group_parent(current, all_groups)
            if parent is None:  # pragma: no cover - the root never inherits
                break
            current = source = parent
        effective_group = current
        return EffectiveRestriction(own, effective_group.mode(rtype), source,
                                    len(effective_group.allowed.get(rtype, [])))

    def check_publish_allowed(self, repo: Repository, fmt: str, namespace: str | None, name: str) -> None:
        """Raise :class:`OriginBlocked` if the package's group blocks publishing into ``repo``."""
        all_groups = self.package_groups(repo.domain)
        if len(all_groups) == 1 and all_groups[0].mode("PUBLISH") == "ALLOW":
            return
        group = self.associated_group(repo.domain, fmt, namespace, name, all_groups)
        eff = self.effective_restriction(group, "PUBLISH", all_groups)
        holder = eff.inherited_from or group
        if eff.effective_mode == "BLOCK" or (
            eff.effective_mode == "ALLOW_SPECIFIC_REPOSITORIES" and repo.name not in holder.allowed.get("PUBLISH", [])
        ):
            raise OriginBlocked(
                f"Publishing {label(namespace, name)} to {repo.name} is blocked by package group {holder.pattern}",
                "package", name,
            )

    def describe_restrictions(self, group: PackageGroup, all_groups: list[PackageGroup] | None = None) -> dict[str, Any]:
        """``originConfiguration`` as the API reports it for ``group``."""
        all_groups = all_groups if all_groups is not None else self.package_groups(group.domain)
        out: dict[str, Any] = {}
        for rtype in gp.RESTRICTION_TYPES:
            eff = self.effective_restriction(group, rtype, all_groups)
            item: dict[str, Any] = {"mode": eff.mode, "effectiveMode": eff.effective_mode,
                                    "repositoriesCount": eff.repositories_count}
            if eff.inherited_from is not None:
                item["inheritedFrom"] = {"arn": eff.inherited_from.arn, "pattern": eff.inherited_from.pattern}
            out[rtype] = item
        return {"restrictions": out}
