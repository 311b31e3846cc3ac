"""Matching: embeddings of bios and goals, reciprocal candidate filters, scoring and the
candidate cache. Built by the matching issue on top of the profiles and interests tables."""
