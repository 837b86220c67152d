"""llamacloud-notifier: watch LlamaCloud jobs and notify on status changes."""

__version__ = "0.1.0"
