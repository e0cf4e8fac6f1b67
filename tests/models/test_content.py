"""ContentRecommender: TF-IDF similarities, profiles, cold start and bad ids."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from recsys_course.models.base import NotFittedError
from recsys_course.models.content import ContentRecommender, movie_document, movie_documents


@pytest.fixture()
def model(toy):
    return ContentRecommender().fit(toy.ratings, toy.movies)


def test_documents_hold_title_words_genre_and_decade_tokens(toy):
    docs = movie_documents(toy.movies)
    assert docs[1] == "inception genre_action genre_scifi genre_thriller decade_2010s"
    assert movie_document("Sci-Fi Story", ["Sci-Fi"], None, use_title=False) == "genre_scifi"
    assert movie_document("unknown", ["unknown"], None) == "unknown"


def test_similarities_equal_sklearn_cosine_similarity(model):
    expected = cosine_similarity(model.item_features_)
    np.testing.assert_allclose(model.similarity_matrix(), expected, atol=1e-12)
    top = model.similar_items(1, n=3)
    row = pd.Series(expected[0], index=model.item_ids_).drop(1).sort_values(ascending=False, kind="stable")
    assert top.item_id.tolist() == row.index[:3].tolist()
    np.testing.assert_allclose(top.similarity, row.iloc[:3], atol=1e-12)


def test_a_user_who_rated_one_movie_gets_its_nearest_neighbours_first(toy):
    one = pd.DataFrame({"user_id": [99], "item_id": [7], "rating": [5]})  # Interstellar, 5 stars
    model = ContentRecommender().fit(pd.concat([toy.ratings, one]), toy.movies)
    recs = model.recommend(99, n=4)
    assert recs.item_id.tolist() == model.similar_items(7, n=4).item_id.tolist()
    np.testing.assert_allclose(recs.score, model.similar_items(7, n=4).similarity, atol=1e-12)


def test_profile_is_the_mean_centred_weighted_average(model, toy):
    alice = toy.ratings.query("user_id == 1")
    X = model.item_features_.toarray()
    rows = model.item_ids_.get_indexer(alice.item_id)
    weights = alice.rating.to_numpy(float) - alice.rating.mean()
    expected = (weights[:, None] * X[rows]).sum(axis=0) / len(alice)
    np.testing.assert_allclose(model.profile(1).toarray().ravel(), expected, atol=1e-12)
    heaviest = pd.Series(expected, index=model.terms_).sort_values(ascending=False, kind="stable")
    assert model.profile_terms(1, n=3).index.tolist() == heaviest.index[:3].tolist()


def test_equal_ratings_still_give_a_profile(toy):
    flat = pd.DataFrame({"user_id": [7, 7], "item_id": [1, 8], "rating": [4, 4]})
    model = ContentRecommender().fit(flat, toy.movies)
    assert model.profile(7).nnz > 0 and model.recommend(7, n=2).source.eq("model").all()


def test_a_movie_without_ratings_can_still_be_recommended(toy):
    without = toy.ratings[toy.ratings.item_id != 7]  # nobody has rated Interstellar
    model = ContentRecommender().fit(without, toy.movies)
    assert model.item_popularity_[model.item_ids_.get_loc(7)] == 0 and 7 in model.item_ids_
    assert 7 in model.recommend(1, n=2).item_id.tolist()  # Alice, sci-fi fan


def test_explain_lists_the_largest_products_of_profile_and_movie_weights(model):
    profile = model.profile(1).toarray().ravel()
    products = pd.Series(profile * model.item_features_[model.item_ids_.get_loc(8)].toarray().ravel(),
                         index=model.terms_) / np.linalg.norm(profile)
    expected = products[products > 0].sort_values(ascending=False, kind="stable").iloc[:3]
    terms = model.explain(1, 8, n=3)
    assert terms.index.tolist() == expected.index.tolist()
    np.testing.assert_allclose(terms.to_numpy(), expected.to_numpy(), atol=1e-15)


def test_explain_takes_the_score_apart_exactly(model):
    """Every shared term's contribution, negatives included, adds up to the score (the cosine)."""
    scores = model.score([1]).loc[1]
    for item in model.item_ids_:
        parts = model.explain(1, item, n=None)
        assert parts.sum() == pytest.approx(scores[item], abs=1e-12)
        assert (parts != 0).all() and parts.is_monotonic_decreasing
    # negatives are part of it: user 1 shares disliked terms with 4 of the 8 movies
    assert sum((model.explain(1, item, n=None) < 0).any() for item in model.item_ids_) == 4
    assert (model.explain(1, 8) > 0).all()  # the default lists reasons to recommend only


def test_bad_ids_and_unfitted_use(model, toy):
    with pytest.raises(KeyError, match="unknown item_id 999"):
        model.similar_items(999)
    with pytest.raises(KeyError, match="user_id 42 has no ratings"):
        model.profile(42)
    fallback = model.recommend(42, n=2)
    assert (fallback.source == "popularity: unknown user").all()
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        model.recommend(1, n=0)
    with pytest.raises(NotFittedError):
        ContentRecommender().recommend(1)
    with pytest.raises(ValueError, match="missing from movies"):
        ContentRecommender().fit(pd.DataFrame({"user_id": [1], "item_id": [77], "rating": [3]}), toy.movies)


def test_recommend_from_a_few_ratings_equals_a_refit(toy):
    new = {7: 5, 2: 1}  # loves Interstellar, dislikes The Notebook
    base = ContentRecommender().fit(toy.ratings, toy.movies)
    extra = pd.DataFrame({"user_id": [99, 99], "item_id": list(new), "rating": list(new.values())})
    refit = ContentRecommender().fit(pd.concat([toy.ratings, extra]), toy.movies)
    columns = ["item_id", "score"]
    pd.testing.assert_frame_equal(base.recommend_from(new, n=3)[columns], refit.recommend(99, n=3)[columns])
    with pytest.raises(ValueError, match="rate at least one movie"):
        base.recommend_from({})
    with pytest.raises(KeyError, match="unknown item_id 999"):
        base.recommend_from({999: 4})
