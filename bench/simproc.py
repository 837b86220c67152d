"""The simulator in its own process, so benchmark figures count only the notifier's work."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

KEY = "bench-key"


class SimProcess:
    """`notifier simulate` as a child process, driven through its control API."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "notifier",
                "simulate",
                "--port",
                "0",
                "--api-key",
                KEY,
                "--rate",
                "0",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url = line.split(" on ", 1)[1].split()[0]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read() or b"null")

    def bulk(self, count: int, status: str = "COMPLETED", source: str = "extract_v2") -> None:
        if count:
            self.control("POST", "/_sim/bulk", {"source": source, "count": count, "status": status})

    def create(self, status: str = "RUNNING", source: str = "extract_v2") -> str:
        return str(self.control("POST", "/_sim/jobs", {"source": source, "status": status})["id"])

    def set_status(self, job_id: str, status: str) -> None:
        self.control("POST", f"/_sim/jobs/{job_id}/status", {"status": status})

    def job_ids(self, status: str) -> list[str]:
        return [j["id"] for j in self.control("GET", f"/_sim/jobs?status={status}&limit=1000000")]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
