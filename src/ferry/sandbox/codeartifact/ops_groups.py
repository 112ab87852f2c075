"""Control-plane operations on package groups (patterns, hierarchy, origin configuration).

Every handler takes a :class:`~ferry.sandbox.codeartifact.api.Call` and returns the operation's output
members as botocore's model names them; it raises :class:`~ferry.sandbox.codeartifact.records.StoreError`
subclasses (``NotFound``, ``Conflict``, ``ValidationError``, ...) for the modeled service errors.
"""

from __future__ import annotations

from typing import Any

from ferry.sandbox.codeartifact import groups as gp
from ferry.sandbox.codeartifact.api import Call, page, with_token
from ferry.sandbox.codeartifact.api import operation as op
from ferry.sandbox.codeartifact.store_groups import PackageGroup


def group_description(call: Call, group: PackageGroup, all_groups: list[PackageGroup] | None = None) -> dict[str, Any]:
    """PackageGroupDescription (also used as PackageGroupSummary: the members are the same)."""
    all_groups = all_groups if all_groups is not None else call.store.package_groups(group.domain)
    d = group.domain
    out: dict[str, Any] = {"arn": group.arn, "pattern": group.pattern, "domainName": d.name, "domainOwner": d.owner,
                           "createdTime": group.created}
    if group.contact_info is not None:
        out["contactInfo"] = group.contact_info
    if group.description is not None:
        out["description"] = group.description
    out["originConfiguration"] = call.store.describe_restrictions(group, all_groups)
    parent = call.store.group_parent(group, all_groups)
    if parent is not None:
        out["parent"] = {"arn": parent.arn, "pattern": parent.pattern}
    return out


def _group(call: Call, member: str = "packageGroup") -> PackageGroup:
    return call.store.package_group(call.domain(), call.params[member])


@op("CreatePackageGroup")
def create_package_group(call: Call) -> dict:
    group = call.store.create_package_group(call.domain(), call.params["packageGroup"], call.get("description"),
                                            call.get("contactInfo"))
    call.store.set_tags(group.arn, {t["key"]: t["value"] for t in call.get("tags") or []})
    return {"packageGroup": group_description(call, group)}


@op("DescribePackageGroup")
def describe_package_group(call: Call) -> dict:
    return {"packageGroup": group_description(call, _group(call))}


@op("ListPackageGroups")
def list_package_groups(call: Call) -> dict:
    all_groups = call.store.package_groups(call.domain())
    prefix = call.get("prefix")
    chosen, token = page(call, [g for g in all_groups if not prefix or g.pattern.startswith(prefix)],
                         lambda g: g.pattern, 50)
    return with_token({"packageGroups": [group_description(call, g, all_groups) for g in chosen]}, token)


@op("UpdatePackageGroup")
def update_package_group(call: Call) -> dict:
    group = call.store.update_package_group(_group(call), call.get("description"), call.get("contactInfo"))
    return {"packageGroup": group_description(call, group)}


@op("DeletePackageGroup")
def delete_package_group(call: Call) -> dict:
    group = _group(call)
    body = {"packageGroup": group_description(call, group)}
    call.store.delete_package_group(group)
    call.store.remove_tags(group.arn, list(call.store.tags(group.arn)))
    return body


@op("UpdatePackageGroupOriginConfiguration")
def update_package_group_origin_configuration(call: Call) -> dict:
    group = _group(call)
    add = [(r["repositoryName"], r["originRestrictionType"]) for r in call.get("addAllowedRepositories") or []]
    remove = [(r["repositoryName"], r["originRestrictionType"]) for r in call.get("removeAllowedRepositories") or []]
    for repo_name, _ in add:
        call.store.repository(group.domain, repo_name)  # NotFound for an unknown repository
    group, updates = call.store.set_package_group_origin(group, call.get("restrictions"), add, remove)
    return {"packageGroup": group_description(call, group), "allowedRepositoryUpdates": updates}


@op("GetAssociatedPackageGroup")
def get_associated_package_group(call: Call) -> dict:
    fmt, ns, name = call.coordinates()
    group = call.store.associated_group(call.domain(), fmt, ns, name)
    return {"packageGroup": group_description(call, group), "associationType": gp.association_type(group.parsed)}


@op("ListAllowedRepositoriesForGroup")
def list_allowed_repositories_for_group(call: Call) -> dict:
    group = _group(call)
    names = sorted(group.allowed.get(call.params["originRestrictionType"], []))
    chosen, token = page(call, names, lambda n: n, 50)
    return with_token({"allowedRepositories": chosen}, token)


@op("ListSubPackageGroups")
def list_sub_package_groups(call: Call) -> dict:
    group = _group(call)
    all_groups = call.store.package_groups(group.domain)
    children = [g for g in all_groups if g.id != group.id and (p := call.store.group_parent(g, all_groups))
                and p.id == group.id]
    chosen, token = page(call, children, lambda g: g.pattern, 50)
    return with_token({"packageGroups": [group_description(call, g, all_groups) for g in chosen]}, token)


@op("ListAssociatedPackages")
def list_associated_packages(call: Call) -> dict:
    domain = call.domain()
    pattern = call.params["packageGroup"]
    all_groups = call.store.package_groups(domain)
    candidates = [(g.parsed, g.pattern) for g in all_groups]
    if call.get("preview") and pattern not in {g.pattern for g in all_groups}:
        candidates.append((gp.parse(pattern), pattern))
    else:
        call.store.package_group(domain, pattern)  # NotFound unless it exists
    packages = []
    for fmt, ns, name in call.store.domain_package_coordinates(domain):
        best = gp.most_specific([(p, pat) for p, pat in candidates if p.matches(fmt, ns, name)])
        if best is not None and best[1] == pattern:
            packages.append((fmt, ns, name, gp.association_type(best[0])))
    chosen, token = page(call, packages, lambda t: [t[0], t[1], t[2]], 50)
    out = []
    for fmt, ns, name, assoc in chosen:
        item = {"format": fmt, "package": name, "associationType": assoc}
        if ns:
            item["namespace"] = ns
        out.append(item)
    return with_token({"packages": out}, token)
