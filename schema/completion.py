"""Completion plans: an object's answer built in one pass over its selection, where
graphql-core completes each field of each object through execute_field, complete_value and
their Path and GraphQLResolveInfo (for a page of 50 messages, 200 fields; the profile of
`messages` had that as its largest part).

A plan is made once per operation for an object type and a selection (graphql-core's own
collect_subfields, so @include/@skip, fragments, aliases and duplicate fields are what it
collects): one entry per response key, in its order. Most entries are plain reads: a basic
Strawberry field (an attribute, no resolver, no argument, no extension) of a scalar or enum,
a list of them, or an object whose own plan is all plain reads; `__typename` is the type's
name. Any other field (a resolver, arguments, an abstract type) keeps graphql-core's
execute_field with its own path.

Plain reads are tried first for an object, and they do nothing but read and serialise: the
moment a value is not plainly serialisable (null in a non-null field, a bad enum value, an
exception as a value, a type check that fails) the object is completed by graphql-core's own
path from the start instead, so errors, null propagation and paths are exactly graphql-core's
(tests/test_execution.py compares). Deferred or streamed selections always take that path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from graphql import (
    GraphQLEnumType,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)
from graphql.execution.executor import collect_iterator_awaitables
from graphql.pyutils import Path, gather_with_cancel

if TYPE_CHECKING:
    from graphql import GraphQLResolveInfo
    from graphql.execution import Executor
    from graphql.execution.collect_fields import FieldDetailsList

Read = Callable[[Any], Any]


class _Unplain(Exception):
    """A value the plain reads do not complete: graphql-core's path completes the object."""


_UNPLAIN = _Unplain()
NOT_PLANNED: Any = object()  # complete_list's answer when graphql-core's path must run


def is_basic(resolve: Callable[..., Any] | None) -> bool:
    """Strawberry's resolver of a basic field (schema_converter `_get_basic_result`: an
    attribute read, no Info, no extension); tests/test_execution.py checks that the schema
    has such fields, so a rename in Strawberry shows."""
    return getattr(resolve, "__name__", "") == "_get_basic_result"


def basic_reader(resolve: Callable[..., Any]) -> Read:
    """How a basic field is read: the attribute itself when Strawberry's resolver would
    `getattr` it (its default resolver), else that resolver."""
    closure = dict(zip(resolve.__code__.co_freevars, resolve.__closure__ or (), strict=True))
    field = closure.get("field")
    field = field.cell_contents if field is not None else None
    if (
        field is not None
        and field.base_resolver is None
        and field.default_resolver is getattr
        and isinstance(field.python_name, str)
    ):
        return attrgetter(field.python_name)
    return lambda source: resolve(source, None)


def _leaf(read: Read, named: GraphQLScalarType | GraphQLEnumType, nullable: bool) -> Read:
    """The field's completed value, or _Unplain: graphql-core's complete_value for the
    values that complete without an error (a str is its own String or ID)."""
    coerce = named.coerce_output_value
    as_is = named is GraphQLString or named is GraphQLID

    def complete(source: Any) -> Any:
        value = read(source)
        if as_is and type(value) is str:
            return value
        if value is None:
            if nullable:
                return None
            raise _UNPLAIN
        if isinstance(value, Exception) or value is Undefined:
            raise _UNPLAIN
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _UNPLAIN
        return coerced

    return complete


def _present(read: Read, nullable: bool, complete: Read) -> Read:
    """`complete` of the field's value: None for a null in a nullable field, _Unplain in a
    non-null one."""

    def reader(source: Any) -> Any:
        value = read(source)
        if value is None:
            if nullable:
                return None
            raise _UNPLAIN
        return complete(value)

    return reader


def _leaf_list(read: Read, serialise: Read, nullable: bool) -> Read:
    def items(value: Any) -> Any:
        if type(value) is not list:  # other iterables, and errors: graphql-core's way
            raise _UNPLAIN
        return [serialise(item) for item in value]

    return _present(read, nullable, items)


def _object(read: Read, plan: Plan, nullable: bool) -> Read:
    def fields(value: Any) -> Any:
        if isinstance(value, Exception):
            raise _UNPLAIN
        return plan.plain(value, None)

    return _present(read, nullable, fields)


