"""`python -m intentbot.chat`: see `intentbot.chat.session`."""

import sys

from intentbot.chat.session import main

sys.exit(main())
