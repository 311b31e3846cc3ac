"""Trusted documents: the operations a client's build registered (`rapport documents
register`). With RAPPORT_TRUSTED_DOCUMENTS on, only these run (rapport/persisted.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import timestamp_field


class PersistedDocument(SQLModel, table=True):
    __tablename__ = "persisted_documents"

    # The manifest's key: a sha256 for Apollo's and graphql-codegen's manifests, whatever the
    # build chose for Relay's (often an md5). Clients send it as persistedQuery.sha256Hash.
    id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    # sha256 of the body, hex: how a request sending the full text finds it (two manifests may
    # register one body under two ids).
    sha256: str = Field(sa_column=sa.Column(sa.Text, nullable=False, index=True))
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    operation_name: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    operation_type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    registered_at: datetime = timestamp_field()
