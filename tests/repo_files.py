"""The repository's root, for tests that read its files or run its scripts (as subprocesses)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
