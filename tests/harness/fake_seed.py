"""A template command for the harness's tests: seeds {db} from a run-scoped service.

python fake_seed.py DB URL     # GET URL/seed, write what it says and SEED_NOTE to DB
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    db, url = sys.argv[1], sys.argv[2]
    with urllib.request.urlopen(url + "/seed", timeout=10) as answer:
        body = answer.read().decode()
    with open(db, "w") as out:
        out.write(f"seeded from {url}: {body} note={os.environ.get('SEED_NOTE', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
