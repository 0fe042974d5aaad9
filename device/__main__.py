"""``python -m device``: the dispenser's command line."""

import sys

from device.cli import main

sys.exit(main())
