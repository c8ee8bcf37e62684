"""The evaluation stage (in progress): datasets of tool-use cases and their scoring.

``dataset``: the YAML format, its checks, the built-in datasets. ``scoring``: BFCL's rules for
judging calls, and the case-level counts.
"""
