"""The viewer's own data: exportMyData and deleteAccount (README: "Privacy")."""

from __future__ import annotations

from typing import cast

import strawberry
from strawberry.scalars import JSON

from resolvers import privacy
from resolvers.operation import Operation
from schema.errors import RateLimited
from schema.fields import viewer_field, viewer_mutation


@strawberry.type
class AccountDeleted:
    deleted: bool


@strawberry.type(description="Everything Rapport holds about you (format 1; README: Privacy).")
class DataExport:
    data: JSON


@strawberry.type
class PrivacyQueries:
    @viewer_field(
        "ExportResult",
        description="Everything Rapport holds about you, as one JSON document: account, "
        "sessions, profile, preferences, interests, embeddings, swipes, matches, requests, "
        "conversations with their messages, notifications, blocks and reports you made.",
    )
    async def export_my_data(self, op: Operation) -> DataExport:
        return DataExport(data=cast(JSON, await privacy.export(op)))


@strawberry.type
class PrivacyMutations:
    @viewer_mutation(
        "DeleteAccountResult",
        description="Delete your account and your personal data for good (your password "
        "confirms it). Your matches and their conversations go too, for both people.",
    )
    async def delete_account(self, op: Operation, password: str) -> AccountDeleted | RateLimited:
        await privacy.delete_account(op, password)
        return AccountDeleted(deleted=True)
