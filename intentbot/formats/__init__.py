"""One module per training-data format, each exposing a reader `(path, columns) ->
TrainingData` (`base.Reader`).

`intentbot.corpus.READERS` picks one by file suffix; a folder is read as BIO (`bio.read_bio`).
"""
