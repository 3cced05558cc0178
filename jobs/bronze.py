"""spark-submit entry point of the bronze job (the logic lives in wenulake.pipeline.bronze)."""

import sys

from wenulake.pipeline.bronze import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
