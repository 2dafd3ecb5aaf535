"""Readers that turn source datasets into clip rows of the shared schema."""
