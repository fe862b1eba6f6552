"""The environment the processes a bench measures get: the one the bench was started with.

Importing polars sets its allocator's ``_RJEM_MALLOC_CONF`` in the importing process' environment when it is unset,
which every process started afterwards would inherit (and ``dsp`` keeps a setting it finds instead of its own). A
bench imports this module before anything imports polars: its name sorts before every other import of the benches.
"""

from __future__ import annotations

import os

START_ENV: dict[str, str] = dict(os.environ)
