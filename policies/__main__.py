"""Entry point of the CrossGuard pack: `pulumi preview --policy-pack policies` runs this file."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.pack import serve  # noqa: E402

serve()
