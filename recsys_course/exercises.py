"""Checks for the notebooks' exercises.

An exercise cell calls ``check("01.1", your_function)``. The check runs the
learner's function on the toy data, compares the result with the reference
answer and prints a verdict that says what was expected and what came back,
never a bare ``AssertionError``. Full solutions live in ``notebooks/solutions/``
and the test suite runs every one of them through its check.

>>> from recsys_course.exercises import verify
>>> verify("01.1", lambda ratings: 0.425).passed
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from .data import load_toy, load_toy_genre_weights, rating_matrix

__all__ = ["Verdict", "check", "exercise_ids", "verify"]


@dataclass(frozen=True)
class Exercise:
    title: str
    run: Callable[[Callable], Any]        # calls the learner's function on the toy data
    reference: Callable[[], Any]          # the expected value, computed independently
    compare: Callable[[Any, Any], bool]
    hint: str


@dataclass(frozen=True)
class Verdict:
    """Outcome of a check: ``passed`` and the message shown to the learner."""

    exercise_id: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return self.message


_EXERCISES: dict[str, Exercise] = {}


def exercise(exercise_id: str, title: str, *, run: Callable[[Callable], Any], hint: str,
             compare: Callable[[Any, Any], bool] | None = None):
    """Register the decorated function as the reference answer of ``exercise_id``.

    ``run(f)`` calls the learner's function on the toy data; the reference
    computes the expected value independently; ``compare(got, expected)``
    decides (default: equal to 1e-9); ``hint`` is shown when it is wrong.
    """
    def register(reference: Callable[[], Any]) -> Callable[[], Any]:
        if exercise_id in _EXERCISES:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        _EXERCISES[exercise_id] = Exercise(title, run, reference, compare or _close, hint)
        return reference
    return register


def exercise_ids() -> list[str]:
    """Every exercise that has a check, in notebook order."""
    return sorted(_EXERCISES)


def verify(exercise_id: str, answer: Callable) -> Verdict:
    """Run ``answer`` through the check of ``exercise_id`` and return the verdict."""
    if exercise_id not in _EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(exercise_ids())}")
    ex = _EXERCISES[exercise_id]
    head = f"Exercise {exercise_id} ({ex.title})"
    if not callable(answer):
        return Verdict(exercise_id, False, f"{head}: pass your function itself, not {type(answer).__name__}.")
    try:
        got = ex.run(answer)
    except NotImplementedError:
        return Verdict(exercise_id, False, f"{head}: not attempted yet. Replace `raise NotImplementedError` "
                                           "with your code and run this cell again.")
    except Exception as exc:  # a learner's bug: report it instead of a traceback
        return Verdict(exercise_id, False, f"{head}: your function raised {type(exc).__name__}: {exc}")
    expected = ex.reference()
    if ex.compare(got, expected):
        return Verdict(exercise_id, True, f"{head}: correct! On the toy data you got {_show(got)}.")
    return Verdict(exercise_id, False, f"{head}: not yet.\n  expected: {_show(expected)}\n"
                                       f"  got:      {_show(got)}\n  hint: {ex.hint}")


def check(exercise_id: str, answer: Callable) -> None:
    """Print the verdict for a learner's answer (what an exercise cell calls)."""
    print(verify(exercise_id, answer))


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (pd.Series, pd.DataFrame)):
        return "\n    " + value.to_string().replace("\n", "\n    ")
    if isinstance(value, (list, tuple)):
        return repr(_rounded(value))
    return repr(value)


