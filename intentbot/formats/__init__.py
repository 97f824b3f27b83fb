"""One module per training-data format, each exposing `read(path, columns) -> TrainingData`.

`intentbot.corpus.READERS` picks one by file suffix; a folder is read as BIO (`bio.read`).
"""
