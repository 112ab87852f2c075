"""Control plane of the CodeArtifact stand-in: the ``/v1/...`` API that boto3 and the AWS CLI call.

Requests are routed and parsed with botocore's own CodeArtifact model (:mod:`.validate`), so method,
path, parameter locations and input constraints match what real clients send. Each operation is a
function registered with :func:`ferry.sandbox.codeartifact.api.operation` in one of the ``ops_*``
modules (domains and repositories, packages, package versions, package groups, policies and tags).
"""

from __future__ import annotations

import logging
import re

from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact import api, validate
from ferry.sandbox.codeartifact.records import DEFAULT_ACCOUNT, InternalError, StoreError, Throttled, UnknownOperation
from ferry.sandbox.codeartifact.store import Store
from ferry.sandbox.faults import FaultSpec
from ferry.sandbox.web import json_response

log = logging.getLogger(__name__)

# Importing the operation modules registers their handlers.
from ferry.sandbox.codeartifact import ops_admin, ops_domains, ops_groups, ops_packages, ops_versions  # noqa: E402,F401,I001


_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


def caller_account(request: Request, accounts: dict[str, str]) -> str:
    """The account of the credentials that signed ``request``: ``accounts`` maps access key ids to accounts;
    any other key is the default account (111122223333)."""
    m = _ACCESS_KEY.search(request.headers.get("Authorization", ""))
    return accounts.get(m.group(1), DEFAULT_ACCOUNT) if m else DEFAULT_ACCOUNT


class ControlPlane:
    """Dispatches control-plane requests of one stand-in (its ``store`` and ``faults``)."""

    def __init__(self, store: Store, faults: FaultSpec, accounts: dict[str, str] | None = None):
        self.store = store
        self.faults = faults
        self.accounts = accounts if accounts is not None else {}  # access key id -> account (see app.accounts_from)

    def dispatch(self, request: Request, region: str) -> Response:
        """Run the operation ``request`` names, in ``region``; returns its response.

        Raises :class:`~ferry.sandbox.codeartifact.records.StoreError` subclasses for service errors
        (the app renders them); a :class:`Throttled` error is rendered here with its ``Retry-After``.
        """
        name = validate.routes().get((request.method, request.path))
        if name is None:
            raise UnknownOperation(f"Unknown operation {request.method} {request.path}")
        handler = api.HANDLERS.get(name)
        if handler is None:
            raise UnknownOperation(f"Operation {name} is not supported by the stand-in")
        try:
            params = validate.parse_request(validate.service_model().operation_model(name), request)
            account = caller_account(request, self.accounts)
            result = handler(api.Call(self.store, self.faults, region, request, name, params, account))
        except Throttled as err:
            from ferry.sandbox.codeartifact.app import aws_error

            return aws_error(err, err.headers())
        except StoreError:
            raise
        except Exception as exc:
            # A stand-in bug must still reach the client as the service's error shape, not an HTML page.
            log.exception("CodeArtifact stand-in: %s failed", name)
            raise InternalError(f"{name} failed in the stand-in: {type(exc).__name__}: {exc}") from exc
        if isinstance(result, Response):
            return result
        return json_response(result)
