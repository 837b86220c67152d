"""Per-source status vocabularies, phases, terminal sets and LlamaCloud's native event names.

Pure data: the simulator imports this module alone, so it must import nothing else of the
project.
"""

from __future__ import annotations

from enum import StrEnum


class SourceType(StrEnum):
    """The four LlamaCloud endpoint families the notifier can watch."""

    EXTRACT_V2 = "extract_v2"
    PARSE_V2 = "parse_v2"
    EXTRACTION_V1 = "extraction_v1"
    EXTRACT_RUNS_V1 = "extract_runs_v1"


class Phase(StrEnum):
    """Source-independent meaning of a status, so rules can say `phase: failed` once."""

    QUEUED = "queued"
    THROTTLED = "throttled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


STATUSES: dict[SourceType, tuple[str, ...]] = {
    SourceType.EXTRACT_V2: ("PENDING", "THROTTLED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"),
    SourceType.PARSE_V2: ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"),
    SourceType.EXTRACTION_V1: ("PENDING", "SUCCESS", "ERROR", "PARTIAL_SUCCESS", "CANCELLED"),
    SourceType.EXTRACT_RUNS_V1: ("CREATED", "PENDING", "SUCCESS", "ERROR"),
}

# The list endpoint of each source (pages 000-004 of the API reference).
ENDPOINTS: dict[SourceType, str] = {
    SourceType.EXTRACT_V2: "/api/v2/extract",
    SourceType.PARSE_V2: "/api/v2/parse",
    SourceType.EXTRACTION_V1: "/api/v1/extraction/jobs",
    SourceType.EXTRACT_RUNS_V1: "/api/v1/extractionv2/runs",
}

PHASES: dict[str, Phase] = {
    "PENDING": Phase.QUEUED,
    "CREATED": Phase.QUEUED,
    "THROTTLED": Phase.THROTTLED,
    "RUNNING": Phase.RUNNING,
    "COMPLETED": Phase.SUCCEEDED,
    "SUCCESS": Phase.SUCCEEDED,
    "PARTIAL_SUCCESS": Phase.PARTIAL,
    "FAILED": Phase.FAILED,
    "ERROR": Phase.FAILED,
    "CANCELLED": Phase.CANCELLED,
}

TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.PARTIAL, Phase.FAILED, Phase.CANCELLED})

# Suffixes LlamaCloud's own webhooks use (`extract.success`, `parse.error`, ...); throttled and
# running have no native extract event, so the notifier names them in the same style.
_NATIVE_SUFFIX: dict[Phase, str] = {
    Phase.QUEUED: "pending",
    Phase.THROTTLED: "throttled",
    Phase.RUNNING: "running",
    Phase.SUCCEEDED: "success",
    Phase.PARTIAL: "partial_success",
    Phase.FAILED: "error",
    Phase.CANCELLED: "cancelled",
}


def phase_of(status: str) -> Phase:
    """The phase of a status; a status nobody has seen before is `unknown`, never an error."""
    return PHASES.get(status, Phase.UNKNOWN)


def is_terminal(status: str) -> bool:
    """Whether a job in this status will not change again (unknown statuses stay watched)."""
    return phase_of(status) in TERMINAL_PHASES


def native_prefix(source: str) -> str:
    """`parse` for parse jobs, `extract` for every extraction family."""
    return "parse" if source == SourceType.PARSE_V2 else "extract"


def native_event(source: str, status: str) -> str:
    """The event name LlamaCloud's native webhooks would use for this status."""
    phase = phase_of(status)
    suffix = _NATIVE_SUFFIX.get(phase, status.lower() or "unknown")
    return f"{native_prefix(source)}.{suffix}"
