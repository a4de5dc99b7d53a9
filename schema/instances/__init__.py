"""GraphQL types, queries and mutations of instances and rebuilds."""
