"""``nnscratch info``: a saved model's architecture, size and training history."""

from __future__ import annotations

import numpy as np

from ._common import _load_model


def add_parser(sub):
    info = sub.add_parser(
        "info",
        help="describe a saved model",
        description="Architecture, parameter count and training history.",
    )
    info.add_argument("model", help="model file")
    info.set_defaults(func=run)


def run(args):
    net, meta = _load_model(args.model)
    print(f"model file   {args.model}")
    print(f"layers       {' -> '.join(map(str, net.layers))}")
    print(f"parameters   {net.n_params:,} ({net.dtype.name})")
    print(
        f"hidden       {net.hidden_activation.name}; output {net.output_activation.name}; "
        f"loss {net.loss.name}"
    )
    print(f"optimizer    {net.optimizer!r}")
    if net.dropout or net.l2:
        print(f"regularised  dropout {net.dropout}, l2 {net.l2}")
    if net.metadata:
        print(
            f"trained on   {meta.get('source') or '?'} ({meta['task']}, "
            f"{len(meta.get('feature_names') or [])} features)"
        )
        if meta["task"] == "classification":
            print(f"classes      {', '.join(meta['class_names'])}")
    history = net.history if isinstance(net.history, dict) else {}
    losses = _finite_numbers(history.get("loss"))
    if losses:
        line = f"history      {len(losses)} epochs; loss {losses[0]:.4f} -> {losses[-1]:.4f}"
        val_losses = _finite_numbers(history.get("val_loss"))
        if val_losses:
            best = int(np.argmin(val_losses))
            line += f"; best validation loss {val_losses[best]:.4f} (epoch {best + 1})"
        val_accuracy = _finite_numbers(history.get("val_accuracy"))
        if val_accuracy:
            line += f", validation accuracy up to {max(val_accuracy):.2%}"
        print(line)
        seconds = _finite_numbers(history.get("seconds")) or [0.0]
        print(f"time         {sum(seconds):.1f} s of training")
    else:
        print("history      not trained yet")
    return 0


def _finite_numbers(values):
    """``values`` if it is a non-empty list of finite numbers, else None."""
    if not isinstance(values, list) or not values:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    return values if np.isfinite(values).all() else None
