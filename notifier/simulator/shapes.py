"""Jobs rendered in the exact shapes of the API reference pages 000-004."""

from __future__ import annotations

from typing import Any

from notifier.core.statuses import SourceType
from notifier.core.timestamps import parse_ts
from notifier.simulator.state import SimJob


def api_time(canonical: str) -> str:
    """`2026-11-23T10:00:01.117Z`, the API's millisecond form."""
    moment = parse_ts(canonical)
    assert moment is not None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_CONFIGURATION = {
    "data_schema": {"invoice_total": {"type": "number"}},
    "cite_sources": False,
    "confidence_scores": False,
    "extraction_target": "per_doc",
    "max_pages": 10,
    "parse_tier": "fast",
    "tier": "cost_effective",
}


def extract_v2(job: SimJob) -> dict[str, Any]:
    """A list item of page 001 (with the newer `file_input` beside `document_input_value`)."""
    done = job.status == "COMPLETED"
    return {
        "id": job.id,
        "created_at": api_time(job.created_at),
        "updated_at": api_time(job.updated_at),
        "document_input_value": job.file_id,
        "file_input": job.file_id,
        "project_id": job.project_id,
        "status": job.status,
        "configuration": _CONFIGURATION,
        "configuration_id": job.configuration_id,
        "error_message": job.error_message if job.status == "FAILED" else None,
        "extract_metadata": {"parse_job_id": None, "parse_tier": "fast"} if done else None,
        "extract_result": {"invoice_total": 42.0} if done else None,
        "metadata": {"usage": {"num_pages_extracted": 1}} if done else None,
    }


def extract_v2_single(job: SimJob) -> dict[str, Any]:
    """The single-job GET of page 002: `parameters`, `type`, `value` instead of the input."""
    item = extract_v2(job)
    for key in ("document_input_value", "file_input", "configuration", "metadata"):
        item.pop(key)
    item.update({"parameters": {"extract_options": {}}, "type": "file_id", "value": job.file_id})
    return item


def parse_v2(job: SimJob) -> dict[str, Any]:
    """A list item of page 003, plus `usage` and `user_metadata` of newer API versions."""
    return {
        "id": job.id,
        "project_id": job.project_id,
        "status": job.status,
        "created_at": api_time(job.created_at),
        "updated_at": api_time(job.updated_at),
        "error_message": job.error_message if job.status == "FAILED" else None,
        "name": job.name,
        "tier": "fast",
        "usage": {"num_pages": 3} if job.status == "COMPLETED" else None,
        "user_metadata": {},
    }


def _file(job: SimJob) -> dict[str, Any]:
    return {
        "id": job.file_id,
        "name": job.name,
        "project_id": job.project_id,
        "created_at": api_time(job.created_at),
        "updated_at": api_time(job.created_at),
        "external_file_id": job.name,
        "file_size": 1024,
        "file_type": "pdf",
        "data_source_id": None,
        "last_modified_at": api_time(job.created_at),
        "permission_info": None,
        "resource_info": {},
    }


def extraction_v1(job: SimJob) -> dict[str, Any]:
    """A v1 extraction job of page 000: no top-level times, nested agent and file."""
    return {
        "id": job.id,
        "extraction_agent": {
            "id": job.extraction_agent_id,
            "config": {"extraction_mode": "FAST", "extraction_target": "PER_DOC"},
            "data_schema": {"total": {"type": "number"}},
            "name": "invoices",
            "project_id": job.project_id,
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
        },
        "status": job.status,
        "error": job.error_message if job.status == "ERROR" else None,
        "file": _file(job),
        "file_id": job.file_id,
    }


def extract_run_v1(job: SimJob) -> dict[str, Any]:
    """A v1 extract run of page 004."""
    return {
        "id": job.id,
        "created_at": api_time(job.created_at),
        "updated_at": api_time(job.updated_at),
        "extraction_agent_id": job.extraction_agent_id,
        "data_schema": {"total": {"type": "number"}},
        "config": {"extraction_mode": "PER_DOC", "handle_missing": False, "system_prompt": None},
        "file": _file(job),
        "status": job.status,
        "error": job.error_message if job.status == "ERROR" else None,
        "job_id": job.id,
        "data": {"total": 42} if job.status == "SUCCESS" else None,
        "extraction_metadata": {},
    }


RENDER = {
    SourceType.EXTRACT_V2: extract_v2,
    SourceType.PARSE_V2: parse_v2,
    SourceType.EXTRACTION_V1: extraction_v1,
    SourceType.EXTRACT_RUNS_V1: extract_run_v1,
}
