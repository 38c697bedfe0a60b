"""Training progress display.

``verbose=1`` (the default) shows a tqdm bar per epoch with samples done, the
running average loss and the speed when the output is a terminal, and one line
per epoch otherwise (so log files never fill with bars); ``verbose=2`` always
prints one line per epoch; ``verbose=0`` prints nothing.  Under a bar, the
epoch's figures are printed as a line of their own when it ends, so a narrow
terminal never cuts the validation figures off.

The bar is redrawn at most every ``interval`` seconds.  Between redraws a batch
costs one clock read, so the display never slows training down.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from tqdm.auto import tqdm

from .callbacks import Callback


def _format_logs(logs, assign=": ", sep=" - "):
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "seconds"):
            continue
        if key == "learning_rate":
            text = f"{value:.3g}"
        elif isinstance(value, float):
            text = f"{value:.4f}"
        else:
            text = str(value)
        parts.append(f"{key}{assign}{text}")
    return sep.join(parts)


class Progress:
    """Per-epoch progress for ``fit``.

    Parameters
    ----------
    verbose : {0, 1, 2}
    epochs : int
        Total epochs of this run (for the "Epoch 3/10" label).
    n_samples : int
        Samples per epoch.
    stream : file-like, optional
        Where to write (default: ``sys.stderr``, like tqdm).
    interval : float
        Minimum seconds between bar refreshes.
    """

    def __init__(self, verbose, epochs, n_samples, *, stream=None, interval=0.2):
        self.check_verbose(verbose)
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        try:
            tty = bool(isatty())
        except ValueError:  # closed stream
            tty = False
        self.mode = "none" if verbose == 0 else ("bar" if verbose == 1 and tty else "line")
        self.epochs = epochs
        self.n_samples = n_samples
        self.interval = interval
        self._bar = None
        self._next = 0.0
        self._start = 0.0

    @staticmethod
    def check_verbose(verbose):
        """Refuse anything but 0, 1 or 2 (True and False included)."""
        if isinstance(verbose, (bool, np.bool_)) or verbose not in (0, 1, 2):
            raise ValueError(
                f"verbose must be 0 (silent), 1 (bar or lines) or 2 (lines), got {verbose!r}"
            )
        return int(verbose)

    def epoch_begin(self, epoch):
        self._start = time.perf_counter()
        if self.mode == "bar":
            self._bar = tqdm(
                total=self.n_samples,
                desc=f"Epoch {epoch + 1}/{self.epochs}",
                unit="sample",
                unit_scale=True,
                file=self.stream,
                leave=False,
                mininterval=self.interval,
                dynamic_ncols=True,
            )
            self._next = self._start + self.interval

    def batch_end(self, done, running_loss):
        """Called after every batch; redraws only when ``interval`` has passed."""
        if self._bar is None:
            return
        now = time.perf_counter()
        if now >= self._next:
            self._next = now + self.interval
            self._bar.n = done
            self._bar.set_postfix_str(f"loss={running_loss:.4f}", refresh=False)
            self._bar.refresh()

    def epoch_end(self, epoch, logs):
        seconds = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.n = self._bar.total
            self._bar.set_postfix_str(f"loss={logs.get('loss', float('nan')):.4f}", refresh=False)
            self._bar.close()
            self._bar = None
        if self.mode != "none":
            print(
                f"Epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - {_format_logs(logs)}",
                file=self.stream,
                flush=True,
            )
        return seconds

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class ProgressLogger(Callback):
    """The progress display as a callback (registered by ``fit`` itself, after the history).

    Parameters
    ----------
    progress : Progress
    """

    def __init__(self, progress):
        self.progress = progress
        # a batch costs something only when a bar is drawn
        self.wants_batch_end = progress.mode == "bar"

    def on_epoch_begin(self, epoch, logs):
        self.progress.epoch_begin(epoch)

    def on_batch_end(self, batch, logs):
        self.progress.batch_end(logs["epoch_seen"], logs["epoch_loss"])

    def on_epoch_end(self, epoch, logs):
        self.progress.epoch_end(epoch, logs)

    def set_total(self, n_samples):
        """The samples of an epoch, once a generator's first epoch has told them."""
        self.progress.n_samples = n_samples
        if self.progress._bar is not None:
            self.progress._bar.total = n_samples

    def close(self):
        self.progress.close()
