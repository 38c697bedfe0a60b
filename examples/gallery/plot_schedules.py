"""
Learning-rate schedules
=======================

Each schedule in :mod:`nnscratch.schedules` is a function of the optimizer's
update count.  Here are the four built-ins over 3,000 updates, as an
optimizer would see them.
"""

import matplotlib.pyplot as plt
import numpy as np

from nnscratch.schedules import Constant, CosineDecay, ExponentialDecay, StepDecay

steps = np.arange(3000)
schedules = {
    "Constant(1e-3)": Constant(1e-3),
    "StepDecay(1e-3, factor=0.5, every=750)": StepDecay(1e-3, factor=0.5, every=750),
    "ExponentialDecay(1e-3, rate=0.5, steps=1000)": ExponentialDecay(
        1e-3, rate=0.5, steps=1000
    ),
    "CosineDecay(1e-3, 2700, warmup_steps=300)": CosineDecay(
        1e-3, decay_steps=2700, warmup_steps=300
    ),
}

fig, ax = plt.subplots(figsize=(8, 4.5))
for label, schedule in schedules.items():
    print(
        f"{label:>45}: {schedule(0):.2e} at step 0, {schedule(2999):.2e} at step 2999"
    )
    ax.plot(steps, [schedule(int(s)) for s in steps], label=label)
ax.set_xlabel("update (optimizer step)")
ax.set_ylabel("learning rate")
ax.set_title("Learning-rate schedules")
ax.legend(fontsize="small")
fig.tight_layout()
plt.show()
