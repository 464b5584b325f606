"""The fast n-gram TF-IDF path against Keras's own layer, on texts chosen to break it."""

from __future__ import annotations

import numpy as np
import pytest

from mlc.models.features import ngram_tables
from mlc.models.tf_backend.internals import vectorizer_state
from mlc.models.tf_backend.tfidf import NgramTfIdf, SparseTfIdf

TRAINING = [
    "Deep learning for image segmentation.",
    "Graph neural networks: message passing on graphs!",
    "Image segmentation with deep convolutional networks",
    "Bayesian inference, variational methods and deep learning",
]
HOSTILE = [
    "",
    "   \t\n ",
    "!!! ... ???",
    "deep",
    "deep deep deep deep learning learning",  # repeated uni- and bigrams
    "Deep-Learning; IMAGE (segmentation)",  # punctuation glued to words, mixed case
    "segmentation image deep",  # known words, unknown bigrams
    "zzz unknown qqq words only",
    "Émile Noël naïve résumé αβγ 数学 deep learning",  # non-ASCII (Keras lower-cases ASCII only)
    "deep\u00a0learning\u2028image",  # non-ASCII spaces and a line separator
    "x " * 400,  # long, one OOV word repeated
]


def dense(features, texts, tf) -> np.ndarray:
    """Either path's output as a dense [n, vocabulary] matrix, OOV folded back into column 0."""
    out = features(tf.constant(texts))
    if isinstance(features, SparseTfIdf):
        return tf.sparse.to_dense(tf.sparse.reorder(out)).numpy()
    matrix = np.zeros((len(texts), features.vocabulary_size), np.float64)
    np.add.at(matrix, (out.rows.numpy(), out.columns.numpy()), out.values.numpy())
    matrix[:, 0] += out.oov_counts.numpy() * features.oov_idf
    return matrix


@pytest.fixture(scope="module", params=[False, True], ids=["keras-standardize", "split-punctuation"])
def layer(request):
    """Keras's own standardize (the example's) and mlc's default, punctuation split into spaces."""
    from mlc.models.tf_backend.mlp import make_vectorizer

    return make_vectorizer(TRAINING, max_tokens=40, split_punctuation=request.param)


def test_ngram_path_equals_keras_tf_idf(layer):
    from mlc.models.tf_backend.runtime import tf_keras

    tf, _ = tf_keras()
    vocabulary, idf = vectorizer_state(layer)
    settings = layer.get_config()
    assert NgramTfIdf.supports(settings)
    fast = NgramTfIdf(settings, vocabulary, idf)
    keras_dense = layer(tf.constant(HOSTILE)).numpy()  # the example's own dense tf_idf output
    np.testing.assert_allclose(dense(fast, HOSTILE, tf), keras_dense, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        dense(SparseTfIdf(settings, vocabulary, idf), HOSTILE, tf), keras_dense, rtol=1e-6, atol=1e-6
    )
    assert keras_dense[4].sum() > 0 and keras_dense[7, 0] > 0  # the cases are not all empty
    # "Deep-Learning; IMAGE (segmentation)": split, the hyphen makes the bigram "deep learning"; deleted, "deeplearning"
    split = NgramTfIdf(settings, vocabulary, idf).standardize == "lower_and_split_punctuation"
    assert (keras_dense[5, vocabulary.index("deep learning")] > 0) == split


def test_split_punctuation_survives_the_model_file_and_safe_mode(tmp_path):
    """The standardize function is saved by its registered name, read back by mlc's archive reader (no Keras)
    and by Keras in safe mode, and the sparse path reproduces the saved model's own output."""
    import json
    import zipfile

    import mlc.models.tf_backend.keras_layers  # noqa: F401  registers mlc's layer and function
    from mlc.models.features import SPLIT_PUNCTUATION_REF
    from mlc.models.keras_file import read_keras_file
    from mlc.models.tf_backend.mlp import make_vectorizer
    from mlc.models.tf_backend.runtime import tf_keras

    tf, keras = tf_keras()
    vectorizer = make_vectorizer(TRAINING, max_tokens=40, split_punctuation=True)
    texts = keras.Input(shape=(), dtype="string")
    model = keras.Model(texts, keras.layers.Dense(2, activation="sigmoid")(vectorizer(texts)))
    path = tmp_path / "model.keras"
    model.save(path)
    saved = json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["layers"][1]["config"]["standardize"]
    assert saved["config"] == SPLIT_PUNCTUATION_REF
    reloaded = keras.saving.load_model(path, safe_mode=True)
    weights = read_keras_file(path)  # mlc's own reader: the file as data, its architecture checked
    assert NgramTfIdf.supports(weights.vectorizer)
    fast = NgramTfIdf(weights.vectorizer, weights.vocabulary, weights.idf)
    expected = reloaded.layers[1](tf.constant(HOSTILE)).numpy()
    np.testing.assert_allclose(dense(fast, HOSTILE, tf), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        dense(SparseTfIdf(weights.vectorizer, weights.vocabulary, weights.idf), HOSTILE, tf),
        expected,
        rtol=1e-6,
        atol=1e-6,
    )


