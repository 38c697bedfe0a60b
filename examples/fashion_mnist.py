"""Fashion-MNIST with a 784-512-256-10 network (float32, Adam, dropout 0.2).

python examples/fashion_mnist.py    # reads ../shared/data/fashion-mnist or $NNSCRATCH_DATA
"""

from _mnist_family import main

from nnscratch.datasets import load_fashion_mnist

if __name__ == "__main__":
    main("Fashion-MNIST", load_fashion_mnist, epochs=30, layers=[512, 256], dropout=0.2)
