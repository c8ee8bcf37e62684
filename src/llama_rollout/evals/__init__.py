"""The evaluation stage: MCP tool use through Llama Stack, general quality with lm-eval, the
quality gate, and what the notebooks load.

``dataset``: the YAML format, its checks, the built-in datasets. ``scoring``: BFCL's rules for
judging calls (``match_calls``). ``harness``: the cases through the Responses API.
``metrics``: scores per case and overall. ``quality``: lm-eval against vLLM. ``gate``: the
thresholds. ``report``: the Markdown summary and the HTML page. ``storage``: the files beside
the model. ``step``: all of it as one step. ``explore``: versions and results as DataFrames,
for the notebooks.
"""