def test_empty_batch(layer):
    from mlc.models.tf_backend.runtime import tf_keras

    tf, _ = tf_keras()
    vocabulary, idf = vectorizer_state(layer)
    out = NgramTfIdf(layer.get_config(), vocabulary, idf)(tf.constant([], tf.string))
    assert out.rows.shape[0] == 0 and out.oov_counts.shape[0] == 0


def test_ngram_tables_word_only_in_a_bigram_is_oov_as_a_unigram():
    words, word_columns, keys, columns = ngram_tables(["[UNK]", "deep", "deep learning", "learning deep"])
    assert words == ["deep", "learning"]
    assert list(word_columns) == [1, 0]  # "learning" alone is not in the vocabulary
    n = len(words)
    assert dict(zip(keys.tolist(), columns.tolist())) == {0 * n + 1: 2, 1 * n + 0: 3}


def test_unsupported_settings_fall_back():
    assert not NgramTfIdf.supports({"standardize": "lower", "split": "character", "ngrams": 2})
    assert not NgramTfIdf.supports({"standardize": "lower", "split": "whitespace", "ngrams": 3})


def sklearn_like(raw_tfidf: np.ndarray, idf: np.ndarray, sublinear: bool, normalize: bool) -> np.ndarray:
    """scikit-learn's sublinear_tf + norm='l2', written out in NumPy from the raw TF-IDF matrix."""
    counts = np.divide(raw_tfidf, idf, out=np.zeros_like(raw_tfidf), where=raw_tfidf > 0)
    out = np.where(counts > 0, idf * (1 + np.log(np.maximum(counts, 1))), 0.0) if sublinear else raw_tfidf
    if normalize:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
    return out


@pytest.mark.parametrize("sublinear,normalize", [(True, True), (True, False), (False, True)])
def test_scaling_layer_and_sparse_path_equal_the_formula(layer, sublinear, normalize):
    from mlc.models.scaling import Scaling
    from mlc.models.tf_backend.runtime import tf_keras
    from mlc.models.tf_backend.scaling_ops import make_layer

    tf, _ = tf_keras()
    vocabulary, idf = vectorizer_state(layer)
    raw = layer(tf.constant(HOSTILE)).numpy().astype(np.float64)
    expected = sklearn_like(raw, idf.astype(np.float64), sublinear, normalize)
    scaling = Scaling(sublinear, normalize)
    keras_side = make_layer(idf, scaling)(tf.constant(raw, tf.float32)).numpy()
    np.testing.assert_allclose(keras_side, expected, rtol=1e-5, atol=1e-6)
    sparse = dense(SparseTfIdf(layer.get_config(), vocabulary, idf, scaling), HOSTILE, tf)
    np.testing.assert_allclose(sparse, expected, rtol=1e-5, atol=1e-6)
    assert np.all(expected[0] == 0)  # the empty text stays a zero row, no NaN
    deep = vocabulary.index("deep")
    if sublinear and not normalize:  # "deep deep deep deep learning learning": count 4 -> idf * (1 + log 4)
        assert keras_side[4, deep] == pytest.approx(idf[deep] * (1 + np.log(4)), rel=1e-6)


