"""schema.graphql and possibleTypes.json are committed and must match the code's schema."""

from rapport.settings import PROJECT_ROOT
from schema import possible_types_json, schema


def test_committed_schema_matches_code() -> None:
    committed = (PROJECT_ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", "schema.graphql is stale: run `rapport schema`"


def test_committed_possible_types_match_code() -> None:
    """possibleTypes.json (for Apollo Client's cache) is committed too, and current."""
    committed = (PROJECT_ROOT / "possibleTypes.json").read_text()
    assert committed == possible_types_json(), "possibleTypes.json is stale: run `rapport schema`"
