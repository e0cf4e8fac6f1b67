"""Reference solutions to the exercises of notebook 05 (the LightFM hybrid).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""



def age_band(age: int) -> str:
    """Exercise 05.1: the ml-1m age band of an age."""
    for top, name in ((17, "<18"), (24, "18-24"), (34, "25-34"), (44, "35-44"), (49, "45-49"), (55, "50-55")):
        if age <= top:
            return name
    return "56+"


def item_features(movies) -> dict:
    """Exercise 05.2: item_id -> ["genre:...", ..., "decade:...s"]."""
    return {item: [f"genre:{g}" for g in genres] + [f"decade:{int(year) // 10 * 10}s"]
            for item, genres, year in zip(movies["item_id"], movies["genres"], movies["year"])}


def lightfm_score(user_weights, item_weights, user_embeddings, item_embeddings, user_biases, item_biases) -> float:
    """Exercise 05.3: LightFM's score from feature weights, feature embeddings and feature biases."""
    user = user_weights @ user_embeddings
    item = item_weights @ item_embeddings
    return float(user @ item + user_weights @ user_biases + item_weights @ item_biases)


SOLUTIONS = {"05.1": age_band, "05.2": item_features, "05.3": lightfm_score}
