"""``ferry replicate --config-only``: make the target domain's configuration match the source's.

Covered: the domain itself, the mapped repositories and every repository they reach through upstreams
(descriptions, upstream order, external connections), package groups (description, contact info,
origin restriction modes, allowed repositories), and per-package origin configurations. Repository
names follow the job's mappings; an upstream that no mapping names keeps its own name.

The diff is computed first, as a list of :class:`Change` lines; a dry run prints it and stops, a real
run prints and applies it in order (domain, repositories, upstreams, connections, groups, packages).
Applying it twice changes nothing the second time. Nothing in the target is deleted: repositories,
groups or upstreams the source lacks are reported (``!``) and left alone. A domain's KMS key is
regional and is not copied; a new target domain uses the default key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from ferry.codeartifact import Domain, source_limiter
from ferry.config import Job
from ferry.errors import EXIT_ITEMS_FAILED, EXIT_OK, FerryError, ItemError, UsageError
from ferry.http import check_ca_bundle, check_url
from ferry.ratelimit import RateLimiter
from ferry.retry import REQUEST, retrying

RESTRICTION_TYPES = ("PUBLISH", "EXTERNAL_UPSTREAM", "INTERNAL_UPSTREAM")
DEFAULT_ORIGIN = {"publish": "ALLOW", "upstream": "BLOCK"}  # what a direct publish gives a new package


@dataclass
class Change:
    """One difference: ``sigil`` + for create, ~ for update, ! for reported only; ``apply`` makes it."""

    sigil: str
    text: str
    apply: Callable[[], Any] | None = None

    def __str__(self) -> str:
        return f"{self.sigil} {self.text}"


@dataclass
class ConfigOutcome:
    changes: list[Change]
    dry_run: bool
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_ITEMS_FAILED if self.problems else EXIT_OK

    def lines(self) -> list[str]:
        out = [str(c) for c in self.changes]
        actionable = sum(1 for c in self.changes if c.apply is not None)
        if not actionable:
            out.append("configuration in step: nothing to change")
        elif self.dry_run:
            out.append(f"dry run: {actionable} change(s) shown, none made; run without --dry-run to apply")
        else:
            out.append(f"applied {actionable - len(self.problems)} of {actionable} change(s)")
        out += [f"problem: {p}" for p in self.problems]
        return out


def _missing(err: ClientError) -> bool:
    return err.response["Error"]["Code"] == "ResourceNotFoundException"


def _read(domain: Domain, operation: str, default: Any = None, **params: Any) -> Any:
    """A control-plane read, or ``default`` when the thing (or its domain) does not exist."""
    try:
        return domain.read(operation, **params)
    except ClientError as err:
        if _missing(err):
            return default
        raise


def _list(domain: Domain, operation: str, key: str, **params: Any) -> list[dict]:
    try:
        return list(domain.pages(operation, key, **params))
    except ClientError as err:
        if _missing(err):
            return []
        raise


class ConfigDiff:
    """Source and target domains, and the repository name map taken from the job."""

    def __init__(self, job: Job, source: Domain, target: Domain):
        self.job, self.source, self.target = job, source, target
        self.names = {m.source: m.target for m in job.repositories}
        self.changes: list[Change] = []

    def to_target(self, name: str) -> str:
        return self.names.get(name, name)

    def add(self, sigil: str, text: str, apply: Callable[[], Any] | None = None) -> None:
        self.changes.append(Change(sigil, text, apply))

    # -- what the source has

    def source_repositories(self) -> list[dict]:
        """The mapped repositories and their upstream closure, upstreams before the repositories using them."""
        found: dict[str, dict] = {}
        order: list[str] = []

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if name in found or name in trail:
                return
            desc = _read(self.source, "describe_repository", repository=name)
            if desc is None:
                raise UsageError(f"source domain {self.source.name!r} has no repository {name!r}; fix [[repositories]]")
            repo = desc["repository"]
            for up in repo.get("upstreams", []):
                visit(up["repositoryName"], trail + (name,))
            found[name] = repo
            order.append(name)

        for m in self.job.repositories:
            visit(m.source, ())
        return [found[n] for n in order]

    # -- the diff

    def domain(self) -> bool:
        """Whether the target domain exists now (a create is planned otherwise)."""
        if _read(self.source, "describe_domain") is None:
            raise UsageError(f"source domain {self.source.name!r} does not exist in {self.source.region}")
        if _read(self.target, "describe_domain") is not None:
            return True
        self.add("+", f"domain {self.target.name} in {self.target.region} (default encryption key)",
                 self.target.create)
        return False

    def repositories(self, repos: list[dict], target_exists: bool) -> None:
        t = self.target
        current = {}
        for repo in repos:
            name = self.to_target(repo["name"])
            desc = _read(t, "describe_repository", repository=name) if target_exists else None
            current[name] = desc["repository"] if desc else None
            if desc is None:
                self.add("+", f"repository {name}", lambda n=name, d=repo.get("description"): t.call(
                    "create_repository", repository=n, **({"description": d} if d else {})))
            elif (desc["repository"].get("description") or None) != (repo.get("description") or None):
                self.add("~", f"repository {name}: description", lambda n=name, d=repo.get("description"): t.call(
                    "update_repository", repository=n, description=d or ""))
        for repo in repos:
            name, have = self.to_target(repo["name"]), current[self.to_target(repo["name"])] or {}
            want_up = [self.to_target(u["repositoryName"]) for u in repo.get("upstreams", [])]
            have_up = [u["repositoryName"] for u in have.get("upstreams", [])]
            if want_up != have_up:
                self.add("~", f"repository {name}: upstreams {have_up} -> {want_up}",
                         lambda n=name, u=want_up: t.call("update_repository", repository=n,
                                                          upstreams=[{"repositoryName": x} for x in u]))
            want_ec = {c["externalConnectionName"] for c in repo.get("externalConnections", [])}
            have_ec = {c["externalConnectionName"] for c in have.get("externalConnections", [])}
            for conn in sorted(want_ec - have_ec):
                self.add("+", f"repository {name}: external connection {conn}",
                         lambda n=name, c=conn: t.call("associate_external_connection", repository=n,
                                                       externalConnection=c))
            for conn in sorted(have_ec - want_ec):
                self.add("!", f"repository {name}: external connection {conn} is not in the source (left as is)")

    def package_groups(self, target_exists: bool) -> None:
        t = self.target
        have = {g["pattern"]: g for g in _list(t, "list_package_groups", "packageGroups")} if target_exists else {}
        for group in _list(self.source, "list_package_groups", "packageGroups"):
            pattern, mine = group["pattern"], have.pop(group["pattern"], None)
            if mine is None and pattern != "/*":
                self.add("+", f"package group {pattern}", lambda p=pattern, g=group: t.call(
                    "create_package_group", packageGroup=p,
                    **{k: g[k] for k in ("description", "contactInfo") if g.get(k)}))
            elif mine is not None and any((mine.get(k) or None) != (group.get(k) or None)
                                          for k in ("description", "contactInfo")):
                self.add("~", f"package group {pattern}: description/contact", lambda p=pattern, g=group: t.call(
                    "update_package_group", packageGroup=p,
                    **{k: g.get(k) or "" for k in ("description", "contactInfo")}))
            self._group_origin(pattern, group, mine)
        for pattern in sorted(set(have) - {"/*"}):
            self.add("!", f"package group {pattern} is not in the source (left as is)")

    def _group_origin(self, pattern: str, group: dict, mine: dict | None) -> None:
        t = self.target
        want = group.get("originConfiguration", {}).get("restrictions", {})
        have = (mine or {}).get("originConfiguration", {}).get("restrictions", {})
        if mine is None and pattern == "/*":  # every domain has the root group, allowing everything
            have = {rtype: {"mode": "ALLOW"} for rtype in RESTRICTION_TYPES}
        modes = {}
        for rtype in RESTRICTION_TYPES:
            w = want.get(rtype, {}).get("mode", "INHERIT")
            h = have.get(rtype, {}).get("mode", "INHERIT")
            if w != h:
                modes[rtype] = w
                self.add("~", f"package group {pattern}: {rtype} {h} -> {w}")
        add, remove = [], []
        for rtype in RESTRICTION_TYPES:
            if want.get(rtype, {}).get("mode") != "ALLOW_SPECIFIC_REPOSITORIES":
                continue
            w = {self.to_target(r) for r in _list(self.source, "list_allowed_repositories_for_group",
                                                  "allowedRepositories", packageGroup=pattern,
                                                  originRestrictionType=rtype)}
            h = set(_list(t, "list_allowed_repositories_for_group", "allowedRepositories", packageGroup=pattern,
                          originRestrictionType=rtype)) if mine else set()
            add += [{"repositoryName": r, "originRestrictionType": rtype} for r in sorted(w - h)]
            remove += [{"repositoryName": r, "originRestrictionType": rtype} for r in sorted(h - w)]
            for r in sorted(w - h):
                self.add("+", f"package group {pattern}: {rtype} allows {r}")
            for r in sorted(h - w):
                self.add("~", f"package group {pattern}: {rtype} no longer allows {r}")
        if modes or add or remove:
            params: dict[str, Any] = {"packageGroup": pattern}
            if modes:
                params["restrictions"] = modes
            if add:
                params["addAllowedRepositories"] = add
            if remove:
                params["removeAllowedRepositories"] = remove
            self.changes[-1].apply = lambda: t.call("update_package_group_origin_configuration", **params)

    def origins(self, repos: list[dict], target_exists: bool) -> None:
        t = self.target
        for repo in repos:
            name = self.to_target(repo["name"])
            have = {}
            if target_exists:
                have = {(p["format"], p.get("namespace", ""), p["package"]):
                        p.get("originConfiguration", {}).get("restrictions")
                        for p in _list(t, "list_packages", "packages", repository=name, maxResults=1000)}
            for pkg in _list(self.source, "list_packages", "packages", repository=repo["name"], maxResults=1000):
                key = (pkg["format"], pkg.get("namespace", ""), pkg["package"])
                want = pkg.get("originConfiguration", {}).get("restrictions")
                if not want or have.get(key, DEFAULT_ORIGIN) == want:
                    continue
                fmt, ns, package = key
                label = f"{fmt} {ns + '/' if ns else ''}{package} in {name}"
                before = have.get(key)
                shown = f"publish {before['publish']}, upstream {before['upstream']} -> " if before else ""
                self.add("~" if before else "+", f"origin configuration of {label}: {shown}publish "
                         f"{want['publish']}, upstream {want['upstream']}",
                         lambda n=name, k=key, w=want: t.call(
                             "put_package_origin_configuration", repository=n, format=k[0], package=k[2],
                             restrictions={"publish": w["publish"], "upstream": w["upstream"]},
                             **({"namespace": k[1]} if k[1] else {})))


def _apply(apply: Callable[[], Any], retry: Callable[[Callable[[], Any]], Any]) -> None:
    """Make one change under the request retry policy, so a throttled or failed write is sent again.

    A write whose answer was lost may have been made: sent again, it conflicts ("already exists"), which
    after such a failure means it is done. Raises what the last attempt raised otherwise.
    """
    failed_before = False

    def attempt() -> None:
        nonlocal failed_before
        try:
            apply()
        except ItemError:  # ConflictException (see ferry.codeartifact.translate)
            if not failed_before:
                raise
        except Exception:
            failed_before = True
            raise

    retry(attempt)


def sync_config(job: Job, dry_run: bool = False, sleep: Callable[[float], None] | None = None,
                allow_http: bool = False, ca_bundle: str | None = None) -> ConfigOutcome:
    """Diff (and unless ``dry_run``, apply) the source domain's configuration onto the target.

    Returns a :class:`ConfigOutcome`; raises :class:`UsageError` for a source kind other than
    codeartifact, a missing source domain/repository, a plain-http endpoint on a host that is not
    loopback (without ``allow_http``) or an unreadable ``ca_bundle``, FatalError for refused credentials.
    """
    s, t = job.source, job.target
    if s.kind != "codeartifact":
        raise UsageError('--config-only copies a CodeArtifact domain\'s configuration: set [source] kind = "codeartifact"')
    check_ca_bundle(ca_bundle)
    retry = retrying(REQUEST, **({"sleep": sleep} if sleep else {}))
    source_url = check_url(s.url, "[source] url", allow_http) if s.url else None
    target_url = check_url(t.endpoint_url, "[target] endpoint_url", allow_http) if t.endpoint_url else None
    source = Domain(s.domain or "", s.domain_owner, s.region, s.profile, endpoint_url=source_url, retry=retry,
                    role_arn=s.role_arn, side="source", ca_bundle=ca_bundle, allow_http=allow_http)
    # Paced as a run's are: one origin configuration write per package adds up on a large domain.
    target = Domain(t.domain, t.domain_owner, t.region, t.profile, endpoint_url=target_url, retry=retry,
                    role_arn=t.role_arn, limiter=RateLimiter(dict(job.options.rates)), ca_bundle=ca_bundle,
                    allow_http=allow_http)
    source.limiter = source_limiter(job, source, target)
    diff = ConfigDiff(job, source, target)
    exists = diff.domain()
    repos = diff.source_repositories()
    diff.repositories(repos, exists)
    diff.package_groups(exists)
    diff.origins(repos, exists)
    outcome = ConfigOutcome(diff.changes, dry_run)
    if not dry_run:
        for change in diff.changes:
            if change.apply is None:
                continue
            try:
                _apply(change.apply, retry)
            except (FerryError, ClientError) as err:
                outcome.problems.append(f"{change.text}: {err}")
    outcome.requests = {f"source {source.name}@{source.region}": source.request_counts(),
                        f"target {target.name}@{target.region}": target.request_counts()}
    return outcome
