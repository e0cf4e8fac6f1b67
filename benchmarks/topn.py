"""Top-10 lists for every user: the package's one batched path against its floor and against `implicit`.

MovieLens-100k, random 80/20 split (``random_split(random_state=0)``). For each
model, the time to produce the top-10 of all 943 users with
``recommend_batch(n=10)`` (seen items excluded, ties to the smaller id, a
long frame out), next to:

* the **floor**: the model's scores for all users as one plain numpy product
  (factors, or interactions x item weights) plus ``np.argpartition``, with no
  exclusion, no tie rule and no frame: what no top-N path can beat;
* the **`implicit` library's batch ``recommend``** (0.7.3, one thread) on the
  same model: our factors (biases folded in as two extra columns) in its
  ``AlternatingLeastSquares``, our item-item weights in its
  ``ItemItemRecommender``, with ``filter_already_liked_items`` on;
* the **peak memory** of ``recommend_batch`` (``tracemalloc``, which sees
  numpy's allocations), as a multiple of one dense float64 users x items
  score matrix (943 x 1,682 x 8 B = 12.7 MB).

Best of ``REPEAT`` runs each, everything in one process, one thread.
Writes ``benchmarks/results/topn.{md,json}``. Run with ``make bench``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one thread for every library
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import tracemalloc  # noqa: E402

import _report  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import sparse  # noqa: E402

from recsys_course.data import load_movielens_100k  # noqa: E402
from recsys_course.models.content import ContentRecommender  # noqa: E402
from recsys_course.models.knn import ImplicitItemKNN, UserKNN  # noqa: E402
from recsys_course.models.mf import ALS, FunkSVD  # noqa: E402
from recsys_course.models.ncf import NCF  # noqa: E402
from recsys_course.split import random_split  # noqa: E402

REPEAT = 5
N = 10
torch.set_num_threads(1)


def best_time(fn, repeat=REPEAT):
    return _report.best_time(fn, repeat)


def peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def floor_of(scores_fn):
    def run():
        S = scores_fn()
        return np.argpartition(-S, N - 1, axis=1)[:, :N]
    return run


def implicit_mf(model):
    """Our biased MF in implicit's ALS: [P, 1, mu + b_u] . [Q, b_i, 1] is mu + b_u + b_i + p.q."""
    from implicit.cpu.als import AlternatingLeastSquares

    als = AlternatingLeastSquares(factors=model.n_factors + 2, random_state=0)
    n_u, n_i = len(model.user_ids_), len(model.item_ids_)
    user = np.hstack([model.P_, np.ones((n_u, 1)), (model.global_mean_ + model.b_u_)[:, None]])
    item = np.hstack([model.Q_, model.b_i_[:, None], np.ones((n_i, 1))])
    als.user_factors, als.item_factors = user.astype(np.float32), item.astype(np.float32)
    return als


def implicit_itemknn(model):
    from implicit.nearest_neighbours import ItemItemRecommender, NearestNeighboursScorer

    knn = ItemItemRecommender(K=model.n_neighbors, num_threads=1)
    # implicit scores user_items @ similarity: our weights_[i, j] is what item i adds to item j's score
    knn.similarity = sparse.csr_matrix(model.weights_)
    knn.scorer = NearestNeighboursScorer(knn.similarity)  # what its fit() builds from the similarity
    return knn


def same_sets(model, ids, lists) -> float:
    """Share of users whose top-10 set from implicit equals ours (filter_already_liked_items is on by default)."""
    ours = lists.groupby("user_id", sort=False)["item_id"].agg(set)
    return float(np.mean([set(model.item_ids_[ids[u]]) == ours.get(user, set())
                          for u, user in enumerate(model.user_ids_)]))


