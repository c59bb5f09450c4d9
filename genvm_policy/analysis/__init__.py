"""Analysis: how a policy's decisions spread over the catalog (SPEC §12), for display only.

`diversity` samples decisions and measures their spread, `svgplot` draws them.
Floats are allowed here, as nothing here feeds a decision. It may import
`genvm_policy.core` and `genvm_policy.authoring`.
"""
