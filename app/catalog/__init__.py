"""The model catalog: the bundled ``models.yaml`` plus the user's overrides, as immutable
snapshots."""
