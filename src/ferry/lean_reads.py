"""CodeArtifact's list operations sent through botocore's own parts, without its per-call machinery.

A rerun lists every target package (one ListPackageVersions each: 2,200 calls for 10,000 versions,
20,000 for 100,000) and finds nothing to copy, so the cost of a call is much of the cost of the run.
Through a boto3 client a call runs parameter validation, a dozen event emissions, the endpoint rules
(evaluated again for every call) and retry bookkeeping (ferry retries in its own layer). Measured on
the 2-core bench machine against the loopback stand-in, 1,500 calls each way on one thread: 1.5-1.7 ms
of CPU per call through the client, 1.3 ms through this path.

:class:`LeanReads` keeps what gives the call its meaning and uses botocore for each of those steps,
so the request on the wire and the answer handed back are what the client would produce:

- botocore's serializer builds the request, its request signer signs it (with credentials it
  refreshes, and the ``before-sign`` event ferry's redaction listens to), its HTTP session sends it
  (pool, TLS bundle, proxies, timeouts);
- botocore's parser reads the answer; an error answer is raised as the client's own exception
  class (``ThrottlingException``, ``ResourceNotFoundException``, ...), with the same
  ``response`` (headers included: ``Retry-After``), so callers cannot tell the two paths apart;
- the endpoint and signing context are resolved once per operation: CodeArtifact's endpoint rules
  depend on region, FIPS, dual-stack and ``endpoint_url`` only, never on a call's parameters.

Only operations whose model fits that (no context parameters, no checksums, no compression, no
streaming) take this path; for anything else, or a botocore whose internals differ,
:meth:`LeanReads.usable` is False and the caller uses the client as usual.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.endpoint import convert_to_response_dict

# snake_case names, as Domain.call takes them: the reads a listing sends by the thousand.
LEAN_OPERATIONS = frozenset({"list_packages", "list_package_versions", "list_package_version_assets"})


class LeanReads:
    """The list operations of one boto3 CodeArtifact client, sent as described in the module docstring.

    ``check_answer(response_dict, operation_model)`` runs on every answer before it is parsed, as a
    ``before-parse`` handler of the client would (ferry's raises on a body cut short).
    """

    def __init__(self, client: Any, check_answer: Callable[..., None] | None = None):
        self._client = client
        self._check_answer = check_answer
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
            self.usable = all(callable(getattr(obj, name, None)) for obj, name in (
                (self._serializer, "serialize_to_request"), (self._signer, "sign"), (self._http, "send"),
                (self._parser, "parse"), (client, "_resolve_endpoint_ruleset"),
                (client._user_agent_creator, "to_string")))
        except AttributeError:
            self.usable = False

    def handles(self, operation: str) -> bool:
        """Whether ``operation`` (snake_case) goes through this path."""
        return self.usable and operation in LEAN_OPERATIONS and self._prepare(operation) is not None

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``params`` and return the parsed answer, as the client method would.

        Raises the client's exception class for an error answer (a ``botocore.exceptions.ClientError``)
        and botocore's connection errors as the client would. Only for operations :meth:`handles`.
        """
        model, url, headers, context = self._prepare(operation)
        client = self._client
        request_dict = self._serializer.serialize_to_request(params, model)
        if not client.meta.config.inject_host_prefix:
            request_dict.pop("host_prefix", None)
        request_dict["headers"].update(headers)
        user_agent = client._user_agent_creator.to_string()
        context = dict(context)  # botocore's handlers may write into a request's context
        prepare_request_dict(request_dict, endpoint_url=url, user_agent=user_agent, context=context)
        request = create_request_object(request_dict)
        self._signer.sign(model.name, request)
        http_response = self._http.send(request.prepare())
        response_dict = convert_to_response_dict(http_response, model)
        if self._check_answer is not None:
            self._check_answer(response_dict=response_dict, operation_model=model)
        parsed = self._parser.parse(response_dict, model.output_shape)
        if http_response.status_code >= 300:
            add_fields = getattr(self._endpoint, "_add_modeled_error_fields", None)
            if add_fields is not None:
                add_fields(response_dict, parsed, model, self._parser)
            code = parsed.get("Error", {}).get("Code")
            raise client.exceptions.from_code(code)(parsed, model.name)
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
