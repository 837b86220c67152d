"""Keeping the snapshot current: cheap cycles (`poller`, each one a `cycle`), the sweep beside
them (`sweep`), and the re-reads LlamaCloud's own webhooks ask for (`hints`)."""
