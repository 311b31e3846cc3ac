"""Rapport's execution context (schema/__init__.py RapportExecutionContext): its shortcut for
basic leaf fields must answer exactly what graphql-core's own path answers, errors included,
and must keep applying to the schema's fields (it rests on how Strawberry names the resolver
of a basic field)."""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from graphql import GraphQLObjectType

from schema import RapportExecutionContext, _basic_leaf, schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Thing:
    name: str
    nickname: str | None
    count: int
    colour: Colour
    maybe_colour: Colour | None
    tags: list[str]
    broken_name: str  # holds None: a non-null field with no value
    broken_colour: Colour  # holds a value that is no Colour

    @strawberry.field
    def shout(self, suffix: str = "!") -> str:
        return self.name.upper() + suffix


THINGS: list[Thing | None] = [
    Thing(
        name="a",
        nickname=None,
        count=1,
        colour=Colour.RED,
        maybe_colour=None,
        tags=["x", "y"],
        broken_name=None,  # type: ignore[arg-type]
        broken_colour="green",  # type: ignore[arg-type]
    ),
    Thing(
        name="b",
        nickname="bee",
        count=2,
        colour=Colour.BLUE,
        maybe_colour=Colour.RED,
        tags=[],
        broken_name="fine",
        broken_colour=Colour.BLUE,
    ),
    Thing(
        name="c",
        nickname="sea",
        count=3,
        colour=Colour.RED,
        maybe_colour=Colour.BLUE,
        tags=["z"],
        broken_name="fine",
        broken_colour="green",  # type: ignore[arg-type]
    ),
]


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing | None]:  # an error nulls its thing, not the list
        return THINGS


QUERY = """{ things { name nickname count colour maybeColour tags shout(suffix: "?")
  renamed: name brokenName brokenColour __typename } }"""


def answer(execution_context_class: Any) -> dict[str, Any]:
    test_schema = strawberry.Schema(Query, execution_context_class=execution_context_class)
    result = test_schema.execute_sync(QUERY)
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or ())
    return {"data": result.data, "errors": errors}


def test_basic_leaves_answer_as_graphql_core_does() -> None:
    ours, theirs = answer(RapportExecutionContext), answer(None)
    assert ours == theirs
    things = ours["data"]["things"]
    assert things[0] is None and things[2] is None  # a null name, a colour that is none
    assert things[1]["nickname"] == "bee" and things[1]["maybeColour"] == "RED"
    assert [path for _, path in ours["errors"]] == [
        ("things", 0, "brokenName"),
        ("things", 2, "brokenColour"),
    ]


def test_the_shortcut_applies_to_the_schemas_fields() -> None:
    """Most of Rapport's object fields are plain attributes: if Strawberry renamed its basic
    resolver, none would be found and every field would pay for its GraphQLResolveInfo again."""
    fields = [
        (type_, name)
        for type_ in schema._schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__")
        for name in type_.fields
    ]
    basic = [f for f in fields if _basic_leaf(*f) is not None]
    assert len(basic) > 100, f"{len(basic)} basic leaf fields of {len(fields)}"
    user = schema._schema.get_type("User")
    assert isinstance(user, GraphQLObjectType)
    assert _basic_leaf(user, "displayName") is not None
    assert _basic_leaf(user, "interests") is None  # a list, through graphql-core's path
