"""The composition root: FastAPI app, settings, and adapters to the outside world."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oih-cds")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"
