"""A rule's `digest`: one message per cron schedule instead of one per event (README, "Digests")."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from notifier.config.base import ConfigModel


def zone_name(value: str) -> str:
    """A time zone the system knows (`Europe/Berlin`), else ValueError naming an example."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 -- only when used

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: `America` is a folder
        raise ValueError(f"unknown time zone {value!r}, e.g. Europe/Berlin") from None
    return value


class DigestConfig(ConfigModel):
    """`schedule` is a five-field crontab line (minute hour day month weekday), read in
    `timezone` by APScheduler's CronTrigger, as the daemon's scheduler runs it."""

    schedule: str = Field(min_length=1)
    timezone: str = "UTC"
    send_empty: bool = False
    top_errors: int = Field(3, ge=0, le=20)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return zone_name(value)

    @model_validator(mode="after")
    def _schedule(self) -> DigestConfig:
        from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415 -- only digests

        from notifier.config.base import field_error  # noqa: PLC0415 -- beside its one use

        try:
            CronTrigger.from_crontab(self.schedule, timezone=self.timezone)
        except ValueError as exc:
            raise field_error(
                "schedule", f"{exc}; write minute hour day month weekday, e.g. '0 9 * * mon-fri'"
            ) from None
        return self
