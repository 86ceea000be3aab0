import sys

from pipelines.entry import main

sys.exit(main())
