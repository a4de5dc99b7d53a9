"""Instances: reads, the lock for an owner's action, expiry and what they pay."""
