"""Benchmarks: each one measures a figure as a ratio against a peer or a limit in the same run.

Run ``.venv/bin/python -m bench <name>|all [--smoke]``; results land in
``bench/results/<name>.json`` and the table in ``docs/benchmarks.md`` (full mode only).
"""
