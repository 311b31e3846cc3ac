"""schema.graphql is committed and must match the code's schema."""

from rapport.settings import PROJECT_ROOT
from schema import schema


def test_committed_schema_matches_code() -> None:
    committed = (PROJECT_ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", "schema.graphql is stale: run `rapport schema`"
