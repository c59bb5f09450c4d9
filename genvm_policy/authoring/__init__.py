"""Authoring: what turns an operator's inputs into core values.

GenVM's LLM config and the overlay (llmconfig, overlay: the catalog of §5.2),
the authored policy syntax and its admission (admission, admission_terms,
builtin), and the starter policies `init` writes (initpolicy, initchains). Its
modules take already-loaded values, never paths. It may import
`genvm_policy.core`, pydantic, and the standard modules the purity lint names.
"""
