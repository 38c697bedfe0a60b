"""Training curves with matplotlib (an optional extra: ``pip install -e '.[plot]'``)."""

from __future__ import annotations

import os

from ._atomic import atomic_write
from ._paths import prepare_output


def plot_history(history, path=None, *, size=(960, 400), dpi=100, title=None):
    """Draw the loss and, where recorded, the accuracy curves of a training run.

    Parameters
    ----------
    history : dict of lists, or a NeuralNetwork (its ``history`` is used)
        Keys ``loss`` and optionally ``val_loss``, ``accuracy``, ``val_accuracy``.
    path : str, optional
        Save the figure there and close it.  The extension names the format
        (``.png``, ``.svg``, ``.pdf``, ``.jpg``, ... whatever matplotlib
        writes); an unknown extension is refused before drawing.  Missing
        parent folders are created; the write is atomic.
    size : (int, int)
        Width and height of the image in pixels.
    dpi : int
        Pixels per inch of the saved image.
    title : str, optional
        A title over the whole figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plot_history needs matplotlib, an optional extra: "
            "pip install -e '.[plot]' in the checkout (or pip install matplotlib)"
        ) from None
    fmt = None
    if path is not None:
        path = prepare_output(path, "plot path")
        fmt = _format_of(path)
    history = getattr(history, "history", history)
    if not isinstance(history, dict) or not history.get("loss"):
        raise ValueError(
            "history must be a dict with a non-empty 'loss' list, as "
            "NeuralNetwork.history is after fit"
        )
    width, height = size
    panels = 2 if history.get("accuracy") or history.get("val_accuracy") else 1
    fig, axes = plt.subplots(
        1, panels, figsize=(width / dpi, height / dpi), dpi=dpi, squeeze=False
    )
    epochs = range(1, len(history["loss"]) + 1)
    for ax, key, label in zip(axes[0], ("loss", "accuracy"), ("Loss", "Accuracy")):
        for prefix, style, name in (("", "-", "training"), ("val_", "--", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(
                    range(1, len(values) + 1), values, style, marker="o", markersize=3, label=name
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.set_xlim(0.5, len(epochs) + 0.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        with atomic_write(path) as handle:
            fig.savefig(handle, format=fmt, dpi=dpi)
        plt.close(fig)
    return fig


def _format_of(path):
    """The image format named by ``path``'s extension, if matplotlib can write it."""
    from matplotlib.backend_bases import FigureCanvasBase

    extension = os.path.splitext(path)[1].lower().lstrip(".")
    known = FigureCanvasBase.get_supported_filetypes()
    if extension not in known:
        raise ValueError(
            f"plot path {path!r}: cannot tell the image format from the "
            f"extension {('.' + extension) if extension else '(none)'}; use one "
            f"of {', '.join('.' + k for k in sorted(known))}"
        )
    return extension
