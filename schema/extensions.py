"""What every operation gets around it: a context and session of its own, metrics and (with
RAPPORT_OTEL) a span, and unexpected errors masked with a correlation id the server log also
has. As functions for schema/execution.py (queries and mutations), and as the schema
extensions Strawberry's `subscribe` runs them through (subscriptions)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from graphql import GraphQLError, OperationDefinitionNode
from graphql import OperationType as GraphQLOperationType
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.execution import PreExecutionError

from rapport import metrics
from schema.context import Context
from schema.limits import chosen_operation

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger("rapport.errors")


def _kind(operation: OperationDefinitionNode | None) -> str:
    if operation is None:
        return "unknown"
    kind = operation.operation  # compared by identity: hashing this enum runs Python code
    if kind is GraphQLOperationType.QUERY:
        return "query"
    return "mutation" if kind is GraphQLOperationType.MUTATION else "subscription"


def begin_operation(parent: object) -> tuple[Context | None, Span | None]:
    """A context of the operation's own (fresh session and viewer, see Context.for_operation;
    None when the schema runs without Rapport's context) and, with RAPPORT_OTEL, its span."""
    scoped = parent.for_operation() if isinstance(parent, Context) else None
    span = None
    if scoped is not None and scoped.resources.tracing is not None:
        span = _start_span(scoped)
    return scoped, span


def end_operation(
    started: float,
    operation: OperationDefinitionNode | None,
    given_name: str | None,
    valid: bool,
    errored: bool,
    scoped: Context | None,
    span: Span | None,
) -> None:
    """Counts and times the operation (rapport/metrics.py; a subscription is counted, not
    timed) and ends its span. `operation`: the document's operation it names (None: it did
    not parse, or has no such operation); `valid`: it ran (no error before execution);
    `errored`: any error."""
    kind = _kind(operation)
    valid = valid and operation is not None
    name = metrics.operation_label(given_name if valid else None, valid)
    if errored or operation is None:
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


def _start_span(scoped: Context) -> Span:
    """A span continuing the request's traceparent (see rapport/logging.py RequestLog); the
    access log gets its trace id when the request brought none."""
    assert scoped.resources.tracing is not None
    state = scoped.request.scope.setdefault("state", {}) if scoped.request else {}
    span = scoped.resources.tracing.start_operation(
        state.get("traceparent"), state.get("tracestate")
    )
    state.setdefault("trace_id", format(span.get_span_context().trace_id, "032x"))
    return span


class OperationScope(SchemaExtension):
    """For subscriptions (which Strawberry's `subscribe` runs through its extensions; every
    other operation goes through schema/execution.py): the subscription runs on a context of
    its own, is counted and traced, and its session is closed when it ends (rolling back
    anything uncommitted, and with it what was registered to follow a commit)."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        scoped, span = begin_operation(self.execution_context.context)
        if scoped is not None:
            self.execution_context.context = scoped
        try:
            yield
        finally:
            context = self.execution_context
            document = context.graphql_document
            given = context.operation_name
            operation = chosen_operation(document, given) if document is not None else None
            valid = not isinstance(context.result, PreExecutionError)
            errored = bool(context.pre_execution_errors)
            end_operation(started, operation, given, valid, errored, scoped, span)
            if scoped is not None:
                await scoped.close()


def is_unexpected(error: GraphQLError) -> bool:
    """Syntax and validation errors are the client's and stay; our exceptions are masked."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def masked(errors: list[GraphQLError], context: object) -> list[GraphQLError]:
    """`errors` with each unexpected one (our exception, not the client's mistake) logged
    with its traceback and replaced by "Internal server error" and a correlation id."""
    return [anonymised(e, context) if is_unexpected(e) else e for e in errors]


def anonymised(error: GraphQLError, context: object) -> GraphQLError:
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


class MaskUnexpectedErrors(MaskErrors):
    """`masked` for subscription events (see OperationScope)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal server error.")

    def _process_result(self, result: object) -> None:
        # MaskErrors asks isinstance() of a runtime-checkable Protocol for every result,
        # operation and subscription event alike: 2% of a busy chat server's CPU (py-spy).
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = masked(errors, self.execution_context.context)  # type: ignore[attr-defined]
