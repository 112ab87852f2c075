"""Control-plane operations on domains, repositories, external connections, tokens and endpoints.

Every handler takes a :class:`~ferry.sandbox.codeartifact.api.Call` and returns the operation's output
members as botocore's model names them; it raises :class:`~ferry.sandbox.codeartifact.records.StoreError`
subclasses (``NotFound``, ``Conflict``, ``ValidationError``, ...) for the modeled service errors.
"""

from __future__ import annotations

from typing import Any

from ferry.sandbox.codeartifact.api import Call, page, repository_summary, with_token
from ferry.sandbox.codeartifact.api import operation as op
from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.codeartifact.records import (
    Conflict, Domain, NotFound, QuotaExceeded, Repository, ValidationError,
)

DEFAULT_TOKEN_SECONDS = 43200
# A duration of 0 ties the token to the caller's role session; the stand-in has no sessions, so it
# picks the one-hour default of an STS session.
SESSION_TOKEN_SECONDS = 3600

# External connections the service offers, with the package format each serves.
EXTERNAL_CONNECTIONS = {
    "public:npmjs": "npm",
    "public:pypi": "pypi",
    "public:nuget-org": "nuget",
    "public:maven-central": "maven",
    "public:maven-googleandroid": "maven",
    "public:maven-gradleplugins": "maven",
    "public:maven-commonsware": "maven",
    "public:maven-clojars": "maven",
    "public:ruby-gems-org": "ruby",
    "public:crates-io": "cargo",
}


def domain_summary(d: Domain) -> dict[str, Any]:
    out = {"name": d.name, "owner": d.owner, "arn": d.arn, "status": "Active", "createdTime": d.created}
    if d.encryption_key:
        out["encryptionKey"] = d.encryption_key
    return out


def domain_description(call: Call, d: Domain) -> dict[str, Any]:
    repos, size = call.store.domain_usage(d)
    out = domain_summary(d)
    out.update(repositoryCount=repos, assetSizeBytes=size, s3BucketArn=f"arn:aws:s3:::assets-{d.owner}-{d.region}")
    return out


def repository_description(repo: Repository) -> dict[str, Any]:
    out = repository_summary(repo)
    out["upstreams"] = [{"repositoryName": name} for name in repo.upstreams]
    out["externalConnections"] = [
        {"externalConnectionName": name, "packageFormat": EXTERNAL_CONNECTIONS.get(name, "generic"),
         "status": "Available"}
        for name in repo.external_connections
    ]
    return out


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags or []}


# -- domains ---------------------------------------------------------------------------------------


@op("CreateDomain")
def create_domain(call: Call) -> dict:
    d = call.store.create_domain(call.region, call.account, call.params["domain"], call.get("encryptionKey"))
    call.store.set_tags(d.arn, tag_dict(call.get("tags")))
    return {"domain": domain_description(call, d)}


@op("DescribeDomain")
def describe_domain(call: Call) -> dict:
    return {"domain": domain_description(call, call.domain())}


@op("ListDomains")
def list_domains(call: Call) -> dict:
    domains = [d for d in call.store.domains(call.region) if d.owner == call.account]
    chosen, token = page(call, domains, lambda d: d.name, 50)
    return with_token({"domains": [domain_summary(d) for d in chosen]}, token)


@op("DeleteDomain")
def delete_domain(call: Call) -> dict:
    d = call.domain()
    body = {"domain": domain_description(call, d)}
    call.store.delete_domain(d)
    body["domain"]["status"] = "Deleted"
    return body


# -- repositories ----------------------------------------------------------------------------------


def _upstream_names(call: Call) -> list[str]:
    return [u["repositoryName"] for u in call.get("upstreams") or []]


@op("CreateRepository")
def create_repository(call: Call) -> dict:
    d = call.domain()
    ups = _upstream_names(call)
    call.store.check_upstreams(call.params["repository"], d, ups)
    repo = call.store.create_repository(d, call.params["repository"], call.get("description"), ups)
    call.store.set_tags(repo.arn, tag_dict(call.get("tags")))
    return {"repository": repository_description(repo)}


