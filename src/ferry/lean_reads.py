"""CodeArtifact's list operations sent through botocore's own parts, without its per-call machinery.

A rerun lists every target package (one ListPackageVersions each: 2,200 calls for 10,000 versions,
20,000 for 100,000) and finds nothing to copy, so the cost of a call is much of the cost of the run.
Through a boto3 client a call runs parameter validation, a dozen event emissions, the endpoint rules
(evaluated again for every call) and retry bookkeeping (ferry retries in its own layer). Measured on
the 2-core bench machine against the loopback stand-in, 1,500 ListPackageVersions each way on one
thread, twice at different times (the machine's speed varies): 1.18-1.72 ms of CPU per call through
the client, 1.02-1.35 ms through this path, 13-21 % less each time.

:class:`LeanReads` keeps what gives the call its meaning and uses botocore for each of those steps,
so the request on the wire and the answer handed back are what the client would produce:

- botocore's serializer builds the request, its request signer signs it (with credentials it
  refreshes, and the ``before-sign`` event ferry's redaction listens to), its HTTP session sends it
  (pool, TLS bundle, proxies, timeouts); the events handlers act on (``before-call``, ``before-send``,
  ``before-parse``, ``after-call``) are emitted as the client emits them, so botocore's own handlers,
  ferry's check for a body cut short, a Stubber or moto still see every call;
- botocore's parser reads the answer; an error answer is raised as the client's own exception
  class (``ThrottlingException``, ``ResourceNotFoundException``, ...), with the same
  ``response`` (headers included: ``Retry-After``), so callers cannot tell the two paths apart;
- the endpoint and signing context are resolved once per operation: CodeArtifact's endpoint rules
  depend on region, FIPS, dual-stack and ``endpoint_url`` only, never on a call's parameters.

Only operations whose model fits that (no context parameters, no checksums, no compression, no
streaming) take this path; for anything else, or a botocore whose internals differ,
:meth:`LeanReads.handles` says no and the caller uses the client as usual.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.endpoint import convert_to_response_dict
from botocore.hooks import first_non_none_response

# snake_case names, as Domain.call takes them: the reads a listing sends by the thousand.
LEAN_OPERATIONS = frozenset({"list_packages", "list_package_versions", "list_package_version_assets"})


class LeanReads:
    """The list operations of one boto3 CodeArtifact client, sent as described in the module docstring.

    The client's ``before-call``, ``before-sign``, ``before-send``, ``before-parse`` and ``after-call``
    handlers see each call as they would through the client (its other events are not emitted).
    """

    def __init__(self, client: Any):
        self._client = client
        self._prepared: dict[str, tuple[Any, str, dict, dict]] = {}
        self._lock = threading.Lock()
        try:
            serializer = client._serializer
            # The client's serializer validates the parameters first; ferry builds them itself.
            self._serializer = getattr(serializer, "_serializer", serializer)
            self._signer = client._request_signer
            self._http = client._endpoint.http_session
            self._parser = client._response_parser
            self._endpoint = client._endpoint
            self._names = client.meta.method_to_api_mapping
            self._service_id = client._service_model.service_id.hyphenize()
            self.usable = all(callable(getattr(obj, name, None)) for obj, name in (
                (self._serializer, "serialize_to_request"), (self._signer, "sign"), (self._http, "send"),
                (self._parser, "parse"), (client, "_resolve_endpoint_ruleset"),
                (client._user_agent_creator, "to_string")))
        except AttributeError:
            self.usable = False

    def handles(self, operation: str) -> bool:
        """Whether ``operation`` (snake_case) goes through this path (False if preparing it failed: a
        botocore whose internals differ leaves the call to the client)."""
        if not self.usable or operation not in LEAN_OPERATIONS:
            return False
        try:
            return self._prepare(operation) is not None
        except Exception:  # noqa: BLE001 - any surprise in botocore's internals: the client's path instead
            with self._lock:
                self._prepared[operation] = None
            return False

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``params`` and return the parsed answer, as the client method would.

        Raises the client's exception class for an error answer (a ``botocore.exceptions.ClientError``)
        and botocore's connection errors as the client would. Only for operations :meth:`handles`.
        """
        model, url, headers, context = self._prepare(operation)
        client = self._client
        events = client.meta.events
        suffix = f"{self._service_id}.{model.name}"
        request_dict = self._serializer.serialize_to_request(params, model)
        if not client.meta.config.inject_host_prefix:
            request_dict.pop("host_prefix", None)
        request_dict["headers"].update(headers)
        context = dict(context)  # botocore's handlers may write into a request's context
        prepare_request_dict(request_dict, endpoint_url=url, user_agent=client._user_agent_creator.to_string(),
                             context=context)
        # A before-call handler may answer instead of the service (botocore's Stubber does).
        _handler, answered = events.emit_until_response(f"before-call.{suffix}", model=model, params=request_dict,
                                                        request_signer=self._signer, context=context)
        if answered is not None:
            http_response, parsed = answered
        else:
            request = create_request_object(request_dict)
            self._signer.sign(model.name, request)
            prepared = request.prepare()
            # A before-send handler may answer instead of the network (moto does), or audit the request.
            http_response = first_non_none_response(events.emit(f"before-send.{suffix}", request=prepared))
            if http_response is None:
                http_response = self._http.send(prepared)
            parsed = self._parse(http_response, model, events, suffix)
        events.emit(f"after-call.{suffix}", http_response=http_response, parsed=parsed, model=model, context=context)
        if http_response.status_code >= 300:
            code = parsed.get("Error", {}).get("Code")
            raise client.exceptions.from_code(code)(parsed, model.name)
        return parsed

    def _parse(self, http_response: Any, model: Any, events: Any, suffix: str) -> dict[str, Any]:
        response_dict = convert_to_response_dict(http_response, model)
        customized: dict[str, Any] = {}
        # ferry's check for a body cut short listens here (codeartifact._check_complete).
        events.emit(f"before-parse.{suffix}", operation_model=model, response_dict=response_dict,
                    customized_response_dict=customized)
        parsed = self._parser.parse(response_dict, model.output_shape)
        parsed.update(customized)
        if http_response.status_code >= 300:
            add_fields = getattr(self._endpoint, "_add_modeled_error_fields", None)
            if add_fields is not None:  # retryAfterSeconds and the like, as the client adds them
                add_fields(response_dict, parsed, model, self._parser)
        return parsed

    def _prepare(self, operation: str):
        """The operation's model, endpoint URL, extra headers and request context (once per operation),
        or None if its model needs more than this path does."""
        if operation in self._prepared:  # set once, read by every call after: no lock needed
            return self._prepared[operation]
        with self._lock:
            if operation in self._prepared:
                return self._prepared[operation]
            client = self._client
            model = client._service_model.operation_model(self._names[operation])
            plain = not (model.context_parameters or model.static_context_parameters or model.http_checksum
                         or getattr(model, "request_compression", None) or model.has_streaming_input
                         or model.has_streaming_output or model.has_event_stream_output)
            prepared = None
            if plain:
                context = {"client_region": client.meta.region_name, "client_config": client.meta.config,
                           "has_streaming_input": False, "auth_type": model.resolved_auth_type,
                           "unsigned_payload": model.unsigned_payload,
                           "auth_options": client._service_model.metadata.get("auth")}
                # Fills context["signing"] from the rules' auth schemes, as a client call does.
                url, headers, properties = client._resolve_endpoint_ruleset(model, {}, context)
                if properties:
                    context["endpoint_properties"] = properties
                prepared = (model, url, dict(headers or {}), context)
            self._prepared[operation] = prepared
            return prepared