class Plan:
    """An object type's completion for one selection (see the module's docstring)."""

    __slots__ = ("is_type_of", "keys", "pure", "reads", "rest", "type")

    def __init__(
        self,
        type_: GraphQLObjectType,
        entries: Sequence[tuple[str, Read | None, FieldDetailsList]],
    ) -> None:
        self.type = type_
        self.is_type_of = type_.is_type_of
        self.keys = tuple(key for key, _, _ in entries)
        self.reads = tuple(read or _placeholder for _, read, _ in entries)
        # The fields graphql-core executes: (position, response key, field details).
        self.rest = tuple((i, key, fd) for i, (key, read, fd) in enumerate(entries) if not read)
        self.pure = not self.rest

    def plain(self, source: Any, info: GraphQLResolveInfo | None) -> Any:
        """The plain reads' values, in the selection's order, or _Unplain."""
        is_type_of = self.is_type_of
        if is_type_of is not None:
            ok = is_type_of(source, info)  # type: ignore[arg-type] # None: nested, see below
            if ok is not True:
                close = getattr(ok, "close", None)  # an awaitable check: graphql-core's way
                if close is not None:
                    close()
                raise _UNPLAIN
        if self.pure:
            return dict(zip(self.keys, [read(source) for read in self.reads], strict=True))
        return [read(source) for read in self.reads]

    def complete(
        self, executor: Executor, source: Any, info: GraphQLResolveInfo | None, path: Path
    ) -> Any:
        """The object's answer (or an awaitable of it), or NOT_PLANNED: graphql-core's
        path completes it then, from the start (nothing was executed)."""
        try:
            values = self.plain(source, info)
        except Exception:
            return NOT_PLANNED
        if self.pure:
            return values
        return self._execute_rest(executor, source, path, values)

    def _execute_rest(self, executor: Executor, source: Any, path: Path, values: list[Any]) -> Any:
        """The other fields as graphql-core's execute_fields executes them, in order, with
        the plain values in their places (and the same settling of what is pending when
        one raises)."""
        type_ = self.type
        name = type_.name
        execute_field = executor.execute_field
        is_awaitable = executor.is_awaitable
        pending: list[int] = []
        try:
            for position, key, field_details_list in self.rest:
                value = execute_field(
                    type_, source, field_details_list, Path(path, key, name), None
                )
                values[position] = value
                if is_awaitable(value):
                    pending.append(position)
        except Exception:
            if pending:
                executor.settle_in_background([values[i] for i in pending])
            raise
        results = {
            key: value
            for key, value in zip(self.keys, values, strict=True)
            if value is not Undefined
        }
        if not pending:
            return results
        awaitable = [self.keys[i] for i in pending]

        async def get_results() -> dict[str, Any]:
            if len(awaitable) == 1:
                results[awaitable[0]] = await results[awaitable[0]]
            else:
                awaited = await gather_with_cancel(*(results[key] for key in awaitable))
                results.update(zip(awaitable, awaited, strict=True))
            return results

        return get_results()


def _placeholder(source: Any) -> None:
    return None


def _itself(value: Any) -> Any:
    return value


class Plans:
    """One operation's plans, memoised as graphql-core memoises collected subfields: by type
    and the identity of the field details list (kept alive with its plan)."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[tuple[GraphQLObjectType, int], tuple[Any, Plan | None]] = {}

    def get(
        self, executor: Executor, type_: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Plan | None:
        key = (type_, id(field_details_list))
        found = self._memo.get(key)
        if found is not None:
            return found[1]
        plan = self._build(executor, type_, field_details_list)
        self._memo[key] = (field_details_list, plan)
        return plan

    def _build(
        self, executor: Executor, type_: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Plan | None:
        grouped, new_defer_usages, _ = executor.collect_subfields(type_, field_details_list)
        middleware = executor.middleware_manager  # Strawberry's own execute passes an empty one
        if new_defer_usages or (middleware is not None and middleware.middlewares):
            return None
        entries = [
            (key, self._read(executor, type_, details), details) for key, details in grouped.items()
        ]
        return Plan(type_, entries)

    def _read(
        self, executor: Executor, type_: GraphQLObjectType, details: FieldDetailsList
    ) -> Read | None:
        """A plain read of the field, or None (graphql-core executes it)."""
        node = details[0].node
        if node.arguments or _directed(details):
            return None
        key = (type_, node.name.value)
        try:
            read = _FIELD_READS[key]
        except KeyError:
            read = _FIELD_READS[key] = _field_read(*key)
        if not isinstance(read, _ObjectField):
            return read
        plan = self.get(executor, read.type, details)  # the nested selection's own plan
        return _object(read.read, plan, read.nullable) if plan is not None and plan.pure else None


class _ObjectField(NamedTuple):
    """A basic field of an object type: plain if the plan of its selection is."""

    read: Read
    type: GraphQLObjectType
    nullable: bool


# What each field of each type is, worked out once (its plain read does not depend on the
# selection, except an object's): Read, _ObjectField, or None.
_FIELD_READS: dict[tuple[GraphQLObjectType, str], Read | _ObjectField | None] = {}


def _field_read(type_: GraphQLObjectType, name: str) -> Read | _ObjectField | None:
    if name == "__typename":
        typename = type_.name
        return lambda source: typename
    field = type_.fields.get(name)
    if field is None or field.args or not is_basic(field.resolve):
        return None
    read = basic_reader(field.resolve)
    return_type: GraphQLOutputType = field.type
    nullable = not isinstance(return_type, GraphQLNonNull)
    named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return _leaf(read, named, nullable)
    if isinstance(named, GraphQLList):
        item = named.of_type
        item_nullable = not isinstance(item, GraphQLNonNull)
        item = item.of_type if isinstance(item, GraphQLNonNull) else item
        if isinstance(item, GraphQLScalarType | GraphQLEnumType):
            return _leaf_list(read, _leaf(_itself, item, item_nullable), nullable)
        return None
    if isinstance(named, GraphQLObjectType) and _plain_type_check(named):
        return _ObjectField(read, named, nullable)
    return None


def _directed(field_details_list: FieldDetailsList) -> bool:
    """Whether a directive other than @include and @skip (applied when the fields were
    collected) is on the field: a @stream, say, which graphql-core's path serves."""
    return any(
        directive.name.value not in ("include", "skip")
        for details in field_details_list
        for directive in details.node.directives or ()
    )


