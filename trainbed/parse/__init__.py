"""Parsers for benchmark output (nccl-tests, perftest).

Each parser is a pure function from the program's text to a plain dict (JSON-ready). Parsers never
raise on bad input: whatever cannot be read becomes an error string in the result.
"""
