"""The job file: a TOML description of one migration, read into frozen dataclasses.

The schema is a contract (extend it, never rename a key)::

    [source]                      # where packages come from
    kind = "nexus"                # "nexus" | "artifactory" | "codeartifact"
    url = "https://nexus.example.com"
    username = "migrator"
    password_env = "NEXUS_PASSWORD"   # the NAME of an environment variable; secrets never go in the file
    # token_env = "ARTIFACTORY_TOKEN"
    # kind = "codeartifact" takes domain, domain_owner, region, profile, role_arn (and url as an endpoint override)

    [target]                      # the CodeArtifact domain packages go to
    domain = "acme"
    domain_owner = "111122223333" # optional
    region = "us-east-1"          # optional
    profile = "migration"         # optional
    # role_arn = "arn:aws:iam::444455556666:role/ferry-target"   # optional: assume this role (cross-account)
    # endpoint_url = "http://127.0.0.1:9000"   # optional (stand-ins, VPC endpoints)

    [[repositories]]              # one source repository -> one target repository
    source = "npm-hosted"
    target = "npm-store"
    # format = "generic"                      # optional: when the source cannot tell
    # namespace = "tools"                     # generic only; default: the source repository name
    # layout = "{package}/{version}/{asset}"  # how generic (raw) paths map to package/version/asset
    #                                         # (neither for a codeartifact source: its packages keep theirs)
    # include = ["@acme/*"]  exclude = ["*-SNAPSHOT"]   # globs, see selects()
    # snapshots = "timestamped"               # Maven SNAPSHOTs for this mapping (default: [options] snapshots)

    [options]                     # all optional; command-line flags override them (apply_overrides)
    workers = 4
    create_missing = false
    origin_policy = "report"      # "report" | "allow-publish"
    include = []  exclude = []
    since = 2024-01-01            # TOML date/datetime or ISO 8601 string (not for a codeartifact source)
    full_every = 7                # replicate: a full reconcile every N runs (1 = always)
    snapshots = "skip"            # Maven SNAPSHOTs: "skip" (counted as skipped) | "timestamped" (newest build)

    [options.rates]               # optional: requests/s per CodeArtifact operation class, per account
    publish = 10                  # defaults: the documented quotas (see ferry.ratelimit); 0 = no limit
    # copy = 5  asset_read = 50  list = 200  token = 40  write = 100  read = 800
    # A CodeArtifact source in the target's region signing in alike (same profile and role_arn) shares these;
    # one in another account or region has its own: [options.source_rates], same classes and defaults.

Every problem raises :class:`ferry.errors.UsageError` with one line: the file, the key path
(``repositories[1].target``, 0-based) and what to do. Values of ``*_env`` keys are never echoed.
Schema checks live in :mod:`ferry.config_checks`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ferry.config_checks import (
    DEFAULT_SNAPSHOTS,
    ORIGIN_POLICIES,
    SNAPSHOT_MODES,
    SOURCE_KINDS,
    Reader,
    check_date,
    check_layout,
    check_rates,
    compile_layout,
)
from ferry.errors import UsageError
from ferry.model import ItemKey

__all__ = [
    "DEFAULT_LAYOUT",
    "Job",
    "Options",
    "ORIGIN_POLICIES",
    "RepositoryMapping",
    "SNAPSHOT_MODES",
    "SOURCE_KINDS",
    "Secret",
    "SourceConfig",
    "TargetConfig",
    "apply_overrides",
    "compile_layout",
    "load_job",
    "parse_job",
]

DEFAULT_LAYOUT = "{package}/{version}/{asset}"
DEFAULT_WORKERS = 4
DEFAULT_FULL_EVERY = 7


@dataclass(frozen=True)
class Secret:
    """A secret kept in an environment variable and read only when used.

    Holds the variable's *name*; ``repr``/``str`` never show a value. ``origin`` says where the
    name came from (for messages).
    """

    env: str
    origin: str = ""

    def current(self) -> str | None:
        """The value in the environment, without the line break a file read into it often ends with, or None.

        Raises :class:`UsageError` when the value holds a line break or another control character inside
        (never shown: it is a secret).
        """
        value = os.environ.get(self.env)
        if value is None:
            return None
        value = value.strip("\r\n")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            where = f" ({self.origin})" if self.origin else ""
            raise UsageError(f"environment variable {self.env}{where} holds a line break or control character; "
                             "set it to the secret alone")
        return value or None

    def reveal(self) -> str:
        """Return the secret's value from the environment (as :meth:`current` cleans it).

        Raises :class:`UsageError` when the variable is unset, empty or holds control characters.
        """
        value = self.current()
        if not value:
            where = f" ({self.origin})" if self.origin else ""
            raise UsageError(f"environment variable {self.env}{where} is not set; export it before running ferry")
        return value

    def __repr__(self) -> str:
        return f"Secret(env={self.env!r})"

    def __str__(self) -> str:
        return f"${self.env}"


@dataclass(frozen=True)
class SourceConfig:
    """``[source]``: where packages come from. ``password``/``token`` are :class:`Secret` or ``None``."""

    kind: str
    url: str | None = None
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    domain: str | None = None
    domain_owner: str | None = None
    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None


@dataclass(frozen=True)
class TargetConfig:
    """``[target]``: the CodeArtifact domain to migrate into."""

    domain: str
    domain_owner: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None


# Formats whose package names (and Swift's scopes) CodeArtifact lowercases: their item keys are lowercase, so
# a glob written as the source spells the id (``Acme.Core``) is matched without regard to case.
_CASELESS = ("nuget", "swift")


def _glob_match(key: ItemKey, patterns: tuple[str, ...], spelled: str | None = None) -> bool:
    bare = {key.display_name, key.package, *([spelled] if spelled else [])}
    names = [*bare, *(f"{name}@{key.version}" for name in bare)]
    if key.format.value == "nuget":
        patterns = tuple(_nuget_version(pattern) for pattern in patterns)
    if key.format.value in _CASELESS:
        names = [name.lower() for name in names]
        patterns = tuple(pattern.lower() for pattern in patterns)
    return any(fnmatchcase(name, pattern) for pattern in patterns for name in names)


def _nuget_version(pattern: str) -> str:
    """``pattern`` with a plain NuGet version after ``@`` normalized as the item keys are (``Acme.Core@1.0`` →
    ``Acme.Core@1.0.0``), so a version written as the source lists it names that version; globs are kept."""
    from ferry.migrators.nuget import normalize_version  # here: the migrators import this module

    name, at, version = pattern.rpartition("@")
    if not at or any(c in version for c in "*?["):
        return pattern
    return f"{name}@{normalize_version(version) or version}"


@dataclass(frozen=True)
class RepositoryMapping:
    """One ``[[repositories]]`` entry: source repository → target repository.

    ``snapshots`` is the mapping's own Maven SNAPSHOT setting (``None``: not set there);
    ``default_snapshots`` is the job-wide one (``[options] snapshots`` or ``--snapshots``), filled in
    by :func:`parse_job` and :func:`apply_overrides`. Migrators read :attr:`effective_snapshots`.
    """

    source: str
    target: str
    namespace: str
    layout: str = DEFAULT_LAYOUT
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    format: str | None = None
    snapshots: str | None = None
    default_snapshots: str = DEFAULT_SNAPSHOTS

    @property
    def effective_snapshots(self) -> str:
        """``"skip"`` or ``"timestamped"``: the mapping's own setting, else the job-wide one."""
        return self.snapshots or self.default_snapshots

    def match_path(self, path: str) -> dict[str, str] | None:
        """Split a generic (raw) path by ``layout``. Returns the placeholders' values, or ``None``."""
        found = compile_layout(self.layout).fullmatch(path.strip("/"))
        if found is None:
            return None
        parts = found.groupdict()
        parts.setdefault("namespace", self.namespace)
        return parts

    def selects(self, key: ItemKey, options: "Options | None" = None, spelled: str | None = None) -> bool:
        """Whether *key* is in scope for this mapping (and the job-wide ``options`` filters).

        Globs (``fnmatch``; case-sensitive, except for NuGet and Swift, whose names CodeArtifact lowercases)
        are tried on the display name (``@types/node``, ``org.acme/lib``, ``requests``), on the bare
        package name (``node``, ``lib``), on ``spelled``, the name as the source spells it where
        CodeArtifact normalizes it (PyPI ``Django`` for ``django``, ``Foo_Bar`` for ``foo-bar``), and on
        any of them followed by ``@version`` (``lodash@4.*``; a plain NuGet version is normalized first,
        so ``Acme.Core@1.0`` names ``acme.core`` ``1.0.0``). An item must match every non-empty
        ``include`` list and no ``exclude`` pattern.
        """
        layers = [(self.include, self.exclude)]
        if options is not None:
            layers.append((options.include, options.exclude))
        for include, exclude in layers:
            if include and not _glob_match(key, include, spelled):
                return False
            if exclude and _glob_match(key, exclude, spelled):
                return False
        return True


