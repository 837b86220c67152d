"""What the daemon shows about itself: HTTP routes, the status page and readiness, metrics."""
