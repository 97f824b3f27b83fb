"""intentbot: which intent is this utterance, how sure, is it out of scope, and the reply."""

__version__ = "0.1.0"
