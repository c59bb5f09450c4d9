"""Operator tooling: change a node's files safely and report its state.

Install, upgrade and roll back with journalled writes and a lock (install,
install_fs, install_lock, install_config, install_status), find a node's trees
(nodetree), edit its YAML keeping comments (yamledit), and ask the node to
reload (reload). It may touch the file system and the network of the node, and
import every layer below it: `genvm_policy.core`, `.authoring`, `.loaders`,
`.vectors` and `.node`.
"""
