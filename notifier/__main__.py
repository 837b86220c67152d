"""`python -m notifier` runs the same CLI as the `notifier` console script."""

from notifier.cli import main

raise SystemExit(main())
