"""Store: Parquet shards, the quarantine table and the manifest of a cleaned dataset."""

__all__: list[str] = []
