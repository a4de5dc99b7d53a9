"""GraphQL types, queries and mutations of listings and sales."""
