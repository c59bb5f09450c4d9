"""The evaluation core (SPEC §0–§10): from numbers and encoding up to decision and cascade.

Pure functions and immutable values, integers only: values and bytes in,
values and bytes out, and the readers that rebuild the catalog and policy
from their canonical values (the twins of the Lua modules of the same stems
under `dispatch/genvm_policy/`). It may import only other `genvm_policy.core`
modules and the standard modules the purity lint names
(`tests/core/test_core_lint.py`): no file, clock, host, YAML or pydantic.
"""
