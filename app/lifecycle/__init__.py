"""Data lifecycle (DESIGN §12): retention, erasure, backup and restore."""
