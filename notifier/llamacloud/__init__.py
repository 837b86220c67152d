"""The LlamaCloud edge: the HTTP client (auth, pacing, retries), the endpoint calls of each
source family, and the tolerant parsing of their items."""
