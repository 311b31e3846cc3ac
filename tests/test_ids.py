"""schema/ids.py's global ids are strawberry.relay's GlobalID encoding (what Relay and Apollo
clients were given before), computed without its layers of calls."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st
from strawberry.relay.utils import to_base64

from schema.ids import decode, global_id

KEYS = st.one_of(st.integers(min_value=0), st.uuids(), st.text(min_size=1, max_size=50))
TYPES = st.sampled_from(["User", "Message", "Conversation", "Match"])


@given(type_name=TYPES, key=KEYS)
def test_global_ids_are_strawberrys(type_name: str, key: object) -> None:
    try:
        expected = to_base64(type_name, str(key))
    except UnicodeEncodeError:  # a lone surrogate: neither encodes it
        return
    assert global_id(type_name, key) == expected
    assert decode(global_id(type_name, key)) == (type_name, str(key))


def test_a_known_id() -> None:
    assert global_id("Match", 42) == "TWF0Y2g6NDI="
    person = uuid.UUID(int=1)
    assert global_id("User", person) == to_base64("User", str(person))
