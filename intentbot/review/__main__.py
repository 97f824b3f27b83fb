"""`python -m intentbot.review`: see `intentbot.review.loop`."""

import sys

from intentbot.review.loop import main

sys.exit(main())
