"""Review (`python -m intentbot.review`): ordering picks what is worth a person's time, decisions
keeps what they chose as training data, session is the loop and its keys, view how it looks."""
