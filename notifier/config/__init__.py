"""The configuration: pydantic models of the YAML file and NOTIFIER_ variables, and the loader
that reads, interpolates and validates it (errors name the field, never a value)."""
