"""The scheduled functions on their timer, in a process of their own (``make run`` starts it).

In AWS each scheduled function is its own Lambda; locally the jobs ran as threads of the gateway's process, where
they took about a tenth of its CPU samples and its GIL while serving. Here they share only the DynamoDB server
(``DYNAMODB_ENDPOINT_URL``), as in AWS. ``make rollup`` still runs a job once on demand through the gateway.
"""

from __future__ import annotations

import os
import threading

from . import embedded, paths
from .processes import exit_with_parent


def main() -> None:
    exit_with_parent(os.getppid())
    embedded.set_local_env()
    paths.install()
    from . import jobs

    jobs.start_background_jobs()
    threading.Event().wait()


if __name__ == "__main__":
    main()