@dataclass(frozen=True)
class Options:
    """``[options]``: run-wide settings; command-line flags override them."""

    workers: int = DEFAULT_WORKERS
    create_missing: bool = False
    origin_policy: str = "report"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    since: datetime | None = None
    full_every: int = DEFAULT_FULL_EVERY
    # [options.rates]: (class, requests/s) pairs overriding ferry.ratelimit.DEFAULT_RATES (0 = no limit)
    rates: tuple[tuple[str, float], ...] = ()
    # [options.source_rates]: the same for a CodeArtifact source in another account or region (ferry.engine)
    source_rates: tuple[tuple[str, float], ...] = ()
    snapshots: str = DEFAULT_SNAPSHOTS  # Maven SNAPSHOTs where a mapping does not say (SNAPSHOT_MODES)


@dataclass(frozen=True)
class Job:
    """A whole job file, validated."""

    path: str
    source: SourceConfig
    target: TargetConfig
    repositories: tuple[RepositoryMapping, ...]
    options: Options = field(default_factory=Options)


# ---------------------------------------------------------------- reading

_SECRET_LITERALS = {"password": "password_env", "token": "token_env", "api_key": "token_env", "secret": "token_env"}
_CA_SOURCE_KEYS = ("domain", "domain_owner", "region", "profile", "role_arn")
# Where credentials go instead of a URL, by the kind of service the URL is of.
_URL_CREDENTIALS = {
    "nexus": "use username and password_env",
    "artifactory": "use token_env, or username and password_env",
    "codeartifact": "CodeArtifact signs in with AWS credentials (profile, role_arn or the environment)",
}


