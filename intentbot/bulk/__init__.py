"""Bulk classification (`python -m intentbot.classify`): inputs read a file a row at a time,
outputs write records, stream runs the rows through a `Predictor` in chunks."""
