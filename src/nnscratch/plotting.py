"""Training curves with matplotlib (an optional extra: ``pip install nnscratch[plot]``)."""

from __future__ import annotations

import os

from ._atomic import atomic_write


def plot_history(history, path=None, *, size=(960, 400), dpi=100, title=None):
    """Draw the loss and, where recorded, the accuracy curves of a training run.

    Parameters
    ----------
    history : dict of lists, or a NeuralNetwork (its ``history`` is used)
        Keys ``loss`` and optionally ``val_loss``, ``accuracy``, ``val_accuracy``.
    path : str, optional
        Save the figure there as a PNG (written atomically) and close it.
    size : (int, int)
        Width and height of the image in pixels.
    dpi : int
        Pixels per inch of the saved image.

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
        raise ImportError("plot_history needs matplotlib, an optional extra: "
                          "pip install 'nnscratch[plot]' (or pip install matplotlib)") from None
    history = getattr(history, "history", history)
    if not isinstance(history, dict) or not history.get("loss"):
        raise ValueError("history must be a dict with a non-empty 'loss' list, as "
                         "NeuralNetwork.history is after fit")
    width, height = size
    panels = 2 if history.get("accuracy") or history.get("val_accuracy") else 1
    fig, axes = plt.subplots(1, panels, figsize=(width / dpi, height / dpi), dpi=dpi,
                             squeeze=False)
    epochs = range(1, len(history["loss"]) + 1)
    for ax, key, label in zip(axes[0], ("loss", "accuracy"), ("Loss", "Accuracy")):
        for prefix, style, name in (("", "-", "training"), ("val_", "--", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3,
                        label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.set_xlim(0.5, len(epochs) + 0.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        path = os.fspath(path)
        with atomic_write(path) as handle:
            fig.savefig(handle, format="png", dpi=dpi)
        plt.close(fig)
    return fig
