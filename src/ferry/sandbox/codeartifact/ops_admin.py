"""Control-plane operations on resource policies (domain, repository) and tags (any ARN).

Every handler takes a :class:`~ferry.sandbox.codeartifact.api.Call` and returns the operation's output
members as botocore's model names them; it raises :class:`~ferry.sandbox.codeartifact.records.StoreError`
subclasses (``NotFound``, ``Conflict``, ``ValidationError``, ...) for the modeled service errors.
"""

from __future__ import annotations

import json
import re

from ferry.sandbox.codeartifact.api import Call
from ferry.sandbox.codeartifact.api import operation as op
from ferry.sandbox.codeartifact.records import NotFound, StoreError, ValidationError

_ARN = re.compile(r"^arn:aws:codeartifact:(?P<region>[a-z0-9-]+):(?P<owner>\d{12}):"
                  r"(?P<kind>domain|repository|package-group)/(?P<rest>.+)$")


def _policy_body(arn: str, document: str, revision: str) -> dict:
    return {"policy": {"resourceArn": arn, "revision": revision, "document": document}}


def _check_document(document: str) -> None:
    try:
        json.loads(document)
    except ValueError:
        raise ValidationError("policyDocument is not a valid JSON policy") from None


@op("PutDomainPermissionsPolicy")
def put_domain_policy(call: Call) -> dict:
    arn = call.domain().arn
    _check_document(call.params["policyDocument"])
    rev = call.store.put_policy(arn, call.params["policyDocument"], call.get("policyRevision"))
    return _policy_body(arn, call.params["policyDocument"], rev)


@op("GetDomainPermissionsPolicy")
def get_domain_policy(call: Call) -> dict:
    arn = call.domain().arn
    found = call.store.policy(arn)
    if found is None:
        raise NotFound(f"No resource policy on domain {call.params['domain']}", "domain", call.params["domain"])
    return _policy_body(arn, *found)


@op("DeleteDomainPermissionsPolicy")
def delete_domain_policy(call: Call) -> dict:
    arn = call.domain().arn
    return _policy_body(arn, *call.store.delete_policy(arn, call.get("policyRevision")))


@op("PutRepositoryPermissionsPolicy")
def put_repository_policy(call: Call) -> dict:
    arn = call.repo().arn
    _check_document(call.params["policyDocument"])
    rev = call.store.put_policy(arn, call.params["policyDocument"], call.get("policyRevision"))
    return _policy_body(arn, call.params["policyDocument"], rev)


@op("GetRepositoryPermissionsPolicy")
def get_repository_policy(call: Call) -> dict:
    arn = call.repo().arn
    found = call.store.policy(arn)
    if found is None:
        raise NotFound(f"No resource policy on repository {call.params['repository']}", "repository",
                       call.params["repository"])
    return _policy_body(arn, *found)


@op("DeleteRepositoryPermissionsPolicy")
def delete_repository_policy(call: Call) -> dict:
    arn = call.repo().arn
    return _policy_body(arn, *call.store.delete_policy(arn, call.get("policyRevision")))


def _existing_arn(call: Call) -> str:
    """The call's ``resourceArn`` after checking the resource exists. Raises :class:`NotFound`."""
    arn = call.params["resourceArn"]
    m = _ARN.match(arn)
    if not m:
        raise NotFound(f"Resource {arn} not found", None, arn)
    rest = m["rest"]
    try:
        if m["kind"] == "domain":
            call.store.domain(m["region"], m["owner"], rest)
        elif m["kind"] == "repository":
            domain_name, _, repo_name = rest.partition("/")
            call.store.repository(call.store.domain(m["region"], m["owner"], domain_name), repo_name)
        else:
            slash = rest.index("/")
            domain = call.store.domain(m["region"], m["owner"], rest[:slash])
            call.store.package_group(domain, rest[slash:])
    except (StoreError, ValueError):
        raise NotFound(f"Resource {arn} not found", None, arn) from None
    return arn


@op("TagResource")
def tag_resource(call: Call) -> dict:
    arn = _existing_arn(call)
    call.store.set_tags(arn, {t["key"]: t["value"] for t in call.params["tags"]})
    return {}


@op("UntagResource")
def untag_resource(call: Call) -> dict:
    arn = _existing_arn(call)
    call.store.remove_tags(arn, call.params["tagKeys"])
    return {}


@op("ListTagsForResource")
def list_tags(call: Call) -> dict:
    arn = _existing_arn(call)
    return {"tags": [{"key": k, "value": v} for k, v in call.store.tags(arn).items()]}
