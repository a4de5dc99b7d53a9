"""GraphQL types of orders and the admin billing mutations."""
