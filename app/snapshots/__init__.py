"""Snapshots of instances' system disks."""
