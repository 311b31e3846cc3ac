"""The one Strawberry schema, composed from per-domain Query and Mutation classes."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
)
from graphql import OperationType as GraphQLOperationType
from graphql.execution import Executor
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from graphql.pyutils.ref_map import RefMap
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from rapport import metrics
from schema.accounts import AccountMutations, AccountQueries
from schema.blocks import BlockMutations
from schema.chat import (
    ChatMutations,
    ChatQueries,
    ChatSubscriptions,
    PresenceQueries,
    SignalSubscriptions,
)
from schema.completion import NOT_PLANNED, Plans, complete_list
from schema.context import Context
from schema.errors import (
    AlreadyExists,
    AuthenticationRequired,
    InvalidCredentials,
    NotAllowed,
    NotFound,
    ValidationError,
)
from schema.execution import execute_operation
from schema.extensions import MaskUnexpectedErrors, OperationScope, is_unexpected
from schema.interest_requests import InterestRequestMutations, InterestRequestQueries
from schema.interests import InterestMutations, InterestQueries
from schema.limits import BATCHING, LimitedDocuments, hides_suggestions, with_code
from schema.matching import MatchingMutations, MatchingQueries
from schema.moderation import ModerationMutations, ModerationQueries
from schema.nodes import NodeQueries
from schema.notifications import (
    NotificationMutations,
    NotificationQueries,
    NotificationSubscriptions,
)
from schema.privacy import PrivacyMutations, PrivacyQueries
from schema.profiles import ProfileMutations, ProfileQueries

# The root types list their fields in the order of these classes (schema.graphql shows it).
Query = merge_types(
    "Query",
    (
        AccountQueries,
        PrivacyQueries,
        ProfileQueries,
        InterestQueries,
        MatchingQueries,
        InterestRequestQueries,
        ChatQueries,
        NotificationQueries,
        PresenceQueries,
        ModerationQueries,
        NodeQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AccountMutations,
        PrivacyMutations,
        ProfileMutations,
        InterestMutations,
        MatchingMutations,
        InterestRequestMutations,
        BlockMutations,
        ChatMutations,
        NotificationMutations,
        ModerationMutations,
    ),
)
Subscription = merge_types(
    "Subscription", (ChatSubscriptions, NotificationSubscriptions, SignalSubscriptions)
)


class RapportSchema(strawberry.Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Queries and mutations, over HTTP and websockets and in process, through
        schema/execution.py (Strawberry's extensions are for `subscribe` only). Subscriptions
        are served over graphql-transport-ws only (`subscribe`): executed as a plain operation
        (a POST, say) they would fail inside. Refused instead: over HTTP a 400 "subscriptions
        are not allowed when using POST"."""
        allowed = set(allowed_operation_types or OperationType) - {OperationType.SUBSCRIPTION}
        return await execute_operation(
            self,
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Unexpected errors are logged (with traceback and correlation id) by
        # MaskUnexpectedErrors; client errors (syntax, validation) are not server problems.
        for error in errors:
            if is_unexpected(error):
                super().process_errors([error], execution_context)


def _weak_helpers(executor: Executor) -> GraphQLResolveInfoHelpers:
    """The `info.async_helpers` graphql-core 3.3 gives resolvers, reaching the executor through
    a weak reference. graphql-core stores the executor's own bound methods on it: a reference
    cycle per operation, which only the cyclic collector frees — and with it everything the
    operation touched (context, request, response, variables: ~70 objects per HTTP request,
    measured with gc.DEBUG_SAVEALL under bench/chat.py). At 200 msg/s that garbage filled
    each young collection (10,000 objects, 8-28 ms) every 0.7 s, and every tenth collection
    took 30-70 ms: the chat's worst latencies. Freed by reference counting, none of it
    reaches the collector; tests/test_garbage.py checks an operation leaves no cycle."""
    ref = weakref.ref(executor)

    def gather(values: Any) -> Any:
        return ref().gather_async_work(values)  # type: ignore[union-attr]

    def track(values: Any) -> None:
        ref().track_async_work(values)  # type: ignore[union-attr]

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


class RapportExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Objects, and lists of them, are completed through completion plans (schema/
    completion.py: one pass per object over its selection's plain reads, graphql-core's own
    path for the rest and for any value the plain reads do not complete).

    graphql-core 3.3 runs each subscription event on a shallow copy of the subscription's
    executor, which shares its memo of collected subfields. The memo is keyed by the identity
    of lists made during each event, so it gained one entry per event for the subscription's
    life: a leak of about 25 objects per delivered message, measured with bench/chat.py (and
    every full garbage collection slower for it). Each event gets memos of its own here (and
    plans: they are memoised the same way), as in GraphQL.js; tests/test_chat_live.py checks
    that a long subscription does not grow."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _weak_helpers(self)
        self._plans = Plans()

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> list[GraphQLError] | Executor:
        """Errors in variable values carry BAD_USER_INPUT and leave out "Did you mean ...?"
        when the request's settings say so (production; see schema/limits.py). graphql-core
        passes the context fourth."""
        context_value = args[3] if len(args) > 3 else kwargs.get("context_value")
        if hides_suggestions(context_value):
            kwargs["hide_suggestions"] = True
        executor = super().build(*args, **kwargs)
        if isinstance(executor, list):
            return with_code(executor, "BAD_USER_INPUT")
        if isinstance(executor, Executor) and isinstance(context_value, Context):
            operation = executor.operation
            context_value.mutation = operation.operation is GraphQLOperationType.MUTATION
            if operation.operation is GraphQLOperationType.SUBSCRIPTION:
                # Live from here until the operation ends (OperationScope counts it out).
                first = operation.selection_set.selections[0]
                name = first.name.value if isinstance(first, FieldNode) else metrics.OTHER
                context_value.subscription_field = name
                metrics.SUBSCRIPTIONS_LIVE.labels(name).inc()
        return executor

    def ensure_valid_runtime_type(self, *args: Any) -> GraphQLObjectType:
        """Notes the type a root field's union resolved to (the `result` of the operations
        metric): (runtime type name, return type, field details, info, result)."""
        runtime = super().ensure_valid_runtime_type(*args)
        info = args[3]
        if info.path.prev is None:
            context = info.context
            if isinstance(context, Context) and context.outcome is None:
                context.outcome = runtime.name
        return runtime

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """Lists of objects through their completion plan (schema/completion.py), outside
        incremental delivery; anything else as graphql-core completes it."""
        if position_context is None and type(result) is list:
            completed = complete_list(
                self, self._plans, return_type.of_type, field_details_list, info, path, result
            )
            if completed is not NOT_PLANNED:
                return completed
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """An object through its completion plan (schema/completion.py), outside incremental
        delivery; graphql-core's path when the plan does not complete it."""
        if position_context is None:
            plan = self._plans.get(self, return_type, field_details_list)
            if plan is not None:
                completed = plan.complete(self, result, info, path)
                if completed is not NOT_PLANNED:
                    return completed
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def build_per_event_executor(self, payload: Any) -> Executor:
        executor = super().build_per_event_executor(payload)
        executor.async_helpers = _weak_helpers(executor)
        executor._relevant_sub_fields = {}
        executor._stream_usages = RefMap()
        executor._plans = Plans()  # type: ignore[attr-defined]
        return executor


def build_schema(**options: Any) -> strawberry.Schema:
    return RapportSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            ValidationError,
            NotFound,
            AlreadyExists,
            AuthenticationRequired,
            InvalidCredentials,
            NotAllowed,
        ],
        extensions=[
            # For subscriptions (queries and mutations: schema/execution.py). Factories, not
            # instances: each operation gets fresh extension objects (the caches themselves
            # are module-level and shared).
            OperationScope,
            MaskUnexpectedErrors,
            LimitedDocuments,
        ],
        execution_context_class=RapportExecutionContext,
        config=StrawberryConfig(batching_config=BATCHING),
        **options,
    )


schema = build_schema()


def possible_types_json() -> str:
    """Every interface and union with its object types, sorted: Apollo Client's
    `new InMemoryCache({ possibleTypes })` (without it, fragments on `Error`, `Node` or a
    result union's interface match nothing, silently)."""
    import json

    from graphql import is_abstract_type

    core = schema._schema
    found = {
        name: sorted(t.name for t in core.get_possible_types(type_))
        for name, type_ in sorted(core.type_map.items())
        if is_abstract_type(type_) and not name.startswith("__")
    }
    return json.dumps(found, indent=2) + "\n"
