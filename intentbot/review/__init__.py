"""Review (`python -m intentbot.review`): ordering picks what is worth a person's time, reviewed
keeps what they chose as training data, loop is the loop and its keys, view how it looks."""
