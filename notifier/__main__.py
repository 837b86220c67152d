"""`python -m notifier` runs the same CLI as the `notifier` console script."""

from notifier.cli.main import main

raise SystemExit(main())
