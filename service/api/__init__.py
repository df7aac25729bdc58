"""HTTP routes: thin handlers that parse, delegate to the pipeline, and render."""
