"""intentbot: which intent is this utterance, how sure, is it out of scope, and the reply."""

__version__ = "0.5.0"  # the same as pyproject.toml and CHANGELOG.md (tests/test_version.py)
