"""`python -m nodegraph`: the `nodegraph` command."""

import sys

from .launch import main

sys.exit(main())
