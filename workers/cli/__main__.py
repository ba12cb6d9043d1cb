"""`python -m llmcache.workers.cli`: what the services and the tests start."""

import sys

from llmcache.workers.cli import main

sys.exit(main())