def test_scaled_predictor_on_hostile_and_empty_batches(layer):
    """The prediction path, raw and with TfIdfScaling (n-grams merged into counts), against the dense layer stack,
    on the hostile texts, a batch of only empty texts, and an empty batch (which once killed the process:
    TensorFlow's CSR conversion raises SIGFPE on zero rows)."""
    from mlc.models.scaling import Scaling
    from mlc.models.tf_backend.runtime import tf_keras
    from mlc.models.tf_backend.scaling_ops import make_layer
    from mlc.models.tf_backend.scorer import TfScorer
    from mlc.models.weights import DenseWeights, ModelWeights

    tf, _ = tf_keras()
    vocabulary, idf = vectorizer_state(layer)
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(len(vocabulary), 3)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    for scaling in (None, Scaling(True, True), Scaling(True, False), Scaling(False, True)):
        weights = ModelWeights(layer.get_config(), vocabulary, idf, [DenseWeights(kernel, bias, "linear")], scaling)
        scorer = TfScorer(weights)
        tfidf = layer(tf.constant(HOSTILE))
        expected = (tfidf if scaling is None else make_layer(idf, scaling)(tfidf)).numpy() @ kernel + bias
        np.testing.assert_allclose(scorer.scores(HOSTILE), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(scorer.scores(["", " "]), np.tile(bias, (2, 1)), atol=1e-6)
        assert scorer.probabilities(tf.constant([], tf.string)).numpy().shape == (0, 3)


def test_training_dataset_is_static_complete_and_reshuffled():
    """Training's batches: autotune off (its optimiser thread stalled every epoch's teardown), every
    row once per epoch with its own targets, a new order each epoch when shuffled, the given order when not."""
    from mlc.models.scaling import Scaling
    from mlc.models.tf_backend.mlp import make_vectorizer, training_dataset, vectorize
    from mlc.models.tf_backend.runtime import tf_keras
    from mlc.models.vectorizer import NgramVectorizer

    tf, _ = tf_keras()
    texts = [f"{TRAINING[i % 4]} row{i}" for i in range(40)]
    targets = np.eye(40, dtype=np.float32)  # row i's target marks i: order and pairing are both visible
    vectorizer = make_vectorizer(texts, 200)
    settings, (vocabulary, idf) = vectorizer.get_config(), vectorizer_state(vectorizer)
    expected = dense(SparseTfIdf(settings, vocabulary, idf, Scaling(True, True)), texts, tf)
    features = NgramVectorizer(settings, vocabulary, idf, Scaling(True, True))

    def epoch(data) -> tuple[list[int], np.ndarray]:
        order, rows = [], []
        for x, y in data:
            order += list(np.argmax(y.numpy(), axis=1))
            rows.append(tf.sparse.to_dense(tf.sparse.reorder(x)).numpy())
        return order, np.concatenate(rows)

    shuffled = training_dataset(vectorize(features, texts), features.width, targets, 16, shuffle_seed=3)
    assert shuffled.options().autotune.enabled is False
    (first, x1), (second, x2) = epoch(shuffled), epoch(shuffled)
    assert sorted(first) == sorted(second) == list(range(40)) and first != second
    np.testing.assert_allclose(x1, expected[first], atol=1e-6)
    np.testing.assert_allclose(x2, expected[second], atol=1e-6)
    plain = training_dataset(vectorize(features, texts), features.width, targets, 16, shuffle_seed=None)
    assert plain.options().autotune.enabled is False and epoch(plain)[0] == list(range(40))


def _bigram_vectoriser(vocabulary: list[str], rng: np.random.Generator):
    from mlc.models.scaling import Scaling
    from mlc.models.vectorizer import NgramVectorizer

    settings = {"standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": 2}
    idf = rng.uniform(0.5, 3.0, len(vocabulary)).astype(np.float32)
    return NgramVectorizer(settings, vocabulary, idf, Scaling(sublinear=True, normalize=True))


def _assert_batch_is_its_halves(vectoriser, texts: list[str]):
    """The rows of `texts` in one call equal those of its two halves, each in a call of its own."""
    n = len(texts)
    whole, halves = vectoriser(texts), [vectoriser(texts[: n // 2]), vectoriser(texts[n // 2 :])]
    np.testing.assert_array_equal(
        whole.indptr, np.concatenate([halves[0].indptr, halves[1].indptr[1:] + halves[0].indptr[-1]])
    )
    np.testing.assert_array_equal(whole.columns, np.concatenate([h.columns for h in halves]))
    np.testing.assert_array_equal(whole.values, np.concatenate([h.values for h in halves]))
    return whole


def test_vectoriser_rows_do_not_depend_on_the_width_of_its_sort_keys():
    """A batch whose (row, column) keys reach 2**31 sorts 64-bit keys, a smaller one 32-bit keys: the same rows
    either way (a batch in one call against its two halves, each under the bound)."""
    rng = np.random.default_rng(5)
    vocabulary = ["[UNK]", *(f"w{i}" for i in range(40_000)), *(f"w{i} w{i + 1}" for i in range(30_000))]
    vectoriser = _bigram_vectoriser(vocabulary, rng)
    n = 2**31 // len(vocabulary) + 2
    assert n * len(vocabulary) >= 2**31 > (n - n // 2) * len(vocabulary)
    start = rng.integers(0, 29_990, n)
    whole = _assert_batch_is_its_halves(
        vectoriser, [f"w{s} w{s + 1} w{s + 1} W{s + 2}, unseen w{s} w{s + 1}" for s in start]
    )
    assert whole.columns.max() > 40_000  # bigrams found, not only words


def test_vectoriser_rows_are_the_same_from_its_radix_and_its_key_sort():
    """Where rows and columns fit in 16 bits the (row, column) pairs are ordered by two radix passes, else by one
    key sort: a batch past 2**16 rows against its two halves gives the same rows."""
    rng = np.random.default_rng(7)
    vocabulary = ["[UNK]", *(f"w{i}" for i in range(300)), *(f"w{i} w{i + 1}" for i in range(200))]
    vectoriser = _bigram_vectoriser(vocabulary, rng)
    start = rng.integers(0, 298, (1 << 16) + 10)
    whole = _assert_batch_is_its_halves(
        vectoriser, [f"w{s + 2} w{s} w{s + 1} w{s} w{s + 1} unseen W{s}" for s in start]
    )
    first = whole.rows(0, 1)
    assert list(first.columns) == sorted(first.columns) and len(set(first.columns)) == len(first.columns)
