"""Parsers for the text output of benchmarks (nccl-tests, perftest), hardware, fabric and Slurm tools.

Each parser is a pure function from a program's text to data; none raises on bad input: what cannot
be read becomes an error in the result, or a field left as None.
"""
