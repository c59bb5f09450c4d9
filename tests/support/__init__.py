"""What the test suites share: builders, node trees, the GenVM fake, Lua drivers, runtimes.

No tests live here; the concept folders beside it hold them, and none imports another
test module (`tests/core/test_test_layout.py`). `pythonpath = ["tests"]` in
pyproject.toml makes this package importable as `support`.
"""
