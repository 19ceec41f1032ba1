"""Entry point: python router.py --config configs/chat.yaml (see README)."""

import sys

from router.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
