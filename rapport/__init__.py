"""Rapport's process plumbing: settings, database engine, embedded PostgreSQL, logging, CLI.

It holds no business rules: those live in `resolvers/` and `matching/`.
"""
