"""`notifier demo`: the simulator, the daemon and a verifying receiver in one process."""