def main():
    from threadpoolctl import threadpool_limits

    ratings = load_movielens_100k().ratings
    train, _, _ = random_split(ratings, test_size=0.2, random_state=0)
    users = np.arange(train.user_id.nunique())
    dense_mib = train.user_id.nunique() * train.item_id.nunique() * 8 / 2**20
    rows, table = [], []
    models = {
        "FunkSVD (100 factors)": FunkSVD(random_state=0),
        "ALS (20 factors)": ALS(random_state=0),
        "ImplicitItemKNN (100 neighbours)": ImplicitItemKNN(n_neighbors=100),
        "ContentRecommender (TF-IDF)": None,
        "NCF GMF (32 factors)": NCF("gmf", n_epochs=1),
        "NCF NeuMF (32 factors)": NCF("neumf", n_epochs=1),
        "UserKNN (40 neighbours)": UserKNN(n_neighbors=40),
    }
    movies = load_movielens_100k().movies
    for name, model in models.items():
        model = ContentRecommender().fit(train, movies) if model is None else model.fit(train)
        ours_s, lists = best_time(lambda: model.recommend_batch(n=N), repeat=1 if "UserKNN" in name else REPEAT)
        peak = peak_mib(lambda: model.recommend_batch(n=N))
        floor = implicit_s = agree = None
        if isinstance(model, (FunkSVD, ALS)):
            floor, _ = best_time(floor_of(lambda: model.P_ @ model.Q_.T + model.b_u_[:, None] + model.b_i_))
            als = implicit_mf(model)
            seen = model.seen_.astype(np.float32).tocsr()
            with threadpool_limits(1):
                implicit_s, (ids, _) = best_time(lambda: als.recommend(users, seen, N=N))
            agree = same_sets(model, ids, lists)
        elif isinstance(model, ImplicitItemKNN):
            floor, _ = best_time(floor_of(lambda: (model.interactions_ @ model.weights_).toarray()))
            knn = implicit_itemknn(model)
            seen = model.seen_.astype(np.float32).tocsr()
            implicit_s, (ids, _) = best_time(lambda: knn.recommend(users, seen, N=N))
            agree = same_sets(model, ids, lists)
        elif isinstance(model, ContentRecommender):
            floor, _ = best_time(floor_of(lambda: (model.profiles_ @ model.item_features_.T).toarray()))
        elif isinstance(model, NCF) and model.architecture == "gmf":
            m = model.module_
            with torch.no_grad():
                floor, _ = best_time(floor_of(lambda: ((m.user.weight * m.out.weight[0]) @ m.item.weight.T).numpy()))
        elif isinstance(model, NCF):
            n_u, n_i = len(model.user_ids_), len(model.item_ids_)
            pairs = torch.arange(n_u).repeat_interleave(n_i), torch.arange(n_i).repeat(n_u)
            with torch.no_grad():
                floor, _ = best_time(floor_of(lambda: model.module_(*pairs).reshape(n_u, n_i).numpy()))
        rows.append({"model": name, "ours_s": ours_s, "floor_s": floor, "implicit_s": implicit_s,
                     "peak_mib": peak, "same_lists_as_implicit": agree})
        ratio = f"{ours_s / floor:.1f}x" if floor else "n/a"
        vs_implicit = f"{implicit_s:.4f}" if implicit_s else "n/a"
        same = "" if agree is None else f"{agree:.1%}"
        memory = f"{peak:.1f} ({peak / dense_mib:.2f}x)"
        table.append(f"| {name} | {ours_s:.4f} | {floor:.4f} | {ratio} | {vs_implicit} | {memory} | {same} |"
                     if floor else f"| {name} | {ours_s:.3f} | n/a | n/a | n/a | {memory} | |")
        print(table[-1], flush=True)
    meta = _report.machine(("numpy", "scipy", "torch", "implicit"), data="MovieLens-100k, random 80/20 split")
    header = ["| model | ours: top-10 for all users (s) | floor (s) | ours / floor | implicit batch (s) | "
              "peak memory MiB (x one dense matrix) | same top-10 set as implicit |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    notes = [f"One dense float64 users x items matrix: {dense_mib:.1f} MiB. Best of {REPEAT} runs (UserKNN: one), "
             "one thread everywhere. The floor omits what a list needs (seen items out, the tie rule, ids, a frame). "
             "implicit gets our factors in float32 (biases as two extra columns): the 'same set' column counts users "
             "whose top-10 sets agree, float32 rounding apart. UserKNN predicts each (user, item) from its own "
             "neighbours: there is no product to compare it with."]
    print(_report.write("topn", "Top-10 for all users: one batched path, against its floor and implicit", meta, rows,
                        header + table, notes))


if __name__ == "__main__":
    main()
