"""Business rules as plain async functions, one module per domain. They take an AsyncSession
and the viewer, raise `rapport.errors.DomainError` for expected failures, and know nothing
of GraphQL."""
