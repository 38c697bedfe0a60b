"""Preparing the next batches in a background thread while the current one trains."""

from __future__ import annotations

import queue
import threading

_END = object()


def prefetch(batches, depth=1):
    """Iterate over ``batches`` while a background thread prepares the next ``depth`` items.

    The thread runs the source's reading, gathering and converting (NumPy,
    HDF5 and Zarr release the GIL for much of it) while the caller trains on
    the current batch.  Random draws must already have been made (every
    source's ``batches`` draws when it is called), so the order is the same
    with or without the thread.  An exception in the thread is raised in the
    caller at the batch where it happened; leaving the loop early stops the
    thread.
    """
    items = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry):
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in batches:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as err:  # handed to the caller, raised there
            put((False, err))

    worker = threading.Thread(target=work, name="nnscratch-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = items.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        worker.join()
        close = getattr(batches, "close", None)
        if close is not None:
            close()