def _plain_type_check(type_: GraphQLObjectType) -> bool:
    """Whether the type's is_type_of may be called without the field's GraphQLResolveInfo
    (which a nested plain read does not build): none, or Strawberry's, which ignores it."""
    check = type_.is_type_of
    return check is None or check.__qualname__.endswith("_get_is_type_of.<locals>.is_type_of")


def complete_list(
    executor: Executor,
    plans: Plans,
    item_type: GraphQLOutputType,
    field_details_list: FieldDetailsList,
    info: GraphQLResolveInfo,
    path: Path,
    items: list[Any],
) -> Any:
    """A list of objects completed item by item with the items' plan, each item that the
    plan does not complete by graphql-core's own complete_list_item_value; as graphql-core's
    complete_iterable_value otherwise (awaitable items, errors). NOT_PLANNED when the item
    type has no plan (leaves, abstract types, lists of lists, @stream)."""
    nullable = not isinstance(item_type, GraphQLNonNull)
    named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    if not isinstance(named, GraphQLObjectType) or _directed(field_details_list):
        return NOT_PLANNED
    plan = plans.get(executor, named, field_details_list)
    if plan is None:
        return NOT_PLANNED
    is_awaitable = executor.is_awaitable
    pure = plan.pure
    completed: list[Any] = []
    append = completed.append
    awaitable: list[int] = []
    iterator = iter(items)
    try:
        for index, item in enumerate(iterator):
            if item is None and nullable:
                append(None)
                continue
            if pure:
                try:
                    append(plan.plain(item, info))  # a dict, never awaitable
                    continue
                except Exception:  # noqa: S110 - graphql-core's path completes it below
                    pass
            elif not is_awaitable(item):
                done = NOT_PLANNED
                try:
                    done = plan.complete(executor, item, info, path.add_key(index, None))
                except Exception as raw_error:
                    executor.handle_field_error(
                        raw_error, item_type, field_details_list, path.add_key(index, None)
                    )
                    append(None)
                    continue
                if done is not NOT_PLANNED:
                    if is_awaitable(done):
                        append(
                            _await_item(executor, done, item_type, field_details_list, path, index)
                        )
                        awaitable.append(index)
                    else:
                        append(done)
                    continue
            item_path = path.add_key(index, None)
            if is_awaitable(item):
                append(
                    executor.complete_awaitable_list_item_value(
                        item, item_type, field_details_list, info, item_path, None
                    )
                )
                awaitable.append(index)
            elif executor.complete_list_item_value(
                item, completed, item_type, field_details_list, info, item_path, None
            ):
                awaitable.append(index)
    except Exception:
        pending = [completed[i] for i in awaitable]
        pending.extend(collect_iterator_awaitables(iterator, is_awaitable))
        if pending:
            executor.settle_in_background(pending)
        raise
    if not awaitable:
        return completed

    async def get_completed() -> list[Any]:
        awaited = await gather_with_cancel(*(completed[i] for i in awaitable))
        for i, value in zip(awaitable, awaited, strict=True):
            completed[i] = value
        return completed

    return get_completed()


async def _await_item(
    executor: Executor,
    done: Any,
    item_type: GraphQLOutputType,
    field_details_list: FieldDetailsList,
    path: Path,
    index: int,
) -> Any:
    try:
        return await done
    except Exception as raw_error:
        executor.handle_field_error(
            raw_error, item_type, field_details_list, path.add_key(index, None)
        )
        return None
