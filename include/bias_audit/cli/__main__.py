"""``python -m bias_audit.cli``: the same as ``bias-audit``."""

import sys

from bias_audit.cli import main

sys.exit(main())
