"""Run Python functions on the farm with the standard ``concurrent.futures`` interface.

>>> from triggerfish.futures import Executor                    # doctest: +SKIP
>>> with Executor() as ex:
...     list(ex.map(pow, [2, 3, 4], [5, 2, 1]))
[32, 9, 4]

See docs/tasks.md ("Running Python functions on the farm").
"""

from triggerfish.futures.errors import PickleRefused, RemoteError
from triggerfish.futures.executor import Executor
from triggerfish.futures.future import FarmFuture

__all__ = ["Executor", "FarmFuture", "PickleRefused", "RemoteError"]
