"""PyInstaller run-time hook: the IANA time-zone database from one bundled zip file.

scheduler.spec packs the ``tzdata`` package into ``tzdata.zip`` instead of shipping
its ~600 files, because a one-file executable unpacks every bundled file at each
start (creating 600 small files cost more than everything else put together on a
busy disk). Python imports packages from a zip on ``sys.path`` and ``zoneinfo``
reads the zones through ``importlib.resources``, which works inside a zip too.
"""

import os
import sys

sys.path.append(os.path.join(sys._MEIPASS, "tzdata.zip"))
