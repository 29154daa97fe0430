"""Peak Python memory of one action, for the tests that prove memory does not grow with input size."""

import tracemalloc


def peak_traced(action):
    """Peak Python memory allocated while ``action`` runs, above what was live before."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before
