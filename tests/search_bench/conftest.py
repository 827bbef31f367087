"""The search benchmark's fixtures are the system tests' (tests/conftest.py)."""
