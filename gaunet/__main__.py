"""`python -m gaunet` (and `torchrun -m gaunet`) run the same command as `gaunet`."""

import sys

from gaunet.cli import main

sys.exit(main())
