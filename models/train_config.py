"""The hyper-parameters of `mlc train`: the Keras example's model, with mlc's defaults where they measured better."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlc.models.scaling import Scaling


@dataclass(frozen=True)
class TrainConfig:
    """mlc's defaults (sublinear tf + L2 rows, learning rate 1e-2, dropout 0.5, punctuation split, a logistic head
    mixed in); `example()` gives the Keras example's own. `linear_share` None: chosen on the threshold-tuning rows."""

    max_tokens: int | None = None
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-2
    patience: int = 3
    seed: int = 42
    dropout: float = 0.5
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # or "cosine": decay to 0 over the planned epochs
    sublinear_tf: bool = True  # idf * (1 + log count) instead of idf * count
    normalize: bool = True  # each TF-IDF row scaled to unit L2 norm
    split_punctuation: bool = True  # punctuation -> space (mlc>lower_and_split_punctuation), not deleted
    linear_share: float | None = None  # the logistic head's share of each output logit; 0: the MLP alone
    linear_c: float = 100.0  # the head's inverse L2 strength, as scikit-learn's C

    @classmethod
    def example(cls, **overrides: Any) -> TrainConfig:
        """The Keras example's settings: raw TF-IDF, Keras's standardize, Adam at 1e-3, no dropout, no head."""
        return cls(
            **{
                "learning_rate": 1e-3,
                "dropout": 0.0,
                "sublinear_tf": False,
                "normalize": False,
                "split_punctuation": False,
                "linear_share": 0.0,
                **overrides,
            }
        )

    def __post_init__(self) -> None:
        if self.linear_share is not None and not 0.0 <= self.linear_share <= 1.0:
            raise ValueError(f"linear share must be between 0 and 1, got {self.linear_share}")
        if self.linear_c <= 0:
            raise ValueError(f"linear C must be positive, got {self.linear_c}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: expected constant or cosine")

    @property
    def scaling(self) -> Scaling:
        return Scaling(self.sublinear_tf, self.normalize)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
