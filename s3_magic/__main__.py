import sys

from s3_magic.cli import main

sys.exit(main())
