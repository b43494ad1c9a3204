import sys

from xfer_scale.cli import main

sys.exit(main())
