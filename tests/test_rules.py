"""core.rules: `when` matching and routing to channels."""

import re
from typing import Unpack

from notifier.core.models import Event, Route
from notifier.core.rules import Rule, When, as_set, route
from notifier.core.samples import EventFields, sample_event


def event(**kw: Unpack[EventFields]) -> Event:
    """A failed extract_v2 job whose name and error the rules below look at."""
    fields = EventFields(name="invoice-42.pdf", error_message="quota exceeded for tier")
    return sample_event(**(fields | kw))


class TestWhen:
    def test_empty_matches_everything(self) -> None:
        """No keys means every event."""
        assert When().matches(event())

    def test_keys_are_anded_values_ored(self) -> None:
        """Each key must hold; any of its values will do."""
        when = When(status=as_set(["FAILED", "ERROR"]), source=as_set(["extract_v2"]))
        assert when.matches(event())
        assert not when.matches(event(source="parse_v2"))
        assert not when.matches(event(to_status="COMPLETED"))

    def test_from_status_null_does_not_match_a_value(self) -> None:
        """A first sighting has no from_status, so a from_status filter excludes it."""
        assert not When(from_status=as_set(["RUNNING"])).matches(event(from_status=None))

    def test_glob_regex_and_not(self) -> None:
        """Name globs, error regexes and exclusions combine."""
        when = When(
            name=("invoice-*.pdf",),
            error_message=(re.compile(r"quota"),),
            negated=When(project_id=as_set(["prj-test"])),
        )
        assert when.matches(event())
        assert not when.matches(event(project_id="prj-test"))
        assert not when.matches(event(name="report.docx"))
        assert not when.matches(event(error_message=None))


class TestRoute:
    def test_one_route_per_channel_first_rule_wins(self) -> None:
        """A channel named by two matching rules gets the event once, credited to the first."""
        rules = [
            Rule("failures", When(phase=as_set(["failed"])), ("slack", "email")),
            Rule("all", When(), ("slack", "hook")),
        ]
        assert route(event(), rules) == [
            Route("failures", "slack"),
            Route("failures", "email"),
            Route("all", "hook"),
        ]

    def test_stop_ends_matching(self) -> None:
        """`continue: false` keeps later rules from routing the event."""
        rules = [Rule("first", When(), ("a",), stop=True), Rule("second", When(), ("b",))]
        assert route(event(), rules) == [Route("first", "a")]

    def test_no_match_no_route(self) -> None:
        """An event no rule wants goes nowhere."""
        assert route(event(), [Rule("x", When(event=as_set(["job.stuck"])), ("a",))]) == []
