"""The built-in sandbox page for integration engineers (``/sandbox``, OIH_SANDBOX_ENABLED)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
