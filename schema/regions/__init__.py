"""GraphQL types and queries of regions, zones and flavors."""
