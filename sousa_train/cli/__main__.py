"""`python -m sousa_train.cli`: the same as the `sousa-train` command (torchrun, srun use it)."""

import sys

from sousa_train.cli.main import main

sys.exit(main())
