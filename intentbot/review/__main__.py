"""`python -m intentbot.review`: see `intentbot.review.session`."""

import sys

from intentbot.review.session import main

sys.exit(main())
