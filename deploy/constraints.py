"""Write deploy/constraints.txt: the runtime dependency closure at the installed versions.

Run from the project's virtualenv after `make test` passed (`make constraints`); the container
build installs with `-c deploy/constraints.txt`, so images reproduce what the tests ran on.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path

BOOTSTRAP = {"pip", "setuptools", "wheel"}


def closure(name: str, seen: dict[str, str]) -> None:
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen or key in BOOTSTRAP:
        return
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return
    seen[key] = dist.version
    for requirement in dist.requires or []:
        if "extra ==" not in requirement:
            closure(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0], seen)


def main() -> None:
    seen: dict[str, str] = {}
    closure("llamacloud-notifier", seen)
    seen.pop("llamacloud-notifier", None)
    lines = [
        "# Runtime dependencies pinned at the versions the test suite ran on.",
        "# Regenerate with `make constraints`.",
        *(f"{name}=={version}" for name, version in sorted(seen.items())),
    ]
    (Path(__file__).parent / "constraints.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
