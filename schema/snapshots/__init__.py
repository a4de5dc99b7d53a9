"""GraphQL types, queries and mutations of snapshots."""
