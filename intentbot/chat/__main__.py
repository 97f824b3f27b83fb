"""`python -m intentbot.chat`: see `intentbot.chat.loop`."""

import sys

from intentbot.chat.loop import main

sys.exit(main())
