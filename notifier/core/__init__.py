"""The pure core: statuses, records, diffing, rule matching, queueing decisions, the retry
rule, payloads and messages. No asyncio, network, disk or clock; imports only itself."""
