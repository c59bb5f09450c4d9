"""genvm-policy: the deterministic greybox adapter for GenLayer validators.

The core (numeric, encoding, identity, prng, catalog, policy, decision, cascade)
is pure: values and bytes in, values and bytes out. The CLI (`genvm_policy.cli`)
and the loaders that read files are the only shells.
"""

__all__ = ["SPEC_VERSION", "__version__"]

__version__ = "0.1.0"
SPEC_VERSION = 2
