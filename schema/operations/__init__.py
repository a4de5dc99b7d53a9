"""GraphQL types, queries and subscriptions of operations."""
