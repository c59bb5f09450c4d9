"""Node artefacts: what is installed on a validator and what checks it there.

The compiled policy and the hook bundle (compile, bundle), the Python model of
the GenVM hook and its replay from logs (hookmodel, replay), routability, the
Lua runtimes the tooling drives (runtimes) and a minimal GenVM host
(demohost), and the checks run over an installed hook (installcheck,
installgrid). It may start Lua states and processes and read files, and import
`genvm_policy.core`, `.authoring`, `.loaders` and `.vectors`.
"""
