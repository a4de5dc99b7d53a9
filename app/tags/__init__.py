"""Tags: key-value labels an owner puts on its images, snapshots and instances."""
