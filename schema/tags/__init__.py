"""GraphQL types and mutations of tags."""
