"""`python -m genvm_policy.cli`: the same entry point as the `genvm-policy` script."""

import sys

from genvm_policy.cli import main

sys.exit(main())
