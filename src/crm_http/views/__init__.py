"""One module per resource: its schemas, its routes, and which use cases it calls."""
