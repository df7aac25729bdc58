"""CDS Hooks 2.0 protocol: wire models, hook contexts, prefetch handling and errors.

No clinical knowledge and no service wiring lives here (enforced by import-linter).
"""
