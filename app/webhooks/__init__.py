"""Webhooks: endpoints an account registers, and the signed deliveries sent to them."""