@op("DescribeRepository")
def describe_repository(call: Call) -> dict:
    return {"repository": repository_description(call.repo())}


@op("UpdateRepository")
def update_repository(call: Call) -> dict:
    repo = call.repo()
    changes: dict[str, Any] = {}
    if "description" in call.params:
        changes["description"] = call.params["description"]
    if "upstreams" in call.params:
        changes["upstreams"] = _upstream_names(call)
    return {"repository": repository_description(call.store.update_repository(repo, **changes))}


@op("DeleteRepository")
def delete_repository(call: Call) -> dict:
    repo = call.repo()
    call.store.delete_repository(repo)
    return {"repository": repository_description(repo)}


def _prefixed(repos: list[Repository], prefix: str | None) -> list[Repository]:
    return [r for r in repos if not prefix or r.name.startswith(prefix)]


@op("ListRepositories")
def list_repositories(call: Call) -> dict:
    repos = _prefixed(call.store.repositories_in_region(call.region, call.account), call.get("repositoryPrefix"))
    chosen, token = page(call, repos, lambda r: [r.name, r.domain.name], 50)
    return with_token({"repositories": [repository_summary(r) for r in chosen]}, token)


@op("ListRepositoriesInDomain")
def list_repositories_in_domain(call: Call) -> dict:
    d = call.domain()
    repos = _prefixed(call.store.repositories(d), call.get("repositoryPrefix"))
    admin = call.get("administratorAccount")
    if admin:
        repos = [r for r in repos if r.domain.owner == admin]
    chosen, token = page(call, repos, lambda r: r.name, 50)
    return with_token({"repositories": [repository_summary(r) for r in chosen]}, token)


@op("AssociateExternalConnection")
def associate_external_connection(call: Call) -> dict:
    repo = call.repo()
    name = call.params["externalConnection"]
    if name not in EXTERNAL_CONNECTIONS:
        raise ValidationError(f"Unknown external connection {name}; known: {', '.join(sorted(EXTERNAL_CONNECTIONS))}")
    if name in repo.external_connections:
        raise Conflict(f"Repository {repo.name} already has external connection {name}", "repository", repo.name)
    if repo.external_connections:
        raise QuotaExceeded(f"Repository {repo.name} already has an external connection", "repository", repo.name)
    # Recorded only: the stand-in never contacts the public registry.
    repo = call.store.set_external_connections(repo, [name])
    return {"repository": repository_description(repo)}


@op("DisassociateExternalConnection")
def disassociate_external_connection(call: Call) -> dict:
    repo = call.repo()
    name = call.params["externalConnection"]
    if name not in repo.external_connections:
        raise NotFound(f"Repository {repo.name} has no external connection {name}", "repository", repo.name)
    repo = call.store.set_external_connections(repo, [c for c in repo.external_connections if c != name])
    return {"repository": repository_description(repo)}


# -- tokens and endpoints --------------------------------------------------------------------------


@op("GetAuthorizationToken")
def get_authorization_token(call: Call) -> dict:
    d = call.domain()
    duration = call.get("durationSeconds")
    if duration is None:
        seconds = DEFAULT_TOKEN_SECONDS
    elif duration == 0:
        seconds = SESSION_TOKEN_SECONDS
    elif 900 <= duration <= 43200:
        seconds = duration
    else:
        raise ValidationError("durationSeconds must be 0 or between 900 and 43200")
    if call.faults.token_ttl is not None:
        seconds = call.faults.token_ttl
    token, expires = call.store.issue_token(d, seconds)
    return {"authorizationToken": token, "expiration": expires}


@op("GetRepositoryEndpoint")
def get_repository_endpoint(call: Call) -> dict:
    d = call.domain()
    repo = call.repo(domain=d)
    return {"repositoryEndpoint": endpoint_url(call.request.host_url, d, repo.name, call.params["format"])}
