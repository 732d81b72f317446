"""Shared by the tests and bench/: fake servers, data generators, a throwaway PostgreSQL. Not shipped."""
