"""Tablewright's sandbox runner: runs a user's `transform(df)` under
RestrictedPython and speaks the framed protocol of
docs/internals/protocol.md on its stdin and stdout.

Started by the worker (and the server, for preview and validation) as
`python -I -m tablewright_runner` with the sandbox venv's interpreter;
`python -I -m tablewright_runner validate` only compiles (no pandas).
docs/internals/runner.md describes the design.
"""

__version__ = "1"
