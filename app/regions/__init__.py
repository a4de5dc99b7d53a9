"""Regions, zones, flavors and their prices."""
