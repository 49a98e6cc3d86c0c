#!/usr/bin/env python3
"""Entry point of the scheduler executable."""

from scheduler_lib.cli import main

if __name__ == "__main__":
    main()
