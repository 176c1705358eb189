"""Keys, role metadata and bundles live here (see docs/architecture.md)."""
