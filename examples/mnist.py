"""MNIST digits with a 784-512-256-10 network (float32, Adam, dropout 0.2).

python examples/mnist.py            # reads ../shared/data/mnist or $NNSCRATCH_DATA
"""

from _mnist_family import main

from nnscratch.datasets import load_mnist

if __name__ == "__main__":
    main("MNIST", load_mnist, epochs=20, layers=[512, 256], dropout=0.2)
