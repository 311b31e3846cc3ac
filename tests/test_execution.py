"""Rapport's execution context (schema/__init__.py RapportExecutionContext) completes objects
and lists of objects through completion plans (schema/completion.py): its answers must be
exactly what graphql-core's own path answers, errors (messages, paths, the nulls they
propagate) included, and the plans must keep applying to the schema's fields (they rest on
how Strawberry names and builds the resolver of a basic field)."""

from __future__ import annotations

import asyncio
import enum
from operator import attrgetter
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType

from schema import RapportExecutionContext, schema
from schema.completion import Plan, basic_reader, is_basic


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Part:
    label: str
    size: int | None
    colours: list[Colour | None]


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Thing(Named):
    nickname: str | None
    count: int
    colour: Colour
    maybe_colour: Colour | None
    tags: list[str]
    maybe_tags: list[str | None] | None
    part: Part
    maybe_part: Part | None
    parts: list[Part]
    grid: list[list[Part | None]]
    broken_name: str  # holds None: a non-null field with no value
    broken_colour: Colour  # holds a value that is no Colour

    @strawberry.field
    def shout(self, suffix: str = "!") -> str:
        return self.name.upper() + suffix

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name + "-later"

    @strawberry.field
    def fails(self) -> str | None:
        if self.count == 2:
            raise ValueError("two is right out")
        return "fine"

    @strawberry.field
    def must(self) -> str:
        if self.count == 3:
            raise ValueError("three must not")
        return "fine"


@strawberry.type
class Other(Named):
    other: int


class Oops(Exception):
    """Not a builtin: String would serialise it with str() if it were not an error."""


def part(label: Any, size: Any = 1, colours: Any = (Colour.RED,)) -> Part:
    return Part(label=label, size=size, colours=list(colours))


def thing(name: str, count: int, **changes: Any) -> Thing:
    values: dict[str, Any] = {
        "name": name,
        "nickname": None,
        "count": count,
        "colour": Colour.RED,
        "maybe_colour": None,
        "tags": ["x", "y"],
        "maybe_tags": None,
        "part": part(name),
        "maybe_part": None,
        "parts": [part("p1"), part("p2", None, (None, Colour.BLUE))],
        "grid": [[part("g1"), None], []],
        "broken_name": "fine",
        "broken_colour": Colour.BLUE,
        **changes,
    }
    return Thing(**values)


GOOD = [thing("a", 1), thing("b", 2, nickname="bee", maybe_colour=Colour.BLUE), thing("c", 3)]
BROKEN = [
    thing("a", 1, broken_name=None),
    thing("b", 2, part=part(None)),  # a null in a non-null field of a nested object
    thing("c", 3, broken_colour="green"),
    None,
    thing("d", 4, tags=["x", None], maybe_tags=["y", None]),  # a null in [String!]!
    thing("e", 5, parts=[part("p", colours=["green"])]),  # a bad enum value in a nested list
    thing("f", 6, maybe_part=part("m", size="big")),  # not an Int
    thing("g", 7, tags=("a", "tuple")),  # another iterable
    thing("h", 8, nickname=Oops("an exception as a value")),
    SimpleNamespace(**vars(thing("z", 10))),  # what a Thing has, but no Thing
    thing("i", 9, grid=[[part("g"), part(None)]]),
    thing("j", 10, part=None),  # a null non-null object
]


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing | None]:  # an error nulls its thing, not the list
        return GOOD  # type: ignore[return-value]

    @strawberry.field
    def broken(self) -> list[Thing | None]:
        return BROKEN  # type: ignore[return-value]

    @strawberry.field
    def strict(self) -> list[Thing]:  # an error nulls the list
        return [GOOD[0], BROKEN[0]]  # type: ignore[list-item]

    @strawberry.field
    def strict_good(self) -> list[Thing]:
        return GOOD

    @strawberry.field
    def one(self) -> Thing:
        return GOOD[1]

    @strawberry.field
    def broken_one(self) -> Thing | None:
        return BROKEN[1]  # type: ignore[return-value]

    @strawberry.field
    def named(self) -> list[Named]:
        return [GOOD[0], Other(name="o", other=1)]

    @strawberry.field
    async def awaited(self) -> list[Thing | None]:
        async def item(value: Any) -> Any:
            return value

        return [item(GOOD[0]), BROKEN[0], item(BROKEN[2]), GOOD[2]]  # type: ignore[list-item]


