"""GraphQL types and mutations of accounts, tokens and quotas."""
