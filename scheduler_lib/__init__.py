"""scheduler: a self-hosted HTTP job scheduler in one executable."""

__version__ = "0.1.0"
