"""Use cases per resource, shared by the HTTP API and the CLI.

Functions here take validated input, enforce the product's rules, and raise
``errors.ApiError`` subclasses; they know nothing of HTTP frameworks.
"""
