"""Train: the reference model fitted on the stored shards (imports Keras only to train)."""

__all__: list[str] = []
