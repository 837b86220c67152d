"""llamacloud-notifier: watch LlamaCloud jobs and notify on status changes."""

from importlib.metadata import PackageNotFoundError, version

try:  # the installed distribution's version: `notifier --version`, notifier_build_info
    __version__ = version("llamacloud-notifier")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
