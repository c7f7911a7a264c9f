"""The escape suite reuses the black-box tests' machinery: the PostgreSQL
cluster fixture (pg_url), the database helpers, `start_server` and
`run_tw` from tests/integration/conftest.py, and the worker and API helpers
of tests/integration (test_worker.py, authfixtures.py).

Those modules import their helpers with `from conftest import ...`. In a
pytest session of tests/escapes alone, `conftest` is this file, so it
loads tests/integration/conftest.py under its own name and re-exports every
public name of it (the pg_url fixture included).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(_INTEGRATION))
sys.path.insert(0, str(Path(__file__).resolve().parent))

_spec = importlib.util.spec_from_file_location(
    "tw_integration_conftest", _INTEGRATION / "conftest.py"
)
assert _spec and _spec.loader
_integration = importlib.util.module_from_spec(_spec)
sys.modules["tw_integration_conftest"] = _integration
_spec.loader.exec_module(_integration)
globals().update({k: v for k, v in vars(_integration).items() if not k.startswith("__")})
