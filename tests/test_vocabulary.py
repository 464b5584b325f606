"""`learn_vocabulary` against Keras's own `TextVectorization.adapt`: the same n-grams in the same order, the same
IDF, for every standardize the n-gram paths support, on made-up, hostile and real texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_features import HOSTILE, TRAINING

from mlc.models.errors import InputError
from mlc.models.features import SPLIT_PUNCTUATION
from mlc.models.vocabulary import OOV_TOKEN, learn_vocabulary

STANDARDIZE = ["lower_and_strip_punctuation", SPLIT_PUNCTUATION, "lower", "strip_punctuation", None]


def keras_adapted(texts: list[str], standardize, max_tokens: int | None) -> tuple[list[str], np.ndarray, dict]:
    """(vocabulary, IDF, settings) of Keras's layer adapted on `texts`."""
    from mlc.models.keras_file import vectorizer_settings
    from mlc.models.tf_backend.internals import vectorizer_state
    from mlc.models.tf_backend.keras_layers import lower_and_split_punctuation
    from mlc.models.tf_backend.runtime import tf_keras

    tf, keras = tf_keras()
    layer = keras.layers.TextVectorization(
        max_tokens=max_tokens,
        ngrams=2,
        output_mode="tf_idf",
        standardize=lower_and_split_punctuation if standardize == SPLIT_PUNCTUATION else standardize,
    )
    layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(64))
    return *vectorizer_state(layer), vectorizer_settings(layer.get_config())


def assert_same_as_keras(texts: list[str], standardize, max_tokens: int | None, chunk_rows: int = 65_536) -> None:
    vocabulary, idf, settings = keras_adapted(texts, standardize, max_tokens)
    ours, our_idf = learn_vocabulary(texts, settings, max_tokens, chunk_rows=chunk_rows)
    assert ours == vocabulary
    np.testing.assert_array_equal(our_idf[1:], idf[1:])
    # the OOV weight is the mean of the others: Keras sums in float32, this in float64
    np.testing.assert_allclose(our_idf[0], idf[0], rtol=2e-6)


@pytest.mark.parametrize("standardize", STANDARDIZE)
def test_hostile_texts_give_keras_vocabulary(standardize):
    texts = TRAINING + HOSTILE + ["[UNK] is Keras's own OOV token, [UNK] [UNK]", "UNK unk"]
    assert_same_as_keras(texts, standardize, None)
    assert_same_as_keras(texts, standardize, 12)  # the cut falls among n-grams of equal count


@pytest.mark.parametrize("max_tokens", [300, 5_000, None])
def test_made_up_corpus_gives_keras_vocabulary_in_one_chunk_or_many(labelled_csv, max_tokens):
    texts = pd.read_csv(labelled_csv)["summaries"].tolist()
    assert_same_as_keras(texts, SPLIT_PUNCTUATION, max_tokens)
    assert (
        learn_vocabulary(texts, {"standardize": SPLIT_PUNCTUATION, "ngrams": 2}, max_tokens, chunk_rows=37)[0]
        == learn_vocabulary(texts, {"standardize": SPLIT_PUNCTUATION, "ngrams": 2}, max_tokens)[0]
    )


@pytest.mark.parametrize("standardize", ["lower_and_strip_punctuation", SPLIT_PUNCTUATION])
def test_real_abstracts_give_keras_vocabulary(shared_abstracts_csv, standardize):
    texts = pd.read_csv(shared_abstracts_csv)["summaries"].tolist()
    assert_same_as_keras(texts, standardize, 20_000, chunk_rows=300)


def test_unigrams_only_and_the_oov_token_first():
    vocabulary, idf = learn_vocabulary(["b a a", "a c"], {"standardize": "lower", "ngrams": None}, None)
    assert vocabulary == [OOV_TOKEN, "a", "c", "b"]  # count first, then the token's bytes, both descending
    np.testing.assert_allclose(idf[1:], np.log(1 + 2 / (1 + np.array([2, 1, 1]))), rtol=1e-6)
    np.testing.assert_allclose(idf[0], idf[1:].mean(), rtol=1e-6)


def test_texts_without_words_are_refused():
    with pytest.raises(InputError, match="no training text holds a word"):
        learn_vocabulary(["", "  ", "..."], {"standardize": "lower_and_strip_punctuation", "ngrams": 2}, 100)