def _forbid_literal_secrets(r: Reader, table: dict[str, Any], prefix: str) -> None:
    for name, env_key in _SECRET_LITERALS.items():
        if name in table:
            raise r.error(
                f"{prefix}.{name}",
                "secrets never go in the job file",
                f'put it in an environment variable and name that variable with {env_key} = "MY_VAR"',
            )


def _read_source(r: Reader, table: dict[str, Any]) -> SourceConfig:
    _forbid_literal_secrets(r, table, "source")
    r.known_keys(table, "source", ("kind", "url", "username", "password_env", "token_env", *_CA_SOURCE_KEYS))
    kind = r.choice(table, "source", "kind", SOURCE_KINDS, required=True)
    url = r.url(table, "source", "url", required=kind != "codeartifact", credentials=_URL_CREDENTIALS[kind])
    username = r.string(table, "source", "username")
    password = r.env_name(table, "source", "password_env")
    token = r.env_name(table, "source", "token_env")
    if password and token:
        raise r.error("source.token_env", "both password_env and token_env are set", "keep only one of them")
    if password and not username:
        raise r.error("source.password_env", "a password needs a user name", "add username = ... to [source]")
    if username and not (password or token) and kind != "codeartifact":
        # Without a secret ferry sends no credentials at all: the run would list only what an anonymous
        # user may see (or be refused with a message about credentials it never sent).
        secret = "password_env" if kind == "nexus" else "password_env or token_env"
        raise r.error("source.username", f"a user name needs a secret ({secret})",
                      f'add {secret.split(" or ")[0]} = "MY_VAR" to [source], or remove username to read anonymously')
    if kind == "nexus" and token:
        # Nexus signs in with Basic only: the token would be dropped and the run would list what an
        # anonymous user may see.
        raise r.error("source.token_env", "a Nexus source takes username and password_env, not a token",
                      "a user token's name code and pass code go there (username = name code)")
    ca = {}
    if kind == "codeartifact":
        if password or token:
            key = "source.password_env" if password else "source.token_env"
            raise r.error(key, "a CodeArtifact source signs in with AWS credentials", "remove it (use profile)")
        ca = {
            "domain": r.domain(table, "source", "domain", required=True),
            "domain_owner": r.account(table, "source", "domain_owner"),
            "region": r.region(table, "source", "region", required=True),
            "profile": r.string(table, "source", "profile"),
            "role_arn": r.role_arn(table, "source", "role_arn"),
        }
    else:
        for name in _CA_SOURCE_KEYS:
            if name in table:
                raise r.error(f"source.{name}", 'only a kind = "codeartifact" source takes it', "remove it")
    return SourceConfig(kind=kind, url=url, username=username, password=password, token=token, **ca)


