"""Where the logits are computed: ONNX Runtime over a graph written from the weights (the
default), or torch itself.

`runtime` builds and runs the sessions; `reference` is the torch engine; `choice` picks one by
name; `files` reads and writes the graphs of a bundle; `graph`, `folded` and `builder` write the
ONNX graph; `kinds` is the table of recurrent cells that the encoder and both graph writers
share.
"""
