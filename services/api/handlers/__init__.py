"""The read API's handlers, one module per group of endpoints."""
