"""One way to declare a field only a signed-in person may use.

    @viewer_mutation("CreateProfileResult", description="...")
    async def create_profile(
        self, op: Operation, input: CreateProfileInput
    ) -> OwnProfile | AlreadyExists:
        return OwnProfile(profile=await profiles.create_profile(op, provided(input), today()))

The function takes the rule layer's `Operation` (resolvers/operation.py: the viewer, the
operation's session, the resources) in place of Strawberry's `info`, and returns its result
or raises a `DomainError`. The helper signs the viewer in (AuthenticationRequired when
nobody is), maps a `DomainError` to its union member, and names the result union: the
members the function declares plus `AuthenticationRequired`, which every such field can
return, and `ValidationError`, which every such field with arguments can return (one
without has nothing to validate)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Union

import strawberry
from strawberry.types.field import StrawberryField

from rapport.errors import DomainError
from resolvers.operation import Operation
from schema.context import Info
from schema.errors import AuthenticationRequired, ValidationError, expected_error

Rule = Callable[..., Coroutine[Any, Any, Any]]


def viewer_field(union: str, *, description: str) -> Callable[[Rule], StrawberryField]:
    """A query field for the signed-in viewer (see the module's docstring)."""
    return lambda fn: strawberry.field(resolver=_for_viewer(fn, union), description=description)


def viewer_mutation(
    union: str, *, description: str, name: str | None = None
) -> Callable[[Rule], StrawberryField]:
    """A mutation for the signed-in viewer (see the module's docstring); `name` where the
    GraphQL name is not the function's (`pass`, a Python keyword)."""
    return lambda fn: strawberry.mutation(
        resolver=_for_viewer(fn, union), description=description, name=name
    )


def _for_viewer(fn: Rule, union: str) -> Rule:
    hints = typing.get_type_hints(fn, include_extras=True)
    declared = hints.pop("return")
    members = typing.get_args(declared) if typing.get_origin(declared) in _UNIONS else (declared,)
    signature = inspect.signature(fn)
    has_arguments = len(signature.parameters) > 2  # more than (self, op)
    # Where they were before this helper existed, so the schema's text is unchanged: the
    # validation error after the result, the sign-in error last (unless declared elsewhere).
    if ValidationError not in members and has_arguments:
        members = (members[0], ValidationError, *members[1:])
    everything = tuple(dict.fromkeys((*members, AuthenticationRequired)))
    result: Any = Annotated[Union[everything], strawberry.union(union)]  # noqa: UP007

    parameters = []
    for parameter in signature.parameters.values():
        if parameter.name == "op":
            parameter = parameter.replace(name="info", annotation=Info)
        elif parameter.name in hints:
            parameter = parameter.replace(annotation=hints[parameter.name])
        parameters.append(parameter)
    if [p.name for p in parameters[:2]] != ["self", "info"]:
        raise TypeError(f"{fn.__qualname__}: declare (self, op: Operation, ...)")

    async def resolve(self: Any, info: Info, **arguments: Any) -> Any:
        try:
            viewer = await info.context.require_viewer()
            return await fn(self, info.context.operation(viewer), **arguments)
        except DomainError as error:
            return expected_error(error, arguments)

    resolve.__name__, resolve.__qualname__ = fn.__name__, fn.__qualname__
    resolve.__module__, resolve.__doc__ = fn.__module__, fn.__doc__
    resolve.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=result
    )
    resolve.__annotations__ = {
        **{p.name: p.annotation for p in parameters[1:]},
        "return": result,
    }
    return resolve


_UNIONS = (Union, type(int | str))

__all__ = ["Operation", "viewer_field", "viewer_mutation"]