def _read_target(r: Reader, table: dict[str, Any]) -> TargetConfig:
    _forbid_literal_secrets(r, table, "target")
    r.known_keys(table, "target", ("domain", "domain_owner", "region", "profile", "endpoint_url", "role_arn"))
    return TargetConfig(
        domain=r.domain(table, "target", "domain", required=True),
        domain_owner=r.account(table, "target", "domain_owner"),
        region=r.region(table, "target", "region"),
        profile=r.string(table, "target", "profile"),
        endpoint_url=r.url(table, "target", "endpoint_url", credentials=_URL_CREDENTIALS["codeartifact"]),
        role_arn=r.role_arn(table, "target", "role_arn"),
    )


def _read_repository(r: Reader, table: dict[str, Any], where: str, source_kind: str) -> RepositoryMapping:
    r.known_keys(table, where, ("source", "target", "format", "namespace", "layout", "include", "exclude",
                                "snapshots"))
    # A CodeArtifact source repository has the target's naming rules: a name the service would refuse is bad
    # input here, not a ValidationException in the middle of a run.
    source = (r.repository(table, where, "source", required=True) if source_kind == "codeartifact"
              else r.string(table, where, "source", required=True))
    for key in ("namespace", "layout") if source_kind == "codeartifact" else ():
        if key in table:  # read from no path: left in place, it would be ignored in silence
            raise r.error(f"{where}.{key}", "a CodeArtifact source gives every package its own namespace (no "
                                            "paths to lay out)", "remove it")
    namespace = r.namespace(table, where, "namespace")
    layout = r.string(table, where, "layout") or DEFAULT_LAYOUT
    check_layout(r, f"{where}.layout", layout, namespace_set=namespace is not None)
    return RepositoryMapping(
        source=source,
        target=r.repository(table, where, "target", required=True),
        namespace=namespace if namespace is not None else source,
        layout=layout,
        include=r.globs(table, where, "include"),
        exclude=r.globs(table, where, "exclude"),
        format=r.format(table, where, "format"),
        snapshots=r.choice(table, where, "snapshots", SNAPSHOT_MODES),
    )


def _read_options(r: Reader, table: dict[str, Any]) -> Options:
    r.known_keys(table, "options", ("workers", "create_missing", "origin_policy", "include", "exclude", "since",
                                    "full_every", "rates", "source_rates", "snapshots"))
    workers = r.integer(table, "options", "workers", low=1, high=64)
    create_missing = r.boolean(table, "options", "create_missing")
    return Options(
        workers=DEFAULT_WORKERS if workers is None else workers,
        create_missing=bool(create_missing),
        origin_policy=r.choice(table, "options", "origin_policy", ORIGIN_POLICIES) or "report",
        include=r.globs(table, "options", "include"),
        exclude=r.globs(table, "options", "exclude"),
        since=check_date(r, "options.since", table.get("since")),
        full_every=r.integer(table, "options", "full_every", low=1, high=1000) or DEFAULT_FULL_EVERY,
        rates=check_rates(r, "options.rates", table.get("rates")),
        source_rates=check_rates(r, "options.source_rates", table.get("source_rates")),
        snapshots=r.choice(table, "options", "snapshots", SNAPSHOT_MODES) or DEFAULT_SNAPSHOTS,
    )


