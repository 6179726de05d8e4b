"""A standardised multinomial logistic regression over the three verdicts, stored as plain numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.evaluation.verdicts import VERDICTS

__all__ = ["SoftmaxModel"]


@dataclass
class SoftmaxModel:
    """p(v | x) = softmax(((x - mean) / scale) @ coef.T + intercept) over VERDICTS.

    mean, scale: [d]; coef: [3, d]; intercept: [3]. A verdict missing from the training labels keeps a zero row
    and an intercept of -30, so its probability is ~1e-13 and the others renormalise among themselves.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, verdicts: np.ndarray, c: float = 1.0, seed: int = 0) -> SoftmaxModel:
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(x, dtype=np.float64)
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-12] = 1.0
        present = [v for v in VERDICTS if v in set(verdicts)]
        coef, intercept = np.zeros((len(VERDICTS), x.shape[1])), np.full(len(VERDICTS), -30.0)
        if len(present) == 1:  # one class: nothing to separate
            intercept[VERDICTS.index(present[0])] = 0.0
            return cls(mean, scale, coef, intercept)
        clf = LogisticRegression(C=c, max_iter=5000, random_state=seed).fit((x - mean) / scale, verdicts)
        rows = [VERDICTS.index(v) for v in clf.classes_]
        if len(rows) == 2:  # sklearn's binary form: p(second) = sigmoid(w·x + b) = softmax([0, w·x + b])
            coef[rows[1]], intercept[rows] = clf.coef_[0], [0.0, clf.intercept_[0]]
        else:
            coef[rows], intercept[rows] = clf.coef_, clf.intercept_
        return cls(mean, scale, coef, intercept)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """[n, 3] probabilities in VERDICTS order."""
        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SoftmaxModel:
        model = cls(*(np.asarray(raw[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept")))
        if model.coef.shape != (len(VERDICTS), model.mean.size) or model.intercept.shape != (len(VERDICTS),):
            raise ValueError(f"coef {model.coef.shape} / intercept {model.intercept.shape} do not match "
                             f"{len(VERDICTS)} verdicts x {model.mean.size} features")
        return model
