"""``python -m ipvae_snn.cli``: the ``ipvae-snn`` command."""

import sys

from . import main

sys.exit(main())