def parse_job(text: str, path: str | os.PathLike[str] = "<job>") -> Job:
    """Parse and validate job-file text. Returns a :class:`Job`; raises :class:`UsageError`."""
    label = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{label}: not valid TOML: {err}; fix the syntax") from None
    r = Reader(label)
    r.known_keys(data, "", ("source", "target", "repositories", "options"))
    source = _read_source(r, r.table(data, "source", required=True))
    target = _read_target(r, r.table(data, "target", required=True))
    entries = data.get("repositories")
    if entries is None:
        raise r.error("repositories", "missing", "add at least one [[repositories]] table with source and target")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise r.error("repositories", "expected [[repositories]] tables", "write each mapping as [[repositories]]")
    if not entries:
        raise r.error("repositories", "empty", "add at least one [[repositories]] table with source and target")
    mappings: list[RepositoryMapping] = []
    targets: dict[str, int] = {}
    for index, table in enumerate(entries):
        where = f"repositories[{index}]"
        mapping = _read_repository(r, table, where, source.kind)
        first = targets.setdefault(mapping.target, index)
        if first != index:
            raise r.error(
                f"{where}.target",
                f"{mapping.target!r} is already the target of repositories[{first}]",
                "map each target repository from one source repository",
            )
        mappings.append(mapping)
    options = _read_options(r, r.table(data, "options") or {})
    if source.kind == "codeartifact" and options.since is not None:
        raise r.error("options.since", *_SINCE_UNUSABLE)
    if source.kind != "codeartifact" and options.source_rates:
        raise r.error("options.source_rates", "only a CodeArtifact source is read through rate limits",
                      "remove it")
    return _resolved(Job(path=label, source=source, target=target, repositories=tuple(mappings), options=options))


# ListPackageVersions gives no publish time, so a CodeArtifact source's files have none to compare with: since
# would leave nothing out while the run seemed to honour it.
_SINCE_UNUSABLE = ("a CodeArtifact source's listings carry no publish dates to select by",
                   "remove it (ferry replicate moves only what changed since its last run)")


def _resolved(job: Job) -> Job:
    """``job`` with the job-wide SNAPSHOT setting handed to every mapping (identify() sees only the mapping)."""
    mode = job.options.snapshots
    if all(m.default_snapshots == mode for m in job.repositories):
        return job
    return replace(job, repositories=tuple(replace(m, default_snapshots=mode) for m in job.repositories))


def load_job(path: str | os.PathLike[str]) -> Job:
    """Read and validate a job file. Returns a :class:`Job`; raises :class:`UsageError`."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is not TOML
    except OSError as err:
        raise UsageError(f"{path}: cannot read the job file ({err.strerror or err}); check the path") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the job file is not UTF-8 text; save it as UTF-8") from None
    return parse_job(text, path)


def apply_overrides(job: Job, **flags: Any) -> Job:
    """Return *job* with command-line values replacing ``[options]``; ``None`` means "not given".

    Accepts ``workers``, ``create_missing``, ``origin_policy``, ``include``, ``exclude``
    (replace the job's lists), ``since`` (date, datetime or ISO string) and ``snapshots`` (the
    job-wide Maven SNAPSHOT setting: it replaces ``[options] snapshots``, while a mapping's own
    ``snapshots`` still wins). Messages name the
    flag (``--workers``). Raises :class:`UsageError`; ``TypeError`` for an unknown name.
    """
    unknown = set(flags) - set(Options.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown option override(s): {', '.join(sorted(unknown))}")
    given = {name: value for name, value in flags.items() if value is not None}
    if not given:
        return job
    r = Reader("command line")
    table = {name: list(value) if isinstance(value, tuple) else value for name, value in given.items()}
    changes: dict[str, Any] = {}
    for name, value in table.items():
        flag = "--" + name.replace("_", "-")
        if name == "workers":
            changes[name] = r.integer(table, "", name, low=1, high=64, label=flag)
        elif name == "create_missing":
            changes[name] = r.boolean(table, "", name, label=flag)
        elif name == "origin_policy":
            changes[name] = r.choice(table, "", name, ORIGIN_POLICIES, label=flag)
        elif name == "full_every":
            changes[name] = r.integer(table, "", name, low=1, high=1000, label=flag)
        elif name in ("include", "exclude"):
            changes[name] = r.globs(table, "", name, label=flag)
        elif name == "snapshots":
            changes[name] = r.choice(table, "", name, SNAPSHOT_MODES, label=flag)
        else:
            changes[name] = check_date(r, flag, value)
            if job.source.kind == "codeartifact":
                raise r.error(flag, *_SINCE_UNUSABLE)
    return _resolved(replace(job, options=replace(job.options, **changes)))
