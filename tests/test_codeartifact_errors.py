"""How ferry names CodeArtifact's errors (ferry.codeartifact.translate)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ferry.codeartifact import translate


@pytest.mark.parametrize("operation, kind, needle", [
    ("publish_package_version", "PublishConflict", "the target already holds different content"),
    ("create_domain", "ItemError", "create_domain: CodeArtifact refused it as a conflict (Domain acme already exists)"),
])
def test_a_conflict_is_called_different_content_only_for_a_publish(operation, kind, needle):
    """A domain or repository that exists already, or a status changed meanwhile, is no difference of content."""
    err = ClientError({"Error": {"Code": "ConflictException", "Message": "Domain acme already exists"},
                       "ResponseMetadata": {"HTTPStatusCode": 409}}, operation)
    got = translate(err, operation)
    assert type(got).__name__ == kind and needle in str(got)
    assert ("different content" in str(got)) == (operation == "publish_package_version")


@pytest.mark.parametrize("side", ["source", "target"])
def test_refused_credentials_say_whose(side):
    """replicate and a CodeArtifact source hold two sets of credentials: the line says which one was refused."""
    err = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
                       "ResponseMetadata": {"HTTPStatusCode": 403}}, "ListPackages")
    got = str(translate(err, "list_packages", side, "https://codeartifact.example.com"))
    assert f"CodeArtifact refused the {side}'s credentials (AccessDeniedException)" in got
    assert got.endswith(f"check the AWS profile/role of [{side}]")
