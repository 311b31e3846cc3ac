"""Depth, aliases and expanded size of a GraphQL document, each fragment visited once.

Strawberry's depth and alias limiters (and a naive cost planner) expand a fragment again at
every spread, so a document of nested fragments that each spread the previous one twice costs
2^n: measured here, 20 such fragments (783 bytes) took 1.9 s of CPU in the depth limiter alone,
and an 816-byte document 4.3 s on the event loop in the attack that found it. Here every
fragment's figures are worked out once and memoised, so the analysis is linear in the
document's size. The figures still mean what they mean expanded (a fragment spread twice
counts its aliases twice), so the limits cannot be dodged by factoring a query into fragments.

`expanded fields` bounds the work of everything that does expand the document later (the
cost planner in schema/limits.py, graphql-core's executor): at most MAX_EXPANDED_FIELDS field
selections once every spread is replaced by its fragment.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    ValidationContext,
    ValidationRule,
)

MAX_EXPANDED_FIELDS = 5_000  # the largest legitimate document today expands to about 120


class Shape:
    """Depth (fields with selections, nested), aliases and fields, expanded, of each
    operation of a document; a fragment spread inside itself counts 0 (graphql-core's
    NoFragmentCyclesRule reports the cycle), an unknown fragment 0 (KnownFragmentNames)."""

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._memo: dict[str, tuple[int, int, int]] = {}
        self._visiting: set[str] = set()

    def of(self, selections: Iterable[SelectionNode]) -> tuple[int, int, int]:
        """(depth, aliases, fields) of a selection set, expanded."""
        depth = aliases = fields = 0
        for selection in selections:
            if isinstance(selection, FieldNode):
                fields += 1
                aliases += selection.alias is not None
                if selection.selection_set:
                    d, a, f = self.of(selection.selection_set.selections)
                    aliases, fields = aliases + a, fields + f
                    if not selection.name.value.startswith("__"):  # introspection: no depth
                        depth = max(depth, 1 + d)
            elif isinstance(selection, InlineFragmentNode):
                d, a, f = self.of(selection.selection_set.selections)
                depth, aliases, fields = max(depth, d), aliases + a, fields + f
            elif isinstance(selection, FragmentSpreadNode):
                d, a, f = self._fragment(selection.name.value)
                depth, aliases, fields = max(depth, d), aliases + a, fields + f
        return depth, aliases, fields

    def _fragment(self, name: str) -> tuple[int, int, int]:
        if name in self._memo:
            return self._memo[name]
        fragment = self._fragments.get(name)
        if fragment is None or name in self._visiting:
            return 0, 0, 0
        self._visiting.add(name)
        try:
            self._memo[name] = self.of(fragment.selection_set.selections)
        finally:
            self._visiting.discard(name)
        return self._memo[name]


def shape_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations deeper than `max_depth`, documents with more
    than `max_aliases` aliases, and operations expanding past MAX_EXPANDED_FIELDS fields
    (messages as Strawberry's limiters word them, so clients see no change)."""

    class DocumentShape(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            shape = Shape(context.document)

            def refuse(message: str, code: str, node: OperationDefinitionNode | None) -> None:
                nodes = [node] if node is not None else None
                context.report_error(GraphQLError(message, nodes, extensions={"code": code}))

            total_aliases = 0
            for operation in context.document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                depth, aliases, fields = shape.of(operation.selection_set.selections)
                total_aliases += aliases
                name = operation.name.value if operation.name else "anonymous"
                if depth > max_depth:
                    refuse(
                        f"'{name}' exceeds maximum operation depth of {max_depth}",
                        "QUERY_TOO_DEEP",
                        operation,
                    )
                if fields > MAX_EXPANDED_FIELDS:
                    refuse(
                        f"'{name}' expands to {fields} fields once its fragments are spread; "
                        f"at most {MAX_EXPANDED_FIELDS} are allowed",
                        "QUERY_TOO_LARGE",
                        operation,
                    )
            if total_aliases > max_aliases:
                refuse(
                    f"{total_aliases} aliases found. Allowed: {max_aliases}",
                    "TOO_MANY_ALIASES",
                    None,
                )

    return DocumentShape
