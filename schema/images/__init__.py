"""GraphQL types, queries and mutations of images, uploads and imports."""