def _rounded(value: Any) -> Any:
    """Floats inside (nested) lists rounded to 4 decimals, so a verdict never prints 3.4000000000000004."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded(v) for v in value)
    return value


def _close(got: Any, expected: float) -> bool:
    try:
        return bool(np.isclose(float(got), expected, rtol=0, atol=1e-9))
    except (TypeError, ValueError):
        return False


def _close_lists(got: Any, expected: list) -> bool:
    try:
        return len(got) == len(expected) and bool(np.allclose(np.asarray(got, float), expected, atol=1e-9))
    except (TypeError, ValueError):
        return False


def _close_nested(got: Any, expected: list) -> bool:
    try:
        return bool(np.allclose(np.asarray(got, float), np.asarray(expected, float), atol=1e-9))
    except (TypeError, ValueError):
        return False


def _same_pairs(got: Any, expected: set) -> bool:
    if not isinstance(got, pd.DataFrame) or not {"user_id", "item_id"} <= set(got.columns):
        return False
    return set(zip(got["user_id"], got["item_id"])) == expected and not got.duplicated(["user_id", "item_id"]).any()


# ------------------------------------------------------------------ notebook 01

def _toy_ratings() -> pd.DataFrame:
    return load_toy().ratings


@exercise("01.1", "sparsity",
          run=lambda f: f(_toy_ratings()),
          hint="sparsity = 1 - (known cells) / (users x items); count users and items that appear in the ratings.")
def _ref_sparsity() -> float:
    # independent of pandas: count distinct cells by hand
    ratings = _toy_ratings()
    cells = {(u, i) for u, i in zip(ratings["user_id"], ratings["item_id"])}
    n_users = len(set(ratings["user_id"]))
    n_items = len(set(ratings["item_id"]))
    return 1 - len(cells) / (n_users * n_items)


@exercise("01.2", "share of ratings on the most popular movies",
          run=lambda f: f(_toy_ratings(), 0.25),
          hint="count ratings per movie, sort descending, keep the first ceil(fraction x movies) and divide "
               "their sum by all ratings.")
def _ref_top_share() -> float:
    ratings = _toy_ratings()
    counts = sorted(ratings["item_id"].value_counts().tolist(), reverse=True)
    top = int(np.ceil(0.25 * len(counts)))
    return sum(counts[:top]) / sum(counts)


@exercise("01.3", "explicit to implicit feedback",
          run=lambda f: f(_toy_ratings(), 4),
          compare=_same_pairs,
          hint="keep the rows whose rating is >= threshold, with their user_id and item_id columns.")
def _ref_implicit() -> set:
    ratings = _toy_ratings()
    return {(u, i) for u, i, r in zip(ratings["user_id"], ratings["item_id"], ratings["rating"]) if r >= 4}


def _toy_csr():
    from .data import rating_matrix

    return rating_matrix(_toy_ratings())


def _close_flat(got: Any, expected: list) -> bool:
    try:  # a (n, 1) np.matrix from a sparse sum is as good as a flat array
        return _close_lists(np.asarray(got, float).ravel(), expected)
    except (TypeError, ValueError):
        return False


@exercise("01.4", "find the bug: each user's mean rating",
          run=lambda f: f(_toy_csr()),
          compare=_close_flat,
          hint="compare each user's result with the average of the ratings that user actually gave: "
               "a cell nobody filled in is not a rating.")
def _ref_user_means() -> list:
    # one mean per user in row order (sorted user ids), from the rating rows themselves, no matrix
    ratings = _toy_ratings()
    means = []
    for user in sorted(set(ratings["user_id"])):
        given = [r for u, r in zip(ratings["user_id"], ratings["rating"]) if u == user]
        means.append(sum(given) / len(given))
    return means


@exercise("01.5", "popularity in the last days of the data",
          run=lambda f: list(f(_toy_ratings(), 14)),
          compare=_close_lists,
          hint="keep the ratings whose timestamp is later than (latest timestamp - days), count them per "
               "movie, and sort: most ratings first, ties by the smaller item_id.")
def _ref_popular_recently() -> list:
    ratings = _toy_ratings()
    since = max(ratings["timestamp"]) - pd.Timedelta(days=14)
    counts: dict = {}
    for item, when in zip(ratings["item_id"], ratings["timestamp"]):
        if when > since:
            counts[item] = counts.get(item, 0) + 1
    return sorted(counts, key=lambda item: (-counts[item], item))


# ------------------------------------------------------------------ notebook 02

def _toy_matrix() -> pd.DataFrame:
    """Toy ratings as a users x movies frame with NaN for unknown cells (ids as labels)."""
    return _toy_ratings().pivot(index="user_id", columns="item_id", values="rating")


def _corated(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    both = a.notna() & b.notna()
    return a[both].to_numpy(float), b[both].to_numpy(float)


def _all_pairs(f: Callable) -> list:
    R = _toy_matrix()
    return [f(R.loc[x], R.loc[y]) for x in R.index for y in R.index if x < y]


@exercise("02.1", "cosine similarity over co-rated items",
          run=lambda f: _all_pairs(lambda a, b: float(f(a, b))),
          compare=_close_lists,
          hint="keep the items both users rated (a.notna() & b.notna()), then sum(a*b) / sqrt(sum(a^2) * sum(b^2)); "
               "return 0.0 when they share no item.")
def _ref_cosine_pairs() -> list:
    out = []
    for a, b in _all_pairs(_corated):
        den = np.sqrt((a**2).sum() * (b**2).sum())
        out.append(float(a @ b / den) if len(a) else 0.0)
    return out


@exercise("02.2", "Pearson correlation over co-rated items",
          run=lambda f: _all_pairs(lambda a, b: float(f(a, b))),
          compare=_close_lists,
          hint="centre each user's co-rated ratings on their mean over those same items, then take the cosine; "
               "return 0.0 when either centred vector is all zeros.")
def _ref_pearson_pairs() -> list:
    out = []
    for a, b in _all_pairs(_corated):
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a**2).sum() * (b**2).sum())
        out.append(float(a @ b / den) if len(a) and den > 0 else 0.0)
    return out


_PREDICT_CELLS = [(1, 3), (1, 5), (1, 8), (3, 4), (4, 1), (5, 7)]


def _run_predict(f: Callable) -> list:
    R = _toy_matrix()
    sim = pd.DataFrame(_ref_pearson_matrix(), index=R.index, columns=R.index)
    return [float(f(R, sim, u, i, 2)) for u, i in _PREDICT_CELLS]


def _ref_pearson_matrix() -> np.ndarray:
    R = _toy_matrix()
    pairs = iter(_ref_pearson_pairs())
    S = np.eye(len(R))
    for a in range(len(R)):
        for b in range(a + 1, len(R)):
            S[a, b] = S[b, a] = next(pairs)
    return S


@exercise("02.3", "mean-centred k-NN prediction",
          run=_run_predict,
          compare=_close_lists,
          hint="among users who rated the item, take the k most similar (ties: the first listed), drop those with "
               "similarity <= 0, then mean_u + sum(s * (r_vi - mean_v)) / sum(s); with no neighbour left, mean_u.")
def _ref_predict() -> list:
    R = _toy_matrix()
    S = pd.DataFrame(_ref_pearson_matrix(), index=R.index, columns=R.index)
    out = []
    for u, i in _PREDICT_CELLS:
        raters = R.index[R[i].notna()]
        sims = S.loc[u, raters].sort_values(ascending=False, kind="stable").iloc[:2]
        sims = sims[sims > 0]
        mean_u = R.loc[u].mean()
        if sims.empty:
            out.append(float(mean_u))
            continue
        deviations = np.array([R.loc[v, i] - R.loc[v].mean() for v in sims.index])
        out.append(float(mean_u + (sims.to_numpy() @ deviations) / sims.sum()))
    return out



def _unknown_cells() -> list:
    R = _toy_matrix()
    return [(u, i) for u in R.index for i in R.columns if np.isnan(R.loc[u, i])]


def _run_predict_signed(f: Callable) -> list:
    R = _toy_matrix()
    sim = pd.DataFrame(_ref_pearson_matrix(), index=R.index, columns=R.index)
    return [float(f(R, sim, u, i, 2)) for u, i in _unknown_cells()]


@exercise("02.4", "k-NN prediction with negative similarities",
          run=_run_predict_signed,
          compare=_close_lists,
          hint="look at a cell where the only neighbour has a negative similarity (Alice and Titanic: Carol, -1): "
               "should a neighbour who disagrees pull the prediction up or down, and does the function do that?")
def _ref_predict_signed() -> list:
    R = _toy_matrix()
    S = _ref_pearson_matrix()
    users = list(R.index)
    out = []
    for u, i in _unknown_cells():
        a = users.index(u)
        raters = [b for b, v in enumerate(users) if not np.isnan(R.loc[v, i])]
        raters.sort(key=lambda b: -abs(S[a, b]))        # stable: ties keep the row order
        chosen = [b for b in raters[:2] if S[a, b] != 0]
        mean_u = float(np.nanmean(R.loc[u].to_numpy(float)))
        num = sum(S[a, b] * (R.loc[users[b], i] - np.nanmean(R.loc[users[b]].to_numpy(float))) for b in chosen)
        den = sum(abs(S[a, b]) for b in chosen)
        out.append(float(mean_u + num / den) if chosen else mean_u)
    return out


def _run_significance(f: Callable) -> list:
    R = _toy_matrix()
    sim = pd.DataFrame(_ref_pearson_matrix(), index=R.index, columns=R.index)
    return np.asarray(f(R, sim, 3), dtype=float).tolist()


@exercise("02.5", "significance weighting",
          run=_run_significance,
          compare=_close_nested,
          hint="count the movies each pair of users both rated (R.notna() as 0/1, times its transpose), "
               "then multiply each similarity by min(count, cutoff) / cutoff.")
def _ref_significance() -> list:
    R = _toy_matrix()
    S = _ref_pearson_matrix()
    known = ~np.isnan(R.to_numpy(float))
    out = np.empty_like(S)
    for a in range(len(R)):
        for b in range(len(R)):
            n = int((known[a] & known[b]).sum())
            out[a, b] = S[a, b] * min(n, 3) / 3
    return out.tolist()


# ------------------------------------------------------------------ notebook 04

def _toy_weights() -> pd.DataFrame:
    titles = load_toy().movies.set_index("item_id")["title"]
    return load_toy_genre_weights().rename(index=titles)


@exercise("04.1", "most similar movies by genre weights",
          run=lambda f: [list(f(_toy_weights(), title, 3)) for title in ("Inception", "Frozen", "Titanic")],
          compare=lambda got, expected: got == expected,
          hint="cosine of the movie's row with every other row (divide the dot product by both norms), "
               "drop the movie itself, return the titles of the n largest.")
def _ref_most_similar() -> list:
    V = _toy_weights()
    out = []
    for title in ("Inception", "Frozen", "Titanic"):
        x = V.loc[title].to_numpy(float)
        sims = {t: float(x @ V.loc[t].to_numpy(float) / (np.linalg.norm(x) * np.linalg.norm(V.loc[t])))
                for t in V.index if t != title}
        out.append(sorted(sims, key=lambda t: -sims[t])[:3])
    return out


_IDF_TERMS = ("genre_drama", "genre_scifi", "inception", "decade_2010s")


def _toy_documents() -> list:
    movies = load_toy().movies
    from .models.content import movie_documents

    return movie_documents(movies).tolist()


@exercise("04.2", "smoothed inverse document frequency",
          run=lambda f: [float(f(_toy_documents(), term)) for term in _IDF_TERMS],
          compare=_close_lists,
          hint="df = number of documents whose words include the term; idf = ln((1 + n) / (1 + df)) + 1.")
def _ref_idf() -> list:
    docs = [set(d.split()) for d in _toy_documents()]
    n = len(docs)
    return [float(np.log((1 + n) / (1 + sum(term in d for d in docs))) + 1) for term in _IDF_TERMS]


def _run_profiles(f: Callable) -> list:
    V = _toy_weights()
    R = _toy_matrix().rename(columns=load_toy().movies.set_index("item_id")["title"])
    return [np.asarray(pd.Series(f(R.loc[user].dropna(), V)).reindex(V.columns), float).tolist() for user in (1, 3)]


@exercise("04.3", "mean-centred user profile",
          run=_run_profiles,
          compare=_close_nested,
          hint="weight each rated movie's vector by (rating - the user's mean rating), sum, and divide by the "
               "number of rated movies.")
def _ref_profiles() -> list:
    V = _toy_weights()
    R = _toy_matrix().rename(columns=load_toy().movies.set_index("item_id")["title"])
    out = []
    for user in (1, 3):
        rated = R.loc[user].dropna()
        w = rated - rated.mean()
        out.append((V.loc[rated.index].mul(w, axis=0).sum() / len(rated)).to_numpy().tolist())
    return out



def _same_ranking(got: Any, expected: pd.Series) -> bool:
    if not isinstance(got, pd.Series) or list(got.index) != list(expected.index):
        return False
    try:
        return bool(np.allclose(got.to_numpy(float), expected.to_numpy(float), rtol=0, atol=1e-9))
    except (TypeError, ValueError):
        return False


@exercise("04.4", "find the bug: rank movies by cosine with a profile",
          run=lambda f: f(_toy_weights().loc["Inception"], _toy_weights()),
          compare=_same_ranking,
          hint="a cosine is at most 1, and a movie compared with itself scores exactly 1; compare the lengths "
               "(np.linalg.norm) of a few rows of the vectors and ask what the formula does with them.")
def _ref_cosine_ranking() -> pd.Series:
    V = _toy_weights()
    p = [float(v) for v in V.loc["Inception"]]
    cosines = {}
    for title, row in V.iterrows():
        x = [float(v) for v in row]
        dot = sum(a * b for a, b in zip(x, p))
        cosines[title] = dot / (sum(a * a for a in x) ** 0.5 * sum(b * b for b in p) ** 0.5)
    order = sorted(cosines, key=lambda t: -cosines[t])
    return pd.Series([cosines[t] for t in order], index=pd.Index(order, name=V.index.name))


def _toy_counts_without_one() -> pd.Series:
    """Ratings per toy movie, one movie left out (it must get popularity_0, like a new movie)."""
    counts = load_toy().ratings.groupby("item_id").size()
    return counts.drop(counts.index[-1])


def _run_popularity_token(f: Callable) -> list:
    from .models.content import movie_documents

    return list(f(movie_documents(load_toy().movies), _toy_counts_without_one()))


@exercise("04.5", "extend: a popularity token in each movie's document",
          run=_run_popularity_token,
          compare=lambda got, expected: got == expected,
          hint="n = the movie's count, 0 when the movie is not in counts (reindex with fill_value=0); append "
               "' popularity_' + str(int(floor(log2(1 + n)))) to its document, keeping the documents' order.")
def _ref_popularity_token() -> list:
    import math

    movies = load_toy().movies
    counts = _toy_counts_without_one().to_dict()
    return [f"{doc} popularity_{math.floor(math.log2(1 + counts.get(item, 0)))}"
            for item, doc in zip(movies["item_id"], _toy_documents())]

# ------------------------------------------------------------------ notebook 05

_AGES = (7, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73)


@exercise("05.1", "age bands",
          run=lambda f: [f(age) for age in _AGES],
          compare=lambda got, expected: list(got) == expected,
          hint='bands are "<18", "18-24", "25-34", "35-44", "45-49", "50-55" and "56+", both ends included.')
def _ref_age_bands() -> list:
    bands = []
    for age in _AGES:
        edges = [(17, "<18"), (24, "18-24"), (34, "25-34"), (44, "35-44"), (49, "45-49"), (55, "50-55")]
        bands.append(next((name for top, name in edges if age <= top), "56+"))
    return bands


@exercise("05.2", "item features for LightFM",
          run=lambda f: {int(k): list(v) for k, v in f(load_toy().movies).items()},
          compare=lambda got, expected: got == expected,
          hint='one "genre:<name>" per genre, in the order listed, then "decade:<year // 10 * 10>s".')
def _ref_item_features() -> dict:
    movies = load_toy().movies
    return {int(i): [f"genre:{g}" for g in gs] + [f"decade:{int(y) // 10 * 10}s"]
            for i, gs, y in zip(movies["item_id"], movies["genres"], movies["year"])}


def _lightfm_case():
    """A tiny LightFM-like model: 4 user features, 5 item features, 3 dimensions (seeded)."""
    rng = np.random.default_rng(5)
    return {
        "user_weights": np.array([0.5, 0.0, 0.25, 0.25]),
        "item_weights": np.array([0.0, 1 / 3, 1 / 3, 0.0, 1 / 3]),
        "user_embeddings": rng.normal(size=(4, 3)), "item_embeddings": rng.normal(size=(5, 3)),
        "user_biases": rng.normal(size=4), "item_biases": rng.normal(size=5),
    }


@exercise("05.3", "a LightFM score by hand",
          run=lambda f: f(**_lightfm_case()),
          hint="user vector = user_weights @ user_embeddings, item vector likewise; "
               "score = their dot product + user_weights @ user_biases + item_weights @ item_biases.")
def _ref_lightfm_score() -> float:
    c = _lightfm_case()
    user = c["user_weights"] @ c["user_embeddings"]
    item = c["item_weights"] @ c["item_embeddings"]
    return float(user @ item + c["user_weights"] @ c["user_biases"] + c["item_weights"] @ c["item_biases"])


def _lightfm_rows_case():
    """The case of 05.3 as LightFM holds it: sparse feature rows and a model with the four parameter arrays."""
    from types import SimpleNamespace

    from scipy import sparse

    c = _lightfm_case()
    return {"user_row": sparse.csr_matrix(c["user_weights"]), "item_row": sparse.csr_matrix(c["item_weights"]),
            "model": SimpleNamespace(user_embeddings=c["user_embeddings"], item_embeddings=c["item_embeddings"],
                                     user_biases=c["user_biases"], item_biases=c["item_biases"])}


@exercise("05.4", "find the bug: a score from sparse feature rows",
          run=lambda f: f(**_lightfm_rows_case()),
          hint="the user row and the item row select different features: read each of the four lines and ask "
               "which row's columns and weights it should use.")
def _ref_score_from_rows() -> float:
    c = _lightfm_case()  # dense weights: zero weights drop out by themselves
    user = sum(w * e for w, e in zip(c["user_weights"], c["user_embeddings"]))
    item = sum(w * e for w, e in zip(c["item_weights"], c["item_embeddings"]))
    bias = sum(w * b for w, b in zip(c["user_weights"], c["user_biases"])) + \
        sum(w * b for w, b in zip(c["item_weights"], c["item_biases"]))
    return float(np.dot(user, item) + bias)


#: Five users in MovieLens-100k's layout (zip codes as text: some are Canadian).
_REGION_USERS = pd.DataFrame({"user_id": [1, 2, 3, 4, 5], "age": [24, 53, 17, 61, 30],
                              "gender": ["M", "F", "M", "F", "M"],
                              "occupation": ["technician", "other", "student", "retired", "writer"],
                              "zip_code": ["85711", "94043", "T8H1N", "01002", "55105"]})


@exercise("05.5", "extend: a region feature for users",
          run=lambda f: {int(k): list(v) for k, v in f(_REGION_USERS.copy()).items()},
          compare=lambda got, expected: got == expected,
          hint='the three features of section 2 ("age:<band>", "gender:<g>", "occupation:<o>"), then '
               '"zip:<first character of the zip code>", for every user.')
def _ref_region_features() -> dict:
    bands = [(17, "<18"), (24, "18-24"), (34, "25-34"), (44, "35-44"), (49, "45-49"), (55, "50-55"), (200, "56+")]
    out = {}
    for row in _REGION_USERS.itertuples():
        band = next(name for top, name in bands if row.age <= top)
        out[row.user_id] = [f"age:{band}", f"gender:{row.gender}", f"occupation:{row.occupation}",
                            f"zip:{row.zip_code[0]}"]
    return out


# ------------------------------------------------------------------ notebook 06

_RANKS = (1, 2, 3, 10, 11, 50)


@exercise("06.1", "NDCG@10 of a single held-out item",
          run=lambda f: [float(f(r)) for r in _RANKS],
          compare=_close_lists,
          hint="with one relevant item the ideal DCG is 1, so NDCG@10 = 1 / log2(rank + 1) if rank <= 10, else 0.")
def _ref_ndcg_single() -> list:
    return [1 / np.log2(r + 1) if r <= 10 else 0.0 for r in _RANKS]


def _rank_cases() -> list:
    rng = np.random.default_rng(6)
    cases = []
    for _ in range(5):
        scores = rng.integers(0, 20, 30).astype(float)
        items = rng.permutation(30)
        cases.append((scores, int(items[0]), items[1:11]))
    return cases


@exercise("06.2", "rank of the positive among sampled negatives",
          run=lambda f: [int(f(scores, pos, negs)) for scores, pos, negs in _rank_cases()],
          compare=lambda got, expected: list(got) == expected,
          hint="rank = 1 + the number of sampled negatives that score at least as high as the positive "
               "(a tie is not a win: it counts against the positive).")
def _ref_sampled_rank() -> list:
    return [int(1 + sum(scores[n] >= scores[pos] for n in negs)) for scores, pos, negs in _rank_cases()]


_MLP_SHAPES = ((5, 8, 4, (8, 4)), (943, 1682, 32, (64, 32, 16)), (10, 10, 2, (3,)))


@exercise("06.3", "parameters of the MLP model",
          run=lambda f: [int(f(u, i, d, layers)) for u, i, d, layers in _MLP_SHAPES],
          compare=lambda got, expected: list(got) == expected,
          hint="two embedding tables (n x dim each); every Linear(a, b) has a*b weights and b biases; "
               "the tower starts at 2*dim inputs and ends in a Linear(last, 1).")
def _ref_mlp_parameters() -> list:
    from .models.ncf import MLP

    return [sum(p.numel() for p in MLP(u, i, dim=d, layers=layers).parameters()) for u, i, d, layers in _MLP_SHAPES]


# a user who interacted with 17 of 20 items: only items 3, 11 and 19 are negatives
_NEG_POSITIVES = np.setdiff1d(np.arange(20), [3, 11, 19])


def _run_negatives(f: Callable) -> list:
    items = np.asarray(f(_NEG_POSITIVES.copy(), 20, 600, np.random.default_rng(6)))
    return [len(items), int(np.isin(items, _NEG_POSITIVES).sum()), sorted({int(i) for i in items})]


@exercise("06.4", "negatives that are never the user's positives",
          run=_run_negatives,
          compare=lambda got, expected: got == expected,
          hint="[how many items came back, how many of them are the user's positives, which items were drawn]. "
               "Follow one draw that lands on a positive through the function: what does it become, and is "
               "anything checked after that?")
def _ref_negatives() -> list:
    return [600, 0, [3, 11, 19]]


_POP_COUNTS = np.array([50, 0, 7, 20, 3, 1, 90, 12])
_POP_POSITIVES = np.array([0, 4])
_POP_DRAWS = 40_000


def _run_popularity_negatives(f: Callable) -> list:
    items = np.asarray(f(_POP_POSITIVES.copy(), _POP_COUNTS.copy(), _POP_DRAWS, np.random.default_rng(6), alpha=0.75))
    if items.shape != (_POP_DRAWS,):
        raise ValueError(f"expected {_POP_DRAWS} items, got an array of shape {items.shape}")
    return [round(float(c) / _POP_DRAWS, 4) for c in np.bincount(items.astype(int), minlength=len(_POP_COUNTS))]


@exercise("06.5", "popularity-aware negative sampling",
          run=_run_popularity_negatives,
          compare=lambda got, expected: len(got) == len(expected) and bool(np.allclose(got, expected, atol=0.01)),
          hint="the share of draws of each item (checked to 0.01 over 40,000 draws): an item the user interacted "
               "with is never drawn, every other item j in proportion to (1 + counts[j]) ** alpha; "
               "rng.choice takes the probabilities as p=.")
def _ref_popularity_negatives() -> list:
    weights = [0.0 if j in set(_POP_POSITIVES.tolist()) else (1 + c) ** 0.75 for j, c in enumerate(_POP_COUNTS)]
    return [round(w / sum(weights), 4) for w in weights]


# ------------------------------------------------------------------ notebook 03

def _sgd_case() -> dict:
    rng = np.random.default_rng(3)
    return {"r": 4.0, "mu": 3.5, "b_u": 0.2, "b_i": -0.1, "p_u": rng.normal(0, 0.1, 3),
            "q_i": rng.normal(0, 0.1, 3), "lr": 0.05, "reg": 0.02}


def _run_sgd_step(f: Callable) -> list:
    b_u, b_i, p_u, q_i = f(**_sgd_case())
    return [float(b_u), float(b_i), *np.asarray(p_u, float), *np.asarray(q_i, float)]


@exercise("03.1", "one SGD step of biased MF",
          run=_run_sgd_step,
          compare=_close_lists,
          hint="err = r - (mu + b_u + b_i + p_u . q_i); move every parameter by lr * (its gradient part "
               "- reg * itself), using the *old* p_u when updating q_i.")
def _ref_sgd_step() -> list:
    c = _sgd_case()
    err = c["r"] - (c["mu"] + c["b_u"] + c["b_i"] + c["p_u"] @ c["q_i"])
    b_u = c["b_u"] + c["lr"] * (err - c["reg"] * c["b_u"])
    b_i = c["b_i"] + c["lr"] * (err - c["reg"] * c["b_i"])
    p_u = c["p_u"] + c["lr"] * (err * c["q_i"] - c["reg"] * c["p_u"])
    q_i = c["q_i"] + c["lr"] * (err * c["p_u"] - c["reg"] * c["q_i"])
    return [b_u, b_i, *p_u, *q_i]


def _ridge_case() -> tuple:
    rng = np.random.default_rng(4)
    return rng.normal(size=(6, 3)), rng.normal(size=6), 0.5


@exercise("03.2", "the ALS update of one user",
          run=lambda f: [float(x) for x in f(*_ridge_case())],
          compare=_close_lists,
          hint="solve (Q^T Q + reg * I) p = Q^T residuals, with Q the factors of the items the user rated.")
def _ref_ridge() -> list:
    Q, resid, reg = _ridge_case()
    A = sum(np.outer(q, q) for q in Q) + reg * np.eye(3)
    return list(np.linalg.solve(A, sum(r * q for r, q in zip(resid, Q))))


def _blend_case() -> tuple:
    rng = np.random.default_rng(5)
    truth = rng.integers(1, 6, 50).astype(float)
    return np.column_stack([truth + rng.normal(0, s, 50) for s in (0.5, 0.8, 1.0)]), truth


@exercise("03.3", "linear blend weights",
          run=lambda f: [float(x) for x in f(*_blend_case())],
          compare=_close_lists,
          hint="least squares of y on [1, X]: add a column of ones, then np.linalg.lstsq (or solve the normal "
               "equations).")
def _ref_blend() -> list:
    X, y = _blend_case()
    A = np.column_stack([np.ones(len(X)), X])
    return list(np.linalg.solve(A.T @ A, A.T @ y))


def _sgd_epoch_case() -> dict:
    """The toy ratings in the order given, positions by first appearance, and a seeded start."""
    ratings = _toy_ratings()
    u_idx, u_ids = pd.factorize(ratings["user_id"])
    i_idx, i_ids = pd.factorize(ratings["item_id"])
    rng = np.random.RandomState(0)
    P, Q = rng.normal(0, 0.1, (len(u_ids), 2)), rng.normal(0, 0.1, (len(i_ids), 2))
    r = ratings["rating"].to_numpy(float)
    return {"u_idx": u_idx, "i_idx": i_idx, "r": r, "mu": float(r.mean()), "b_u": np.zeros(len(u_ids)),
            "b_i": np.zeros(len(i_ids)), "P": P, "Q": Q, "lr": 0.05, "reg": 0.5, "items": i_ids}


def _sgd_epoch_summary(c: dict, b_i, b_u, P, Q) -> pd.Series:
    """Item biases by title, then the training RMSE (which every parameter moves)."""
    titles = load_toy().movies.set_index("item_id")["title"]
    b_i, b_u, P, Q = (np.asarray(x, float) for x in (b_i, b_u, P, Q))
    pred = c["mu"] + b_u[c["u_idx"]] + b_i[c["i_idx"]] + np.einsum("ij,ij->i", P[c["u_idx"]], Q[c["i_idx"]])
    out = pd.Series(b_i, index=[f"b_i {titles[i]}" for i in c["items"]])
    out["training RMSE"] = float(np.sqrt(np.mean((c["r"] - pred) ** 2)))
    return out


def _run_sgd_epoch(f: Callable) -> pd.Series:
    c = _sgd_epoch_case()
    args = {k: c[k] for k in ("u_idx", "i_idx", "r", "mu", "b_u", "b_i", "P", "Q", "lr", "reg")}
    for _ in range(10):  # ten epochs, so that a missing term has time to show
        b_u, b_i, P, Q = f(**args)
        args.update(b_u=np.asarray(b_u, float), b_i=np.asarray(b_i, float), P=np.asarray(P, float),
                    Q=np.asarray(Q, float))
    return _sgd_epoch_summary(c, args["b_i"], args["b_u"], args["P"], args["Q"])


def _close_series(got: Any, expected: pd.Series) -> bool:
    try:
        got = pd.Series(got) if isinstance(got, dict) else got
        if not isinstance(got, pd.Series) or set(got.index) != set(expected.index):
            return False
        return bool(np.allclose(got.reindex(expected.index).to_numpy(float), expected.to_numpy(float),
                                rtol=0, atol=1e-8))
    except (TypeError, ValueError):
        return False


@exercise("03.4", "find the bug in one SGD epoch",
          run=_run_sgd_epoch,
          compare=_close_series,
          hint="look at which numbers above differ most. Write the gradient of J for each parameter and "
               "compare it, term by term, with that parameter's update line.")
def _ref_sgd_epoch() -> pd.Series:
    # the package's compiled loop, written independently of the learner's function
    from .models.kernels import sgd_epochs

    c = _sgd_epoch_case()
    b_u, b_i, P, Q = c["b_u"].copy(), c["b_i"].copy(), c["P"].copy(), c["Q"].copy()
    sgd_epochs(c["u_idx"].astype(np.int64), c["i_idx"].astype(np.int64), c["r"], c["mu"], b_u, b_i, P, Q,
               c["lr"], c["reg"], c["lr"], c["reg"], 10)
    return _sgd_epoch_summary(c, b_i, b_u, P, Q)


def _session_case() -> dict:
    ratings = _toy_ratings()
    months = pd.to_datetime(ratings["timestamp"]).dt.month.to_numpy()
    residuals = np.random.default_rng(6).normal(0, 0.5, len(ratings)).round(2)
    return {"user_ids": ratings["user_id"], "bins": months, "residuals": residuals, "shrink": 2.0}


@exercise("03.5", "a user bias per time bin",
          run=lambda f: f(**_session_case()),
          compare=_close_series,
          hint="group the residuals by (user_id, bin) and return sum / (count + shrink) as a Series indexed by "
               "(user_id, bin); shrink goes in the denominator only.")
def _ref_session_bias() -> pd.Series:
    c = _session_case()
    sums: dict = {}
    counts: dict = {}
    for u, b, e in zip(c["user_ids"], c["bins"], c["residuals"]):
        sums[(u, b)] = sums.get((u, b), 0.0) + e
        counts[(u, b)] = counts.get((u, b), 0) + 1
    keys = sorted(sums)
    return pd.Series([sums[k] / (counts[k] + c["shrink"]) for k in keys],
                     index=pd.MultiIndex.from_tuples(keys, names=["user_id", "bin"]))


# ------------------------------------------------------------------ notebook 07

_AP_CASES = (
    ([3, 4, 5, 7, 8], {1, 4, 7}, 5),          # the notebook's worked example
    ([1, 2, 3], {1, 2, 3}, 3),                # perfect
    ([5, 6, 7, 8], {1, 2}, 4),                # no hit
    ([1, 9, 2, 9.5, 3], {1, 2, 3, 4, 5, 6}, 5),  # more relevant items than k
    ([2, 1], {1}, 10),                        # list shorter than k
)


@exercise("07.1", "average precision at k",
          run=lambda f: [float(f(list(rec), set(rel), k)) for rec, rel, k in _AP_CASES],
          compare=_close_lists,
          hint="walk down the first k items; at each hit add (hits so far / position); divide by min(number "
               "relevant, k).")
def _ref_average_precision() -> list:
    # written from the definition, independently of recsys_course.metrics
    out = []
    for recommended, relevant, k in _AP_CASES:
        hits, total = 0, 0.0
        for position, item in enumerate(recommended[:k], start=1):
            if item in relevant:
                hits += 1
                total += hits / position
        out.append(total / min(len(relevant), k))
    return out


def _mmr_cases() -> list:
    rng = np.random.default_rng(7)
    cases = []
    for lam in (1.0, 0.7, 0.3, 0.0):
        relevance = np.round(rng.random(6), 2)
        X = rng.integers(0, 2, (6, 4)).astype(float) + np.eye(6, 4)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        cases.append((relevance, X @ X.T, [int(np.argmax(relevance))], lam))
    return cases


@exercise("07.2", "the next item maximal marginal relevance picks",
          run=lambda f: [int(f(rel, sim, list(chosen), lam)) for rel, sim, chosen, lam in _mmr_cases()],
          compare=lambda got, expected: list(got) == expected,
          hint="for every item not chosen yet: lam * relevance - (1 - lam) * (its largest similarity to a "
               "chosen item); "
               "take the best, the first one on ties.")
def _ref_mmr_next() -> list:
    out = []
    for relevance, similarity, chosen, lam in _mmr_cases():
        best, best_value = None, -np.inf
        for i in range(len(relevance)):
            if i in chosen:
                continue
            value = lam * relevance[i] - (1 - lam) * max(similarity[i][j] for j in chosen)
            if value > best_value:
                best, best_value = i, value
        out.append(best)
    return out


_AB_CASES = ((0.05, 0.10), (0.04, 0.05), (0.20, -0.03), (0.01, 0.5))


@exercise("07.3", "users per arm for an A/B test",
          run=lambda f: [int(f(p, lift)) for p, lift in _AB_CASES],
          compare=lambda got, expected: list(got) == expected,
          hint="p2 = p1 * (1 + lift); n = (z_{0.975} sqrt(2 pbar (1 - pbar)) + z_{0.8} sqrt(p1 q1 + p2 q2))^2 "
               "/ (p2 - p1)^2, "
               "rounded up (scipy.stats.norm.ppf gives the z values).")
def _ref_sample_size() -> list:
    from .abtest import sample_size

    return [sample_size(p, lift) for p, lift in _AB_CASES]


_NDCG_CASES = (
    ([3, 4, 5, 7, 8], {1, 4, 7}, 5),             # the notebook's worked example: 0.4982
    ([1, 2, 3], {1, 2, 3}, 3),                   # perfect list
    ([9, 1, 2], {1, 2, 3, 4, 5, 6, 7}, 3),       # more relevant items than k
    ([1, 9, 9.5, 2], {1, 2, 3, 4, 5}, 2),        # more relevant items than k, hits beyond k
    ([5, 6], {1}, 10),                           # no hit, list shorter than k
)


@exercise("07.4", "find the bug: NDCG at k",
          run=lambda f: [float(f(list(rec), set(rel), k)) for rec, rel, k in _NDCG_CASES],
          compare=_close_lists,
          hint="a perfect list of k items must score exactly 1, even for a user with more than k relevant "
               "items: which positions can the ideal list fill?")
def _ref_ndcg() -> list:
    # from the definition: DCG over the first k positions, divided by the DCG of the best possible top k
    out = []
    for recommended, relevant, k in _NDCG_CASES:
        discounts = 1 / np.log2(np.arange(2, k + 2))
        hits = np.array([item in relevant for item in recommended[:k]], dtype=float)
        out.append(float(hits @ discounts[:len(hits)] / discounts[:min(len(relevant), k)].sum()))
    return out


_GINI_CASES = (
    ({1: [1, 2], 2: [2, 1], 3: [1, 2]}, [1, 2]),          # every item shown equally often: 0
    ({1: [1, 2], 2: [1, 2]}, [1, 2, 3, 4]),               # half the catalogue never shown: 0.5
    ({1: [1], 2: [1], 3: [1], 4: [2]}, [1, 2, 3]),        # one item takes most of the exposure
    ({1: [5, 6, 7], 2: [5, 8], 3: [5]}, [5, 6, 7, 8, 9]),
)


@exercise("07.5", "extend: the Gini index of exposure",
          run=lambda f: [float(f({u: list(items) for u, items in recs.items()}, list(catalog)))
                         for recs, catalog in _GINI_CASES],
          compare=_close_lists,
          hint="count how often each catalogue item appears in all the lists (0 for an item never shown), "
               "sort the counts ascending, then G = sum_i (2i - n - 1) c_i / (n * sum(c)) with i = 1..n.")
def _ref_exposure_gini() -> list:
    # mean absolute difference between all pairs of counts, over twice the mean: the textbook definition
    out = []
    for recs, catalog in _GINI_CASES:
        shown = [item for items in recs.values() for item in items]
        c = np.array([shown.count(item) for item in catalog], dtype=float)
        out.append(float(np.abs(c[:, None] - c[None, :]).mean() / (2 * c.mean())))
    return out




# ------------------------------------------------------------------ notebook 08
def _toy_interactions() -> np.ndarray:
    """The toy data as a users x items 0/1 matrix (every rating an interaction), rows and columns in id order."""
    return rating_matrix(load_toy().ratings.assign(rating=1.0)).toarray()


def _toy_frame(values) -> pd.DataFrame:
    items = np.sort(load_toy().ratings["item_id"].unique())
    return pd.DataFrame(np.asarray(values, float), index=items, columns=items)


@exercise("08.1", "EASE's item-item matrix in closed form",
          run=lambda f: _toy_frame(f(_toy_interactions(), 2.0)),
          compare=lambda got, expected: got.shape == expected.shape and bool(np.allclose(got, expected, atol=1e-9)),
          hint="P = inv(X^T X + reg * I); B = -P / diag(P) (column j divided by P[j, j]); then set the diagonal "
               "of B to 0.")
def _ref_ease() -> pd.DataFrame:
    # from the definition: column j is the ridge regression of item j on every OTHER item (Steck 2019, eq. 1)
    X, reg = _toy_interactions(), 2.0
    B = np.zeros((X.shape[1], X.shape[1]))
    for j in range(X.shape[1]):
        others = [k for k in range(X.shape[1]) if k != j]
        A = X[:, others]
        B[others, j] = np.linalg.solve(A.T @ A + reg * np.eye(len(others)), A.T @ X[:, j])
    return _toy_frame(B)


def _als_cases() -> list:
    rng = np.random.default_rng(8)
    cases = []
    for n_items, k, reg in ((6, 2, 0.1), (10, 3, 1.0), (8, 4, 0.5)):
        Y = rng.normal(size=(n_items, k))
        items = np.sort(rng.choice(n_items, 3, replace=False))
        confidence = 1 + 10 * rng.random(3)
        cases.append((Y, items, confidence, reg))
    return cases


@exercise("08.2", "find the bug: one user's implicit-ALS solve",
          run=lambda f: [np.asarray(f(Y.copy(), items.copy(), c.copy(), reg), float).tolist()
                         for Y, items, c, reg in _als_cases()],
          compare=lambda got, expected: len(got) == len(expected) and all(map(_close_lists, got, expected)),
          hint="Y^T C_u Y splits into Y^T Y (every item with confidence 1) plus a correction for the few items "
               "the user has: how much confidence do those items have BEYOND the 1 already counted?")
def _ref_als_solve() -> list:
    # from the definition: dense weighted ridge regression, confidence 1 for every item the user does not have
    out = []
    for Y, items, c, reg in _als_cases():
        weights = np.ones(len(Y))
        weights[items] = c
        target = np.zeros(len(Y))
        target[items] = 1.0
        A = Y.T @ (weights[:, None] * Y) + reg * np.eye(Y.shape[1])
        out.append(np.linalg.solve(A, Y.T @ (weights * target)).tolist())
    return out


_POPULAR_CASES = (
    ({1: [1, 2, 3], 2: [4, 5, 6]}, {1: 50, 2: 40, 3: 30, 4: 1, 5: 2, 6: 3}, 3),   # half the slots popular
    ({1: [7, 8], 2: [8, 9], 3: [9]}, {7: 5, 8: 5, 9: 1, 10: 9}, 2),               # a tie at the cut: smaller id
    ({1: [1, 2]}, {1: 1, 2: 1}, 5),                                               # fewer items than n_top
)


@exercise("08.3", "extend: the share of recommendations among the most popular items",
          run=lambda f: [float(f({u: list(items) for u, items in recs.items()}, pd.Series(counts), n_top))
                         for recs, counts, n_top in _POPULAR_CASES],
          compare=_close_lists,
          hint="take the n_top items with the most interactions (ties: the smaller item id first), then count "
               "how many of ALL the recommended slots (every user's list together) hold one of them.")
def _ref_popular_share() -> list:
    out = []
    for recs, counts, n_top in _POPULAR_CASES:
        ranked = sorted(counts, key=lambda item: (-counts[item], item))[:n_top]
        slots = [item for items in recs.values() for item in items]
        out.append(sum(item in ranked for item in slots) / len(slots))
    return out


# ---------------------------------------------------------------- notebook 09

_ANN_CASES = (
    (np.array([[1, 2, 3], [4, 5, 6]]), np.array([[1, 2, 3], [4, 5, 6]])),      # perfect
    (np.array([[3, 9, 1], [7, 8, 4]]), np.array([[1, 2, 3], [4, 5, 6]])),      # order does not matter
    (np.array([[1, -1, -1], [-1, -1, -1]]), np.array([[1, 2, 3], [4, 5, 6]])),  # -1: FAISS found nothing there
    (np.array([[5, 5, 5]]), np.array([[5, 6, 7]])),                             # a repeat counts once
)


@exercise("09.1", "extend: recall of an approximate search against the exact one",
          run=lambda f: [float(f(found.copy(), exact.copy())) for found, exact in _ANN_CASES],
          compare=_close_lists,
          hint="per query: how many of the exact top-k ids appear among the found ids (a -1 is no item, and an "
               "id found twice counts once), divided by k; then the mean over queries.")
def _ref_ann_recall() -> list:
    out = []
    for found, exact in _ANN_CASES:
        shares = []
        for got, truth in zip(found.tolist(), exact.tolist()):
            shares.append(sum(1 for item in truth if item in got) / len(truth))
        out.append(sum(shares) / len(shares))
    return out


_GENRES_OF = {1: {"Drama"}, 2: {"Drama"}, 3: {"Drama", "Comedy"}, 4: {"Comedy"}, 5: {"Drama"}, 6: {"Action"},
              7: {"Comedy", "Action"}}
_CAP_CASES = (([1, 2, 3, 4, 5, 6, 7], 2, 4), ([3, 1, 2, 4, 7, 6, 5], 1, 3), ([1, 2, 5], 1, 3),
              ([6, 7, 4, 3, 1], 2, 5))


@exercise("09.2", "find the bug: a genre cap",
          run=lambda f: [list(f(list(items), _GENRES_OF, cap, n)) for items, cap, n in _CAP_CASES],
          compare=lambda got, expected: got == expected,
          hint="a movie that waits is not in the list: should its genres count against the cap?")
def _ref_genre_cap() -> list:
    out = []
    for items, cap, n in _CAP_CASES:
        kept, waiting = [], []
        for item in items:
            in_list = [g for k in kept for g in _GENRES_OF[k]]
            if len(kept) < n and all(in_list.count(g) < cap for g in _GENRES_OF[item]):
                kept.append(item)
            else:
                waiting.append(item)
        out.append(kept + waiting)
    return out


_HISTORY_CASES = (([10, 11, 12, 13, 14], 3, 2), ([10, 11, 12, 13, 14], 0, 3), ([10, 11, 12], 1, 5),
                  ([10, 11, 12, 13, 14], 4, 4))


@exercise("09.3", "find the bug: a user tower's history",
          run=lambda f: [list(f(list(seq), j, length)) for seq, j, length in _HISTORY_CASES],
          compare=lambda got, expected: got == expected,
          hint="the pair at position j asks the model to predict movies_in_time_order[j]: is that movie in the "
               "slice you return?")
def _ref_history_before() -> list:
    return [[seq[p] for p in range(j - length, j) if p >= 0] for seq, j, length in _HISTORY_CASES]


# ---------------------------------------------------------------- notebook 10

_LRU_CASES = (([1, 2, 1, 3, 1, 2], 2), ([1, 2, 3, 1, 2, 3], 2), ([1, 2, 3, 1, 2, 3], 3), ([5, 5, 5, 5], 1),
              ([1, 2, 3, 4], 10), ([1, 2, 1, 3, 2, 1, 4, 1], 2))


@exercise("10.1", "extend: the hit rate of a least-recently-used cache",
          run=lambda f: [float(f(list(requests), capacity)) for requests, capacity in _LRU_CASES],
          compare=_close_lists,
          hint="walk the requests in order; a hit moves the key to the most recent end; a miss adds it there and, "
               "when the cache then holds more than `capacity` keys, drops the least recently used one.")
def _ref_lru_hit_rate() -> list:
    out = []
    for requests, capacity in _LRU_CASES:
        cache, hits = [], 0   # least recently used first
        for key in requests:
            if key in cache:
                hits += 1
                cache.remove(key)
            cache.append(key)
            if len(cache) > capacity:
                cache.pop(0)
        out.append(hits / len(requests))
    return out


_P99_CASES = (
    ([0.0, 0.01, 0.02, 0.03], [0.0, 0.01, 0.02, 0.03], [0.002, 0.012, 0.022, 0.032]),   # on time
    ([0.0, 0.01, 0.02, 0.03], [0.0, 0.05, 0.05, 0.05], [0.04, 0.052, 0.053, 0.054]),     # sent late, behind a slow one
    ([0.0, 0.005, 0.010, 0.015, 0.020], [0.0, 0.1, 0.1, 0.1, 0.1], [0.1, 0.101, 0.102, 0.103, 0.104]),
)


@exercise("10.2", "find the bug: a p99 latency",
          run=lambda f: [float(f(list(due), list(sent), list(done))) for due, sent, done in _P99_CASES],
          compare=_close_lists,
          hint="a user's wait starts when the request was due, not when a busy client finally sent it.")
def _ref_p99_latency() -> list:
    out = []
    for due, _sent, done in _P99_CASES:
        waits = sorted(b - a for a, b in zip(due, done))
        position = 0.99 * (len(waits) - 1)   # numpy's default (linear) percentile
        low = int(position)
        high = min(low + 1, len(waits) - 1)
        out.append(1000 * (waits[low] + (waits[high] - waits[low]) * (position - low)))
    return out


# ---------------------------------------------------------------- notebook 11

def _attention_cases() -> list:
    """(q, k, v) arrays of shape (1, positions, dim), drawn once from a fixed seed."""
    rng = np.random.default_rng(11)
    return [tuple(rng.normal(size=(1, length, dim)) for _ in range(3)) for length, dim in ((4, 3), (6, 2), (1, 4))]


def _run_attention(f) -> list:
    import torch  # only here: the checks of the other notebooks need no torch

    return [np.asarray(f(*(torch.from_numpy(a) for a in case))).ravel().tolist() for case in _attention_cases()]


def _close_ragged(got, expected: list) -> bool:
    try:
        return len(got) == len(expected) and all(_close_lists(g, e) for g, e in zip(got, expected))
    except TypeError:
        return False


@exercise("11.1", "find the bug: a causal attention",
          run=_run_attention,
          compare=_close_ragged,
          hint="position t may see positions 0..t and nothing after: which entries does `tril(-1)` mark, and which "
               "should be hidden from the softmax?")
def _ref_causal_attention() -> list:
    out = []
    for q, k, v in _attention_cases():
        L, d = q.shape[1], q.shape[2]
        rows = []
        for t in range(L):
            logits = [float(q[0, t] @ k[0, s]) / np.sqrt(d) for s in range(t + 1)]   # the past and itself only
            w = np.exp(np.array(logits) - max(logits))
            w /= w.sum()
            rows.extend((w[:, None] * v[0, :t + 1]).sum(0).tolist())
        out.append(rows)
    return out


_GBCE_CASES = ((2.0, [0.5, -1.0, 0.0], 101, 0.75), (-1.0, [3.0], 11, 0.0), (0.3, [0.1, 0.2], 51, 1.0),
               (0.0, [-2.0, -2.0, -2.0, -2.0], 9, 0.5))


@exercise("11.2", "extend: gSASRec's gBCE loss for one position",
          run=lambda f: [float(f(s_pos, list(s_neg), n_items, t)) for s_pos, s_neg, n_items, t in _GBCE_CASES],
          compare=_close_lists,
          hint="alpha = k / (n_items - 1) with k = len(s_neg); beta = alpha * (t * (1 - 1/alpha) + 1/alpha); "
               "-log sigmoid(s) = log(1 + exp(-s)) and -log(1 - sigmoid(s)) = log(1 + exp(s)).")
def _ref_gbce() -> list:
    out = []
    for s_pos, s_neg, n_items, t in _GBCE_CASES:
        alpha = len(s_neg) / (n_items - 1)
        beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
        sigmoid = lambda s: 1 / (1 + np.exp(-s))
        out.append(-beta * np.log(sigmoid(s_pos)) - sum(np.log(1 - sigmoid(s)) for s in s_neg))
    return out
