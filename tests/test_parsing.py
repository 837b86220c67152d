"""llamacloud.parsing: every documented shape, newer spellings, bad items skipped by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from notifier.llamacloud.parsing import MAX_ID_LENGTH, MalformedResponse, parse_items, parse_page

# The JSON examples printed on the API reference pages 000-004, copied verbatim.
EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "api_examples.json").read_text()
)


def _example(page: str) -> Any:
    return EXAMPLES[page]


EXTRACT_V2_ITEM = {
    "id": "ext-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "created_at": "2019-12-27T18:11:19.117Z",
    "document_input_value": "dfl-1",
    "project_id": "prj-1",
    "status": "FAILED",
    "updated_at": "2019-12-27T18:11:20.117Z",
    "configuration_id": "cfg-1",
    "error_message": "boom",
    "brand_new_field": {"kept": True},
}


class TestShapes:
    def test_extract_v2_item(self) -> None:
        """Page 001: the normalised fields, and the raw object kept whole."""
        (job,) = parse_items("extract_v2", [EXTRACT_V2_ITEM])
        assert (
            job.job_id,
            job.status,
            job.project_id,
            job.configuration_id,
            job.error_message,
        ) == ("ext-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "FAILED", "prj-1", "cfg-1", "boom")
        assert job.created_at == "2019-12-27T18:11:19.117000Z"
        assert job.raw == EXTRACT_V2_ITEM

    def test_file_input_spelling_and_single_job_shape(self) -> None:
        """`file_input` (new) and page 002's `parameters/type/value` both parse."""
        newer = {k: v for k, v in EXTRACT_V2_ITEM.items() if k != "document_input_value"} | {
            "file_input": "dfl-1"
        }
        single = {
            "id": "ext-2",
            "created_at": "2019-12-27T18:11:19.117Z",
            "parameters": {},
            "project_id": "p",
            "status": "PENDING",
            "type": "url",
            "updated_at": "2019-12-27T18:11:19.117Z",
            "value": "https://x",
        }
        jobs = parse_items("extract_v2", [newer, single, _example("002")])
        assert [j.job_id for j in jobs] == [
            "ext-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "ext-2",
            "id",
        ]

    def test_documented_examples_of_every_page(self) -> None:
        """The JSON examples printed on pages 000, 001, 003 and 004 parse without a skip."""
        (v1_job,) = parse_page("extraction_v1", _example("000"))[0]
        assert v1_job.project_id == "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"
        # SPEC section 3: the nested file's times, the page has no others.
        assert v1_job.created_at == v1_job.updated_at == "2019-12-27T18:11:19.117000Z"
        assert v1_job.error_message == "error" and v1_job.name == "x"
        assert v1_job.extraction_agent_id == "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"
        jobs, token = parse_page("extract_v2", _example("001"))
        assert len(jobs) == 1 and token == "next_page_token"
        jobs, _ = parse_page("parse_v2", _example("003"))
        assert jobs[0].name == "Q4 Financial Report" and jobs[0].status == "PENDING"
        (run,) = parse_page("extract_runs_v1", _example("004"))[0]
        assert run.status == "CREATED" and run.error_message == "string"
        assert run.extraction_agent_id == "3fa85f64-5717-4562-b3fc-2c963f66afa6"

    def test_unknown_status_is_kept(self) -> None:
        """A status the notifier does not know is a job, not an error."""
        (job,) = parse_items("parse_v2", [{"id": "pjb-1", "status": "ARCHIVED", "project_id": "p"}])
        assert job.status == "ARCHIVED"

    def test_wrong_typed_optional_fields_do_not_crash(self) -> None:
        """Numbers become text; objects where text belongs become None; bad times become None."""
        (job,) = parse_items(
            "extract_v2",
            [
                {
                    "id": "e",
                    "status": "FAILED",
                    "error_message": 42,
                    "project_id": {"x": 1},
                    "created_at": "yesterday",
                }
            ],
        )
        assert (job.error_message, job.project_id, job.created_at) == ("42", None, None)


class TestBadItems:
    def test_bad_items_are_skipped_by_name_and_good_ones_count(self) -> None:
        """Each skip is a warning naming the source and the id; the rest of the page survives."""
        items = [
            None,
            [1],
            {"status": "PENDING"},
            {"id": "ext-no-status"},
            {"id": "ext-int", "status": 3},
            {"id": "x" * 5000, "status": None},
            {"id": "ext-ok", "status": "RUNNING"},
        ]
        with capture_logs() as captured:
            jobs = parse_items("extract_v2", items, log=structlog.get_logger())
        assert [j.job_id for j in jobs] == ["ext-ok"]
        assert len(captured) == 6
        assert all(c["event"] == "skipped_item" and c["source"] == "extract_v2" for c in captured)
        assert [c["item_id"] for c in captured][3:5] == ["ext-no-status", "ext-int"]
        assert len(captured[5]["item_id"]) == 100

    def test_an_id_too_long_to_refetch_is_skipped(self) -> None:
        """A RUNNING job must be re-readable by `job_ids`; a 10,000-character id never would be."""
        items = [
            {"id": "x" * 10_000, "status": "RUNNING"},
            {"id": "y" * MAX_ID_LENGTH, "status": "RUNNING"},
        ]
        with capture_logs() as captured:
            jobs = parse_items("extract_v2", items, log=structlog.get_logger())
        assert [j.job_id for j in jobs] == ["y" * MAX_ID_LENGTH]
        assert [(c["event"], c["item_id"], c["reason"]) for c in captured] == [
            ("skipped_item", "x" * 100, f"id longer than {MAX_ID_LENGTH} characters")
        ]

    def test_malformed_envelopes(self) -> None:
        """A page that is not the documented envelope is refused as a whole."""
        bodies: tuple[object, ...] = (None, [], {"items": None}, {"data": []}, "html")
        for body in bodies:
            with pytest.raises(MalformedResponse):
                parse_page("extract_v2", body)
        with pytest.raises(MalformedResponse):
            parse_page("extraction_v1", {"detail": "x"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
item_like = st.fixed_dictionaries(
    {},
    optional={
        k: json_values | st.text()
        for k in (
            "id",
            "status",
            "created_at",
            "updated_at",
            "project_id",
            "error_message",
            "error",
            "file",
            "extraction_agent",
            "name",
        )
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["extract_v2", "parse_v2", "extraction_v1", "extract_runs_v1"]),
    st.lists(item_like | json_values, max_size=6),
)
def test_parse_items_never_raises(source: str, items: list[Any]) -> None:
    """Whatever the API sends as items, parsing returns jobs for the readable ones only."""
    jobs = parse_items(source, items)
    assert all(isinstance(j.job_id, str) and isinstance(j.status, str) for j in jobs)
    assert len(jobs) <= len(items)
