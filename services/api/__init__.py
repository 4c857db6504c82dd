"""The read API: HTTP over the report store."""
