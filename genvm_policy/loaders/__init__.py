"""Loaders: read operator files (YAML, TOML, JSON) into values with source positions.

`sources` finds and reads a policy, catalog or node config; `yamlsource` keeps
line and column per value; `sourcetree` turns a value path into a place in the
file. It may read files, and import `genvm_policy.core` and
`genvm_policy.authoring`.
"""