LEAVES = "name nickname count colour maybeColour tags maybeTags brokenName brokenColour"
PARTS = "part { label size colours } maybePart { label size } parts { label colours }"
QUERIES = {
    "leaves": f"{{ things {{ {LEAVES} __typename }} }}",
    "nested": f"{{ things {{ name {PARTS} grid {{ label size }} }} }}",
    "resolvers": '{ things { name shout(suffix: "?") later fails must count } }',
    "aliases": "{ things { n: name name again: name count n2: nickname t: __typename } }",
    "duplicates": "{ things { part { label } part { size } name ... on Thing { name count } } }",
    "fragments": "{ things { ...F } } fragment F on Thing { name part { ...P } } "
    "fragment P on Part { label size }",
    "include": "query($yes: Boolean!, $no: Boolean!) { things { name @include(if: $yes) "
    "count @include(if: $no) nickname @skip(if: $no) part @skip(if: $yes) { label } } }",
    "broken": f"{{ broken {{ {LEAVES} {PARTS} grid {{ label }} __typename }} }}",
    "broken-resolvers": "{ broken { name later fails must part { label } } }",
    "non-null items": f"{{ strict {{ {LEAVES} }} }}",
    "non-null good": "{ strictGood { name later must part { label } } }",
    "one": f"{{ one {{ {LEAVES} {PARTS} }} brokenOne {{ name part {{ label }} }} }}",
    "abstract": "{ named { __typename name ... on Thing { count part { label } } "
    "... on Other { other } } }",
    "awaited": f"{{ awaited {{ {LEAVES} later }} }}",
}


def answer(execution_context_class: Any, query: str) -> dict[str, Any]:
    test_schema = strawberry.Schema(
        Query, types=[Other], execution_context_class=execution_context_class
    )
    result = asyncio.run(test_schema.execute(query, variable_values={"yes": True, "no": False}))
    errors = [(e.message, tuple(e.path or ()), e.locations) for e in result.errors or ()]
    return {"data": result.data, "errors": errors}


@pytest.mark.parametrize("name", QUERIES)
def test_answers_are_graphql_cores(name: str) -> None:
    ours, theirs = answer(RapportExecutionContext, QUERIES[name]), answer(None, QUERIES[name])
    assert ours == theirs
    assert ours["data"] is not None or name.startswith("non-null")  # the error nulls all


def test_broken_values_are_reported_where_graphql_core_reports_them() -> None:
    """The cases above do fail in the plain reads, each where it should (so the comparison
    compares graphql-core's path taken on purpose, not two plain answers)."""
    ours = answer(RapportExecutionContext, QUERIES["broken"])
    paths = sorted(path for _, path, _ in ours["errors"])
    assert paths == sorted(
        [
            ("broken", 0, "brokenName"),
            ("broken", 1, "part", "label"),
            ("broken", 2, "brokenColour"),
            ("broken", 4, "tags", 1),
            ("broken", 5, "parts", 0, "colours", 0),
            ("broken", 6, "maybePart", "size"),
            ("broken", 8, "nickname"),
            ("broken", 9),
            ("broken", 10, "grid", 0, 1, "label"),
            ("broken", 11, "part"),
        ]
    )
    things = ours["data"]["broken"]
    assert [i for i, t in enumerate(things) if t is None] == [0, 1, 2, 3, 4, 9, 11]
    assert things[7]["tags"] == ["a", "tuple"]  # a tuple is a list to graphql-core
    assert things[5]["parts"] == [{"label": "p", "colours": [None]}]


def test_plans_complete_what_they_can(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain reads are used (the comparisons above would pass without them): each of
    the good things by its plan, the broken ones by graphql-core's path."""
    completed: dict[int, bool] = {}  # by the id of the object, its first completion
    plain = Plan.plain

    def noted(plan: Plan, source: Any, *args: Any) -> Any:
        try:
            result = plain(plan, source, *args)
        except Exception:
            completed.setdefault(id(source), False)
            raise
        completed.setdefault(id(source), True)
        return result

    monkeypatch.setattr(Plan, "plain", noted)
    assert answer(RapportExecutionContext, QUERIES["leaves"])["errors"] == []
    assert [completed[id(t)] for t in GOOD] == [True, True, True]
    answer(RapportExecutionContext, f"{{ broken {{ {LEAVES} part {{ label }} }} }}")
    planned = [i for i, t in enumerate(BROKEN) if completed.get(id(t))]
    assert planned == [5, 6, 10]  # broken only in fields this query does not select


def test_basic_fields_are_read_as_attributes() -> None:
    test_schema = strawberry.Schema(Query, types=[Other])
    thing_type = test_schema._schema.get_type("Thing")
    assert isinstance(thing_type, GraphQLObjectType)
    name = thing_type.fields["name"].resolve
    assert is_basic(name) and isinstance(basic_reader(name), attrgetter)
    assert not is_basic(thing_type.fields["shout"].resolve)


def test_the_plans_apply_to_the_schemas_fields() -> None:
    """Most of Rapport's object fields are plain attributes: if Strawberry renamed its basic
    resolver or stopped reading the attribute, none would be read plainly and every field
    would pay for graphql-core's per-field path again."""
    fields = [
        field
        for type_ in schema._schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__")
        for field in type_.fields.values()
    ]
    basic = [f for f in fields if is_basic(f.resolve)]
    assert len(basic) > 100, f"{len(basic)} basic fields of {len(fields)}"
    assert all(isinstance(basic_reader(f.resolve), attrgetter) for f in basic)
    user = schema._schema.get_type("User")
    assert isinstance(user, GraphQLObjectType)
    assert is_basic(user.fields["displayName"].resolve)
    assert is_basic(user.fields["interests"].resolve)
