"""Schema extensions: one session per operation (also measured and, with RAPPORT_OTEL, traced),
and masked unexpected errors that carry a correlation id the server log also has."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from graphql import OperationType as GraphQLOperationType
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.execution import PreExecutionError

from rapport import metrics
from schema.context import Context

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger("rapport.errors")


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation `name` (None: the first) of a document: Strawberry's operation_type
    property does this too, at several times the cost of all the metrics together."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def _kind(operation: OperationDefinitionNode | None) -> str:
    if operation is None:
        return "unknown"
    kind = operation.operation  # compared by identity: hashing this enum runs Python code
    if kind is GraphQLOperationType.QUERY:
        return "query"
    return "mutation" if kind is GraphQLOperationType.MUTATION else "subscription"


class OperationScope(SchemaExtension):
    """Each operation runs on a context of its own (fresh session and viewer, see
    Context.for_operation). When it ends, the session is closed (rolling back anything
    uncommitted, and with it what was registered to follow a commit: resolvers/effects.py).

    It also counts and times the operation (rapport/metrics.py) and, with RAPPORT_OTEL, wraps it
    in a span: here rather than in an extension of their own, which Strawberry would charge
    for at every stage of every operation (see schema/limits.py LimitedDocuments)."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        parent = self.execution_context.context
        scoped = parent.for_operation() if isinstance(parent, Context) else None
        span = None
        if scoped is not None:
            self.execution_context.context = scoped
            if scoped.resources.tracing is not None:
                span = self._start_span(scoped)
        try:
            yield
        finally:
            self._measure(started, scoped, span)
            if scoped is not None:
                await scoped.close()

    def _measure(self, started: float, scoped: Context | None, span: Span | None) -> None:
        context = self.execution_context
        document = context.graphql_document
        given = context.operation_name
        operation = _operation(document, given) if document is not None else None
        kind = _kind(operation)
        valid = operation is not None and not isinstance(context.result, PreExecutionError)
        name = metrics.operation_label(given if valid else None, valid)
        # No document: parsing failed (ParserCache raises from its hook, so Strawberry sets
        # the errors only after this extension has finished).
        if context.pre_execution_errors or operation is None:
            result = "error"
        else:
            result = (scoped.outcome if scoped is not None else None) or "ok"
        subscription = kind == "subscription"
        if scoped is not None and scoped.subscription_field is not None:
            metrics.SUBSCRIPTIONS_LIVE.labels(scoped.subscription_field).dec()
        metrics.record_operation(
            name, kind, result, None if subscription else time.perf_counter() - started
        )
        if span is not None:
            span.update_name(f"{kind} {name}")
            span.set_attribute("graphql.operation.type", kind)
            span.set_attribute("graphql.operation.name", name)
            span.set_attribute("rapport.result", result)
            if result == "error":
                from opentelemetry.trace import Status, StatusCode

                span.set_status(Status(StatusCode.ERROR))
            span.end()

    @staticmethod
    def _start_span(scoped: Context) -> Span:
        """A span continuing the request's traceparent (see rapport/logging.py RequestLog);
        the access log gets its trace id when the request brought none."""
        assert scoped.resources.tracing is not None
        state = scoped.request.scope.setdefault("state", {}) if scoped.request else {}
        span = scoped.resources.tracing.start_operation(
            state.get("traceparent"), state.get("tracestate")
        )
        state.setdefault("trace_id", format(span.get_span_context().trace_id, "032x"))
        return span


def is_unexpected(error: GraphQLError) -> bool:
    """Syntax and validation errors are the client's and stay; our exceptions are masked."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal server error.")

    def _process_result(self, result: object) -> None:
        # MaskErrors asks isinstance() of a runtime-checkable Protocol for every result,
        # operation and subscription event alike: 2% of a busy chat server's CPU (py-spy).
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None) or uuid.uuid4().hex
        correlation_id = f"{request_id}-{uuid.uuid4().hex[:8]}"
        log.error(
            "unexpected error in %s (correlation id %s)",
            ".".join(str(p) for p in error.path or ()) or "operation",
            correlation_id,
            exc_info=error.original_error,
            extra={"correlation_id": correlation_id, "request_id": request_id},
        )
        return GraphQLError(
            message=f"Internal server error. Correlation id: {correlation_id}",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation_id},
        )
