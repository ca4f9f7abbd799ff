"""`python -m hypr_edge` is the `hypr-edge` command."""
import sys

from hypr_edge.cli import main

sys.exit(main())
