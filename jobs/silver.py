"""spark-submit entry point of the silver job (the logic lives in wenulake.pipeline.silver)."""

import sys

from wenulake.pipeline.silver import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
