"""core.hints and core.audit: what a native webhook names, how it is authenticated, and how
well LlamaCloud's push works, as verdicts."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from notifier.core.audit import AuditOutcome, NativeAudit, Verdict
from notifier.core.hints import BadHint, Hint, bearer_matches, read_hint, signature_matches
from notifier.core.statuses import SourceType


class TestReadHint:
    @pytest.mark.parametrize(
        ("body", "job_id", "event"),
        [
            ({"job_id": "ext-1", "event_type": "extract.success"}, "ext-1", "extract.success"),
            ({"id": "pjb-2", "event": "parse.error"}, "pjb-2", "parse.error"),
            ({"data": {"job_id": "ext-3"}, "type": "extract.pending"}, "ext-3", "extract.pending"),
            ({"data": {"job": {"id": "ext-4"}}}, "ext-4", None),
            ({"event_type": "parse.running"}, None, "parse.running"),
            ({"type": "job", "id": "x" * 300}, None, None),  # no event name, an absurd id
        ],
    )
    def test_the_known_spellings(self, body: object, job_id: str | None, event: str | None) -> None:
        """Top-level, nested under data, or data.job; an id over 256 characters is no id."""
        assert read_hint(json.dumps(body).encode()) == Hint(job_id, event)

    def test_the_event_points_at_its_families(self) -> None:
        """parse.* -> parse_v2; extract.* -> every extraction family; none -> all four."""
        assert Hint("p", "parse.success").sources == (SourceType.PARSE_V2,)
        assert SourceType.EXTRACTION_V1 in Hint("e", "extract.error").sources
        assert Hint(None, None).sources == tuple(SourceType)

    @pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"{" * 10_000])
    def test_not_a_json_object_is_a_bad_hint(self, body: bytes) -> None:
        with pytest.raises(BadHint):
            read_hint(body)


class TestAuthentication:
    def test_lc_signature_is_the_hex_hmac_of_the_raw_body(self) -> None:
        body = b'{"job_id": "ext-1"}'
        good = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert signature_matches("s3cret", body, f"sha256={good}")
        assert signature_matches("s3cret", body, f"SHA256={good.upper()}")
        assert not signature_matches("s3cret", body + b" ", f"sha256={good}")  # replay, edited
        assert not signature_matches("other", body, f"sha256={good}")
        assert not signature_matches("s3cret", body, None)
        assert not signature_matches("s3cret", body, good)  # no scheme

    def test_bearer_in_any_case(self) -> None:
        """RFC 7235: the scheme is case-insensitive; the token is not."""
        assert bearer_matches("tok", "Bearer tok") and bearer_matches("tok", "bearer tok")
        assert bearer_matches("tok", "BEARER tok")
        assert not bearer_matches("tok", "Bearer TOK") and not bearer_matches("tok", "Basic tok")
        assert not bearer_matches("tok", None)


class TestAudit:
    def test_a_hint_before_detection_is_matched_with_its_lead(self) -> None:
        """The hint came at 10.0; polling alone would have seen it at 25.0: 15 s ahead."""
        audit = NativeAudit()
        assert audit.hint("ext-1", 10.0) is None
        verdict = audit.detected("extract_v2", "ext-1", 10.2, expected=False, polled_at=25.0)
        assert verdict == Verdict("extract_v2", AuditOutcome.MATCHED, 15.0)

    def test_late_missing_unmatched_and_rejected(self) -> None:
        """A hint after detection is late; none within grace, missing; a hint that found no
        change, unmatched; a request that failed authentication, rejected."""
        audit = NativeAudit(grace=60)
        assert audit.detected("extract_v2", "ext-2", 100.0, expected=True, polled_at=None) is None
        assert audit.hint("ext-2", 103.0) == Verdict("extract_v2", AuditOutcome.LATE, -3.0)
        audit.detected("extract_v2", "ext-3", 100.0, expected=True, polled_at=None)
        audit.detected("extract_v2", "ext-9", 100.0, expected=False, polled_at=None)  # not expected
        audit.hint("ext-4", 100.0)
        expired = audit.expire(200.0, {"ext-4": "parse_v2"})
        assert sorted(expired, key=lambda v: v.outcome) == [
            Verdict("extract_v2", AuditOutcome.MISSING),
            Verdict("parse_v2", AuditOutcome.UNMATCHED),
        ]
        assert audit.rejected("unknown", 201.0).outcome is AuditOutcome.REJECTED
        assert (
            audit.summary()
            == "LlamaCloud webhooks: 50% arrived, median 3.0 s behind polling, 1 missing in 24 h"
        )
