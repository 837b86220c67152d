"""The `notifier` command: parser and exit codes (`main`), what `check` prints, operator
commands, history listings."""
