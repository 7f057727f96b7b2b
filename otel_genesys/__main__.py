import sys

from otel_genesys.cli import main

sys.exit(main())
