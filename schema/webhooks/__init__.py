"""Webhooks: endpoints, deliveries and their attempts."""
