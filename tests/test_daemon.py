"""daemon wiring that the end-to-end tests do not reach: retention and mutes from settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from notifier.assemble import build_targets
from notifier.config.load import load_settings
from notifier.core.models import SnapshotRow
from notifier.daemon import Daemon

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def settings(tmp_path: Path, **extra: object) -> object:
    data = {
        "llamacloud": {"api_key": "k-1234", "project_id": "prj-default"},
        "store": {"path": str(tmp_path / "n.db"), "retention": "30d"},
        "polling": {"lookback": "3d"},
        "sources": [
            {"type": "extract_v2", "project_ids": ["prj-a", "prj-b"]},
            {"type": "extraction_v1", "extraction_agent_ids": ["agent-1"]},
        ],
        "channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/"}},
        "rules": [{"name": "all", "notify": ["ops"]}],
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_settings(path, {})


async def test_prune_keeps_what_retention_still_covers(tmp_path: Path) -> None:
    """Finished jobs older than retention go; younger ones and running ones stay."""
    daemon = Daemon(settings(tmp_path), clock=lambda: NOW)  # type: ignore[arg-type]
    rows = [
        SnapshotRow(
            "extract_v2",
            "old-done",
            "COMPLETED",
            "prj-a",
            None,
            None,
            "2026-10-01T00:00:00.000000Z",
        ),
        SnapshotRow(
            "extract_v2",
            "new-done",
            "COMPLETED",
            "prj-a",
            None,
            None,
            "2026-11-20T00:00:00.000000Z",
        ),
        SnapshotRow(
            "extract_v2",
            "old-running",
            "RUNNING",
            "prj-a",
            None,
            None,
            "2026-10-01T00:00:00.000000Z",
        ),
    ]
    daemon.store.commit_cycle(
        name="extract_v2",
        scope="prj-a",
        now="2026-11-24T00:00:00.000000Z",
        rows=rows,
        events=[],
        watermark=None,
        baseline_done=True,
    )
    assert await daemon.prune() == 1
    assert set(daemon.store.load_rows("extract_v2", ["old-done", "new-done", "old-running"])) == {
        "new-done",
        "old-running",
    }
    await daemon.close()


async def test_targets_and_mute_windows_from_settings(tmp_path: Path) -> None:
    """One target per project and per agent; a configured window mutes its rule."""
    config = settings(
        tmp_path, mutes=[{"name": "always", "rules": ["all"], "timezone": "Asia/Tokyo"}]
    )
    targets = build_targets(config)  # type: ignore[arg-type]
    assert [(t.name, t.scope, t.project_id, t.extraction_agent_id) for t in targets] == [
        ("extract_v2", "prj-a", "prj-a", None),
        ("extract_v2", "prj-b", "prj-b", None),
        ("extraction_v1", "agent-1", None, "agent-1"),
    ]
    daemon = Daemon(config, clock=lambda: NOW)  # type: ignore[arg-type]
    assert daemon.muted("all", "ops", NOW) == "muted: window 'always' (00:00-24:00 Asia/Tokyo)"
    assert daemon.muted("other", "elsewhere", NOW) is None
    await daemon.close()
