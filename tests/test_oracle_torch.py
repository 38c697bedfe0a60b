"""The built-in optimizers against PyTorch's, a second oracle written by other people.

PyTorch is not in the ``test`` extra (it would make CI's install much longer): it is
declared in the ``oracle`` extra, ``pip install -e ".[oracle]"`` (torch==2.13.0, the CPU
build).  Without it this module is skipped as a whole; the NumPy oracle in
``test_oracle_optimizers.py`` always runs.

Both libraries run in float64 from the same parameters on the same gradients for several
steps.  PyTorch writes SGD's velocity without the learning rate (``v = mu v + g;
p -= lr v``); that equals ours (``v = mu v - lr g; p += v``) while the rate is constant,
so SGD is compared at constant rates and the schedules with Adam, RMSprop and Adagrad,
where the rate only scales the step.  PyTorch's clip by norm divides by ``norm + 1e-6``,
so those cases agree to about 1e-6 relative, not to rounding.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nnscratch import SGD, Adagrad, Adam, RMSprop  # noqa: E402


def rate(step):
    return 0.03 / (1 + 0.3 * step)


CASES = [
    # (id, nnscratch factory, torch factory(params), schedule or None, clipvalue, clipnorm)
    ("sgd", lambda: SGD(0.05), lambda p: torch.optim.SGD(p, lr=0.05), None, None, None),
    (
        "sgd-momentum",
        lambda: SGD(0.05, 0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        None,
        None,
        None,
    ),
    (
        "sgd-nesterov-clipvalue",
        lambda: SGD(0.05, 0.8, nesterov=True, clipvalue=0.05),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
        None,
        0.05,
        None,
    ),
    (
        "adam",
        lambda: Adam(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-7),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.95), eps=1e-7),
        None,
        None,
        None,
    ),
    (
        "adam-schedule-clipnorm",
        lambda: Adam(rate, clipnorm=0.2),
        lambda p: torch.optim.Adam(p, lr=rate(0), betas=(0.9, 0.999), eps=1e-8),
        rate,
        None,
        0.2,
    ),
    (
        "rmsprop-schedule",
        lambda: RMSprop(rate, rho=0.7, epsilon=1e-6),
        lambda p: torch.optim.RMSprop(p, lr=rate(0), alpha=0.7, eps=1e-6),
        rate,
        None,
        None,
    ),
    (
        "adagrad-accumulator-clipvalue",
        lambda: Adagrad(0.05, epsilon=1e-7, initial_accumulator_value=0.2, clipvalue=0.08),
        lambda p: torch.optim.Adagrad(p, lr=0.05, eps=1e-7, initial_accumulator_value=0.2),
        None,
        0.08,
        None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_same_parameters_as_pytorch_step_by_step(case):
    _, ours_factory, torch_factory, schedule, clipvalue, clipnorm = case
    rng = np.random.default_rng(5)
    start = rng.normal(size=40)
    ours = ours_factory()
    p_ours = start.copy()
    p_torch = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    theirs = torch_factory([p_torch])
    for t in range(12):
        g = rng.normal(size=40) * (0.3 if t % 3 == 0 else 0.01)
        p_ours = ours.update(p_ours, g)
        p_torch.grad = torch.tensor(g, dtype=torch.float64)
        if clipvalue is not None:
            torch.nn.utils.clip_grad_value_([p_torch], clipvalue)
        if clipnorm is not None:
            torch.nn.utils.clip_grad_norm_([p_torch], clipnorm)
        if schedule is not None:
            for group in theirs.param_groups:
                group["lr"] = schedule(t)
        theirs.step()
        expected = p_torch.detach().numpy()
        rtol = 1e-6 if clipnorm is not None else 1e-12  # see the module's docstring
        np.testing.assert_allclose(p_ours, expected, rtol=rtol, atol=1e-14, err_msg=f"step {t}")
