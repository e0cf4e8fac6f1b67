"""Implicit item-kNN: our two neighbour rules against the `implicit` library's CosineRecommender, in one run.

MovieLens-100k, random 80/20 split (``random_split(random_state=0)``), every
training rating an interaction, k = 100 neighbours. Timed (best of
``REPEAT``, one thread everywhere), in the same process:

* fit: ``ImplicitItemKNN(n_neighbors=100, neighbours=...)`` for both rules,
  and ``implicit`` 0.7.3's ``CosineRecommender(K=100)`` on the same users x
  items matrix (``interactions_``);
* top-10 for all users, seen items out: our ``recommend_batch(n=10)``
  (ids mapped, a long frame out) and implicit's batch ``recommend(N=10)``.

Then the agreement of our ``"source"`` rule with implicit, which it
reproduces: kept pairs, scores, and top-10 lists (identical, and identical
but for the order of equal scores: implicit lists the larger id first, the
protocol the smaller). A second table compares the two rules for several k:
how much of each user's top-10 they share, and the NDCG@10 of each
(``evaluate``, relevant = test rating >= 4; the last row is k = every item,
where nothing is cut and the rules coincide).

Writes ``benchmarks/results/implicit_knn.{md,json}``. Run with ``make bench``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one thread for every library
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import warnings

import _report
import numpy as np
from implicit.nearest_neighbours import CosineRecommender

from recsys_course.data import load_movielens_100k
from recsys_course.evaluation import evaluate
from recsys_course.models.knn import ImplicitItemKNN
from recsys_course.split import random_split

REPEAT = 5
K, N = 100, 10
RULE_KS = (10, 20, 50, 100, 200, 400)


def best_time(fn, repeat=REPEAT):
    return _report.best_time(fn, repeat)


def fit_implicit(X):
    model = CosineRecommender(K=K, num_threads=1)
    with warnings.catch_warnings():  # its fit hands itself a COO matrix and warns about the conversion
        warnings.simplefilter("ignore")
        model.fit(X, show_progress=False)
    return model


def agreement(model, reference, lists, their_ids, their_scores):
    """Our "source" model against implicit: kept pairs, scores, and top-10 lists."""
    theirs = reference.similarity.copy()  # its scorer reads reference.similarity's arrays: leave them be
    theirs.setdiag(0.0)  # the item's own place: counted by both, added to no unseen item's score
    theirs.eliminate_zeros()
    same_pairs = (model.weights_ != theirs).nnz == 0
    table = model.score(model.user_ids_).to_numpy()
    ours = lists["item_id"].to_numpy().reshape(-1, N)
    ours = model.item_ids_.get_indexer(ours.ravel()).reshape(ours.shape)
    our_scores = lists["score"].to_numpy().reshape(-1, N)
    rows = np.arange(len(ours))[:, None]
    gap = max(np.abs(our_scores - their_scores).max(), np.abs(table[rows, their_ids] - their_scores).max())
    identical = (ours == their_ids).all(axis=1)
    # equal but for the order of equal scores: same score at every rank, same items above the last score listed
    def above_last(ids, scores):
        return set(ids[scores > scores[-1]])

    up_to_ties = [np.array_equal(our_scores[u], their_scores[u])
                  and above_last(ours[u], our_scores[u]) == above_last(their_ids[u], their_scores[u])
                  for u in range(len(ours))]
    return {"same_kept_pairs": bool(same_pairs), "max_abs_score_difference": float(gap),
            "identical_top10": float(identical.mean()), "identical_top10_up_to_equal_scores": float(np.mean(up_to_ties))}


def rule_comparison(train, test):
    rows = []
    for k in (*RULE_KS, train["item_id"].nunique()):
        lists, ndcg = {}, {}
        for rule in ("target", "source"):
            model = ImplicitItemKNN(n_neighbors=k, neighbours=rule).fit(train)
            lists[rule] = model.recommend_batch(n=N).groupby("user_id")["item_id"].agg(list)
            ndcg[rule] = float(evaluate(model, train, test, k=N, metrics=["ndcg"])[f"ndcg@{N}"].iloc[0])
        pairs = list(zip(lists["target"], lists["source"]))
        rows.append({"k": k, "top10_overlap": float(np.mean([len(set(a) & set(b)) / N for a, b in pairs])),
                     "identical_top10": float(np.mean([a == b for a, b in pairs])),
                     "ndcg_target": ndcg["target"], "ndcg_source": ndcg["source"]})
        print(rows[-1], flush=True)
    return rows


def main():
    ratings = load_movielens_100k().ratings
    train, test, _ = random_split(ratings, test_size=0.2, random_state=0)
    users = np.arange(train["user_id"].nunique())
    timings, fitted = {}, {}
    for rule in ("target", "source"):
        timings[f"ours, {rule}"] = best_time(lambda rule=rule: ImplicitItemKNN(n_neighbors=K, neighbours=rule).fit(train))
        fitted[rule] = timings[f"ours, {rule}"][1]
    X = fitted["source"].interactions_.tocsr()
    timings["implicit CosineRecommender"] = best_time(lambda: fit_implicit(X))
    reference = timings["implicit CosineRecommender"][1]
    top = {name: best_time(lambda model=model: model.recommend_batch(n=N)) for name, model in
           (("ours, target", fitted["target"]), ("ours, source", fitted["source"]))}
    top["implicit CosineRecommender"] = best_time(lambda: reference.recommend(users, X, N=N))
    their_ids, their_scores = top["implicit CosineRecommender"][1]
    agree = agreement(fitted["source"], reference, top["ours, source"][1], their_ids, their_scores)
    print(agree, flush=True)

    implicit_fit, implicit_top = timings["implicit CosineRecommender"][0], top["implicit CosineRecommender"][0]
    rows = [{"model": name, "fit_s": timings[name][0], "top10_all_users_s": top[name][0]} for name in timings]
    table = [f"| model (k = {K}) | fit (s) | / implicit | top-10 for all users (s) | / implicit |",
             "|---|---:|---:|---:|---:|"]
    table += [f"| {r['model']} | {r['fit_s']:.3f} | {r['fit_s'] / implicit_fit:.1f}x | {r['top10_all_users_s']:.3f} | "
              f"{r['top10_all_users_s'] / implicit_top:.1f}x |" for r in rows]
    rules = rule_comparison(train, test)
    table += ["", "| k | top-10 items the rules share | identical top-10 lists | NDCG@10 target | NDCG@10 source |",
              "|---:|---:|---:|---:|---:|"]
    table += [f"| {r['k']} | {r['top10_overlap']:.1%} | {r['identical_top10']:.1%} | {r['ndcg_target']:.4f} | "
              f"{r['ndcg_source']:.4f} |" for r in rules]
    meta = _report.machine(("numpy", "scipy", "implicit"),
                           data=f"MovieLens-100k, random 80/20 split: {X.shape[0]} users, {X.shape[1]} items, "
                                f"{X.nnz} interactions")
    notes = [(f"Best of {REPEAT}, one thread. Ours, \"source\" against implicit: the same kept pairs to the last bit: "
             f"{agree['same_kept_pairs']}; largest |score difference| over the top-10s: "
             f"{agree['max_abs_score_difference']:.1e}; identical top-10 lists: {agree['identical_top10']:.1%} of users "
             f"({agree['identical_top10_up_to_equal_scores']:.1%} but for the order of equal scores). "
             "implicit's batch recommend calls its scorer once per user from Python. Second table: the two rules of "
             f"ImplicitItemKNN at several k (the last is every item: nothing cut), top-{N} lists with seen items out, "
             "NDCG@10 by evaluate() (relevant = test rating >= 4), one split.")]
    print(_report.write("implicit_knn", "Implicit item-kNN: our two neighbour rules against implicit's "
                        "CosineRecommender", meta, {"rows": rows, "source_vs_implicit": agree, "rules": rules},
                        table, notes))


if __name__ == "__main__":
    main()
