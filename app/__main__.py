"""`python -m app` is the `beacon` command."""

import sys

from app.cli import main

sys.exit(main())
