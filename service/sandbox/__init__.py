"""The built-in sandbox page for integration engineers (``/sandbox``, OIH_SANDBOX_ENABLED).

``router`` carries the page, its static files (``/sandbox/static``) and the small
JSON API of :mod:`service.sandbox.api`; ``service.main`` includes it only when the
sandbox is enabled, so none of it exists in production.
"""

from service.sandbox.api import router

__all__ = ["router"]
