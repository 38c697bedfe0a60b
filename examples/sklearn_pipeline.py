"""nnscratch inside scikit-learn: a pipeline with a scaler, tuned by grid search.

pip install -e ".[sklearn]"
python examples/sklearn_pipeline.py
"""

from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nnscratch.datasets import load_digits
from nnscratch.sklearn import NNClassifier

x, y = load_digits()
x_train, x_test, y_train, y_test = train_test_split(
    x, y, test_size=0.2, random_state=0, stratify=y
)
pipeline = make_pipeline(StandardScaler(), NNClassifier(max_iter=100, random_state=0))
search = GridSearchCV(
    pipeline,
    {"nnclassifier__hidden_layer_sizes": [(32,), (128,)], "nnclassifier__alpha": [0.0, 1e-3]},
    cv=3,
    n_jobs=2,
)
search.fit(x_train, y_train)
print("best settings:", search.best_params_)
print(f"cross-validated accuracy {search.best_score_:.2%}")
print(f"test accuracy {search.score(x_test, y_test):.2%}")
