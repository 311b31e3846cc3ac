"""Limits on what one GraphQL document may ask, in one place (README: "Query limits").

- Depth, aliases and tokens: the constants below. The depth and alias rules are built ONCE
  here: Strawberry's own limiter extensions build new rule classes for every request, which
  defeats the validation cache (measured: about 0.8 ms of extra CPU per request for each).
- Cost, in GitHub's manner, from the connections a document asks for (`query_cost`): at most
  RAPPORT_MAX_QUERY_NODES nodes per request, else QUERY_TOO_COSTLY before anything runs.
- Page sizes: RAPPORT_MAX_PAGE_SIZE, enforced by every list field as a typed ValidationError.
- Batching: off (BATCHING, the schema's config): a JSON array body is answered 400.
- Introspection (RAPPORT_INTROSPECTION) and "Did you mean ...?" suggestions (hidden when
  RAPPORT_ENV=production) follow the settings of the request's app. Each combination is a
  rule set built once, so the validation cache keeps one entry per document and combination.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    parse,
    specified_rules,
    validate,
    value_from_ast_untyped,
)
from graphql.language.visitor import SKIP
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import BatchingConfig

from rapport.settings import Environment, Settings
from schema.document_shape import shape_rule

MAX_DEPTH = 10  # deepest legitimate query today: 6
MAX_ALIASES = 30
MAX_TOKENS = 2_000
# Characters per document, comments and whitespace included (graphql-core's token count skips
# comments: a 30 MB comment cost 6 s of CPU to lex). The largest legitimate document, GraphiQL's
# introspection query, is about 1,900 characters.
MAX_DOCUMENT_CHARS = 100_000
BATCHING: BatchingConfig | None = None  # e.g. {"max_operations": 5}; None: off

CACHE_SIZE = 1_024  # distinct documents whose parse, validation and cost plan are kept

# Page sizes and cost limit when the schema runs without Rapport's context (so without
# settings): the defaults, read from no environment.
_DEFAULT_SETTINGS = Settings.model_construct()


def introspection_allowed(settings: Settings | None) -> bool:
    """RAPPORT_INTROSPECTION if set, else on everywhere but in production."""
    if settings is None:
        return False
    if settings.introspection is not None:
        return settings.introspection
    return settings.env is not Environment.PRODUCTION


def suggestions_shown(settings: Settings | None) -> bool:
    """Whether errors may say "Did you mean ...?". The hints name fields, arguments, types and
    enum values: they map a schema even when introspection is off, so production hides them."""
    return settings is not None and settings.env is not Environment.PRODUCTION


def settings_of(context: object) -> Settings | None:
    """The settings of a Rapport Context (None for anything else)."""
    resources = getattr(context, "resources", None)
    settings = getattr(resources, "settings", None)
    return settings if isinstance(settings, Settings) else None


def hides_suggestions(context: object) -> bool:
    """For execution (variable values): see RapportExecutionContext.build."""
    return not suggestions_shown(settings_of(context))


class NoIntrospection(ValidationRule):
    """`__schema` and `__type` refused, once each (graphql-core's rule reports every field
    under them); `__typename` is not introspection of the schema and stays."""

    def enter_field(self, node: FieldNode, *_args: object) -> object:
        if node.name.value in ("__schema", "__type"):
            self.report_error(
                GraphQLError(
                    f"Introspection is disabled on this server: '{node.name.value}' is refused.",
                    node,
                    extensions={"code": "INTROSPECTION_DISABLED"},
                )
            )
            return SKIP
        return None


class HideSuggestions(ValidationRule):
    """Makes every rule of this validation leave out "Did you mean ...?". graphql-core takes
    that as an argument of validate(), which Strawberry's cached validate_document does not
    pass; rules are all built before the document is visited, so setting it here reaches them
    all (tests/test_query_limits.py checks that it does)."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        if isinstance(context, ValidationContext):
            context._hide_suggestions = True


_LIMIT_RULES: tuple[Any, ...] = (shape_rule(MAX_DEPTH, MAX_ALIASES),)
# (introspection allowed, suggestions shown) -> the rules added to graphql's own
_RULE_SETS: dict[tuple[bool, bool], tuple[Any, ...]] = {
    (introspection, suggestions): (
        *_LIMIT_RULES,
        *(() if introspection else (NoIntrospection,)),
        *(() if suggestions else (HideSuggestions,)),
    )
    for introspection in (True, False)
    for suggestions in (True, False)
}


