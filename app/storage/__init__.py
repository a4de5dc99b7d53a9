"""Uploaded objects and the store that holds their bytes."""
