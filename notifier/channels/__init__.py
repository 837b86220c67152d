"""Delivery targets: signed webhooks and apprise (Slack, email, ...). Each raises
DeliveryError; the outbox worker decides what happens next."""