def rules_for(introspection: bool, suggestions: bool) -> tuple[Any, ...]:
    """The rules Rapport adds to graphql's own, for requests (LimitedDocuments) and for
    documents registered ahead of them (rapport/documents.py)."""
    return _RULE_SETS[introspection, suggestions]


# --- cost ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryCost:
    """What a document's connections may cost, counted as GitHub's GraphQL API does: every
    connection is assumed to return `first` nodes (the default page size when omitted, at most
    the maximum page size), and is fetched once for each node of the connection it is nested in.
    """

    nodes: int  # GitHub's node count: the nodes all connections may return together
    requests: int  # page fetches: 1 per connection, times the nodes of those enclosing it

    @property
    def points(self) -> int:
        """GitHub's rate-limit score: requests / 100, rounded, at least 1."""
        return max(1, (self.requests + 50) // 100)

    def report(self, max_nodes: int) -> dict[str, int]:
        return {"nodes": self.nodes, "maxNodes": max_nodes, "points": self.points}


@dataclass(frozen=True, slots=True)
class _Connection:
    """A connection field of an operation: where its `first` comes from, and the connection
    it is nested in (its index in the plan, -1 for none)."""

    parent: int
    literal: int | None = None  # `first: 10`; None: omitted or null (the default page size)
    variable: str | None = None  # `first: $n`
    fallback: object = None  # $n's default in the operation, for when the request omits $n

    def size(self, variables: Mapping[str, object] | None, default: int, maximum: int) -> int:
        value: object = self.literal
        if self.variable is not None:
            value = variables.get(self.variable, self.fallback) if variables else self.fallback
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return default  # null or omitted; anything else fails variable coercion anyway
        return min(max(value, 0), maximum)  # out of range: a typed error, no nodes


@dataclass(frozen=True, slots=True)
class _Plan:
    """The connections of one operation of a document, in document order (parents first)."""

    connections: tuple[_Connection, ...] = ()
    subscription: bool = False

    def cost(
        self, variables: Mapping[str, object] | None, default_size: int, max_size: int
    ) -> QueryCost:
        reach: list[int] = []  # nodes each connection may return, all enclosing pages counted
        nodes = requests = 0
        for connection in self.connections:
            outer = reach[connection.parent] if connection.parent >= 0 else 1
            mine = outer * connection.size(variables, default_size, max_size)
            requests += outer
            nodes += mine
            reach.append(mine)
        return QueryCost(nodes=nodes, requests=requests)


def is_connection(field: GraphQLField) -> bool:
    """A field with a `first` argument returning a ...Connection type, or a union holding one
    (our list queries return `ThingConnection | ValidationError | ...`)."""
    if "first" not in field.args:
        return False
    named = get_named_type(field.type)
    members = named.types if isinstance(named, GraphQLUnionType) else (named,)
    return any(isinstance(m, GraphQLObjectType) and m.name.endswith("Connection") for m in members)


class _Planner:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults: dict[str, object] = {}
        self.connections: list[_Connection] = []

    def plan(self, operation: OperationDefinitionNode) -> _Plan:
        for definition in operation.variable_definitions or ():
            if definition.default_value is not None:
                value = value_from_ast_untyped(definition.default_value)
                self.defaults[definition.variable.name.value] = value
        root = self.schema.get_root_type(operation.operation)
        if root is not None:
            self._walk(root, [operation.selection_set], -1)
        subscription = operation.operation is OperationType.SUBSCRIPTION
        return _Plan(tuple(self.connections), subscription)

    def _walk(
        self, parent: GraphQLNamedType, selection_sets: list[SelectionSetNode], enclosing: int
    ) -> None:
        """Fields as execution merges them (by type and response key), connections noted."""
        grouped: dict[tuple[str, str], tuple[GraphQLNamedType, list[FieldNode]]] = {}
        self._collect(parent, selection_sets, grouped, frozenset())
        for owner, nodes in grouped.values():
            if not isinstance(owner, (GraphQLObjectType, GraphQLInterfaceType)):
                continue  # a union's own fields: __typename only
            field = owner.fields.get(nodes[0].name.value)
            if field is None:
                continue  # __typename
            index = enclosing
            if is_connection(field):
                self.connections.append(self._connection(nodes[0], field, enclosing))
                index = len(self.connections) - 1
            subsets = [node.selection_set for node in nodes if node.selection_set]
            if subsets:
                self._walk(get_named_type(field.type), subsets, index)

    def _collect(
        self,
        parent: GraphQLNamedType,
        selection_sets: list[SelectionSetNode],
        grouped: dict[tuple[str, str], tuple[GraphQLNamedType, list[FieldNode]]],
        spread: frozenset[str],
    ) -> None:
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = (parent.name, (selection.alias or selection.name).value)
                    grouped.setdefault(key, (parent, []))[1].append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    typed = self._typed(selection.type_condition, parent)
                    self._collect(typed, [selection.selection_set], grouped, spread)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is not None and name not in spread:
                        typed = self._typed(fragment.type_condition, parent)
                        self._collect(typed, [fragment.selection_set], grouped, spread | {name})

    def _typed(self, condition: NamedTypeNode | None, parent: GraphQLNamedType) -> GraphQLNamedType:
        return (self.schema.get_type(condition.name.value) if condition else None) or parent

    def _connection(self, node: FieldNode, field: GraphQLField, enclosing: int) -> _Connection:
        argument = next((a for a in node.arguments or () if a.name.value == "first"), None)
        if argument is None:
            default = coerce_default_value(field.args["first"])  # Undefined, None or a number
            return _Connection(enclosing, literal=default if isinstance(default, int) else None)
        value = argument.value
        if isinstance(value, VariableNode):
            name = value.name.value
            return _Connection(enclosing, variable=name, fallback=self.defaults.get(name))
        if isinstance(value, IntValueNode):
            return _Connection(enclosing, literal=int(value.value))
        return _Connection(enclosing)  # null


def _plan(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> _Plan:
    operation = chosen_operation(document, operation_name)
    return _Planner(schema, document).plan(operation) if operation else _Plan()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document as far as it goes before its variables: parsed, its operation chosen (the
    one named, else the first: as Strawberry chooses), validated with the request's rule set,
    and the operation's cost plan. Worked out once per text, operation name and rule set."""

    document: DocumentNode | None  # None: it did not parse
    operation: OperationDefinitionNode | None  # None: no operation of that name (or none)
    errors: list[GraphQLError]  # syntax or validation errors, each with its code
    plan: _Plan


def chosen_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs: the one named, else the first (as Strawberry chooses)."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


class _Documents:
    """Recently prepared documents, keyed by their text (whose hash Python keeps: hashing the
    parsed document walks all of it). Counts its hits and misses (tests/test_query_limits.py
    checks that repeated documents are not parsed, validated or planned again)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[object, ...], Prepared] = OrderedDict()

    def get(
        self,
        schema: GraphQLSchema,
        query: str,
        operation_name: str | None,
        rules: tuple[Any, ...],
    ) -> Prepared:
        key = (schema, query, operation_name, rules)
        prepared = self._entries.get(key)
        if prepared is not None:
            self.hits += 1
            self._entries.move_to_end(key)
            return prepared
        self.misses += 1
        prepared = self._entries[key] = _prepare(schema, query, operation_name, rules)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return prepared

    def __len__(self) -> int:
        return len(self._entries)


def _prepare(
    schema: GraphQLSchema, query: str, operation_name: str | None, rules: tuple[Any, ...]
) -> Prepared:
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLSyntaxError as error:  # the token limit's too
        return Prepared(None, None, with_code([error], "GRAPHQL_PARSE_FAILED"), _Plan())
    operation = chosen_operation(document, operation_name)
    if operation is None:
        return Prepared(document, None, [], _Plan())
    errors = with_code(
        validate(schema, document, (*specified_rules, *rules)), "GRAPHQL_VALIDATION_FAILED"
    )
    plan = _Plan() if errors else _Planner(schema, document).plan(operation)
    return Prepared(document, operation, errors, plan)


DOCUMENTS = _Documents(CACHE_SIZE)


def prepare(
    schema: GraphQLSchema, query: str, operation_name: str | None, settings: Settings | None
) -> Prepared:
    """The one way a document is parsed, validated and planned for a request, over HTTP and
    websockets (cached: DOCUMENTS). Too long a text is refused before it is parsed."""
    if len(query) > MAX_DOCUMENT_CHARS:
        error = GraphQLError(
            f"The document has {len(query)} characters; at most {MAX_DOCUMENT_CHARS} are "
            "allowed (comments and whitespace count).",
            extensions={"code": "QUERY_TOO_LARGE"},
        )
        return Prepared(None, None, [error], _Plan())
    rules = _RULE_SETS[introspection_allowed(settings), suggestions_shown(settings)]
    return DOCUMENTS.get(schema, query, operation_name, rules)


def request_errors(
    prepared: Prepared, variables: Mapping[str, object] | None, settings: Settings | None
) -> tuple[list[GraphQLError], dict[str, Any] | None]:
    """What this request's variables make of a valid document: a lone surrogate anywhere in
    them, or a cost over the limit, refuse it; else the cost to report in the response's
    extensions (None: the document has no connections, or is a subscription, whose every event
    would carry it)."""
    if variables:
        errors = invalid_unicode(variables)
        if errors:
            return errors, None
    plan = prepared.plan
    if not plan.connections:
        return [], None
    settings = settings or _DEFAULT_SETTINGS
    max_nodes = settings.max_query_nodes
    cost = plan.cost(variables, settings.default_page_size, settings.max_page_size)
    if cost.nodes > max_nodes:
        return [too_costly(cost, max_nodes)], None
    return [], None if plan.subscription else {"cost": cost.report(max_nodes)}


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, object] | None = None,
    operation_name: str | None = None,
    *,
    default_size: int,
    max_size: int,
) -> QueryCost:
    """The cost of running one operation of a (valid) document with these variables."""
    return _plan(schema, document, operation_name).cost(variables, default_size, max_size)


def too_costly(cost: QueryCost, max_nodes: int) -> GraphQLError:
    return GraphQLError(
        f"This query may return up to {cost.nodes:,} nodes; the most one request may ask for "
        f"is {max_nodes:,}. Ask for smaller pages (first) or fewer connections.",
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost.report(max_nodes)},
    )


_NO_RESULTS: dict[str, Any] = {}


def with_code(errors: list[GraphQLError], code: str) -> list[GraphQLError]:
    """`errors`, each with `extensions.code` (`code` where it had none), as Apollo Server names
    them: GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT (variables). Set in
    place: validation errors are cached, and a code once set stays the same."""
    for error in errors:
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code}
    return errors


def _lone_surrogate(value: object, path: str) -> str | None:
    """The path of the first string under `value` that is not valid Unicode. At module level:
    a recursive function nested in its caller is a reference cycle per call (the function and
    the cell holding it), left to the cyclic collector."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return path
    elif isinstance(value, dict):
        for key, item in value.items():
            if (found := _lone_surrogate(item, f"{path}.{key}")) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _lone_surrogate(item, f"{path}[{index}]")) is not None:
                return found
    return None


def invalid_unicode(variables: Mapping[str, object]) -> list[GraphQLError]:
    """A string holding a lone surrogate (JSON allows "\ud800"; Unicode, UTF-8, PostgreSQL
    and argon2 do not) is refused before anything runs, wherever it sits in the variables:
    one check here instead of one in every resolver. The document itself cannot hold one
    (the GraphQL lexer refuses it)."""
    for name, value in variables.items():
        if (path := _lone_surrogate(value, f"${name}")) is not None:
            return [
                GraphQLError(
                    f"Variable {path} is not valid Unicode (it holds a lone surrogate).",
                    extensions={"code": "INVALID_UNICODE", "field": path},
                )
            ]
    return []


class LimitedDocuments(SchemaExtension):
    """The limits above for subscriptions, which Strawberry's `subscribe` runs through its
    extensions: the same `prepare` and `request_errors` as every other operation
    (schema/execution.py runs queries and mutations without extensions)."""

    def __init__(self) -> None:
        self._prepared: Prepared | None = None
        self._results = _NO_RESULTS

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        self._prepared = prepared = prepare(
            context.schema._schema,
            context.query or "",
            context.operation_name,  # before parsing: the name the request gave, if any
            settings_of(context.context),
        )
        if prepared.document is None:
            raise prepared.errors[0].with_traceback(None)  # a cached error: no traceback kept
        context.graphql_document = prepared.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        prepared = self._prepared
        assert prepared is not None
        errors = prepared.errors
        if not errors:
            errors, results = request_errors(
                prepared, context.variables, settings_of(context.context)
            )
            self._results = results or _NO_RESULTS
        context.pre_execution_errors = errors
        yield

    def get_results(self) -> dict[str, Any]:
        return self._results
