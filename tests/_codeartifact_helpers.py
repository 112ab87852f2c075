"""Helpers shared by the CodeArtifact control-plane tests: boto3 clients for the stand-in and seeding
package versions straight into its store (for formats whose publish path is a package endpoint)."""

from __future__ import annotations

import itertools

import boto3
from botocore.config import Config

_counter = itertools.count()


def ca_client(sandbox, region: str = "us-east-1", *, validate: bool = True):
    """A boto3 CodeArtifact client for the sandbox, fake credentials; ``validate=False`` turns off
    botocore's client-side checks so the stand-in's own validation is what answers."""
    return boto3.client(
        "codeartifact",
        region_name=region,
        endpoint_url=sandbox.urls()["codeartifact"],
        aws_access_key_id="AKIDFERRYTEST",
        aws_secret_access_key="fake-secret",
        config=Config(parameter_validation=validate, retries={"max_attempts": 1, "mode": "standard"}),
    )


def unique(prefix: str) -> str:
    """A name not used before in this test process (domains share a module-wide sandbox)."""
    return f"{prefix}-{next(_counter)}"


def new_domain(client, prefix: str = "dom") -> str:
    name = unique(prefix)
    client.create_domain(domain=name)
    return name


def new_repo(client, domain: str, name: str | None = None, **kwargs) -> str:
    name = name or unique("repo")
    client.create_repository(domain=domain, repository=name, **kwargs)
    return name


def seed(sandbox, domain: str, repo: str, fmt: str, namespace: str | None, package: str, version: str,
         asset: str, data: bytes, region: str = "us-east-1", **kwargs):
    """Publish one asset through the store (as the package endpoints do); returns the Version."""
    store = sandbox.apps["codeartifact"].store
    d = store.domain(region, None, domain)
    r = store.repository(d, repo)
    blob = store.blobs.put_bytes(data)
    return store.publish_asset(r, fmt, namespace, package, version, asset, blob, **kwargs)


def error_code(excinfo) -> str:
    """The modeled error code botocore parsed from a ClientError."""
    return excinfo.value.response["Error"]["Code"]
