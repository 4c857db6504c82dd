"""``python -m services.cli``: how ``up`` and the tests start a processor or the API."""

import sys

from services.cli import main

sys.exit(main())
