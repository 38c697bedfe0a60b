"""Train on the 8x8 digits, export to ONNX, and check ONNX Runtime agrees.

    pip install -e ".[onnx]"
    python examples/onnx_export.py

The exported file needs neither Python nor nnscratch: ONNX Runtime serves it
from C++, C#, Java, JavaScript or a phone.  Here we run it from Python only to
compare its answers with ``net.predict``.
"""

import time

import numpy as np
import onnxruntime

from nnscratch import NeuralNetwork
from nnscratch.data import Scale
from nnscratch.datasets import load_digits
from nnscratch.export import to_onnx
from nnscratch.utils import train_test_split

x, y = load_digits()  # pixel values 0..16
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=0)

# The scaling to [0, 1] is the network's input transform: fit and predict apply
# it to every batch, and the export puts it into the graph, so the network and
# the ONNX model both take the raw pixels.
net = NeuralNetwork(
    [64, 64, 10], "relu", "softmax", "categorical_crossentropy", "adam", dtype=np.float32, seed=0
)
net.input_transform = Scale(1 / 16)
start = time.perf_counter()
net.fit(x_train, y_train, batch_size=32, epochs=30, categorical=True, verbose=0)
print(f"trained {net} in {time.perf_counter() - start:.1f} s")

model = to_onnx(net, "digits.onnx")
print(
    f"wrote digits.onnx: opset {model.opset_import[0].version}, "
    f"outputs {[o.name for o in model.graph.output]}"
)

session = onnxruntime.InferenceSession("digits.onnx", providers=["CPUExecutionProvider"])
labels, probabilities = session.run(None, {"input": x_test.astype(np.float32)})

expected = net.predict(x_test)
agree = int(np.sum(labels == net.predict(x_test, labels=True)))
print(f"largest difference in probabilities {np.max(np.abs(probabilities - expected)):.2e}")
print(f"labels agree on {agree} of {len(x_test)} test images")
print(f"test accuracy {np.mean(labels == y_test):.2%} (ONNX Runtime)")
