"""pyarrow's first conversion of Python values imports pandas, a slow import, only to ask whether they are
pandas objects. The command line never hands it any, so its commands answer that probe "no" without the import;
pyarrow still imports pandas where a command asks it for pandas (JSON Lines output)."""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder


class _Declined(MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas":
            raise ImportError("pandas declined for pyarrow's probe")
        return None


def decline_pandas_probe() -> None:
    """Make pyarrow's one probe for pandas now, with pandas unimportable for its duration (unless already loaded)."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _Declined()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([""])
    finally:
        sys.meta_path.remove(finder)
