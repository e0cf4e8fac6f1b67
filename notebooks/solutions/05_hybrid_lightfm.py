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


def score_from_rows(user_row, item_row, model):
    """LightFM's score of one user and one movie from their sparse feature rows."""
    p_u = user_row.data @ model.user_embeddings[user_row.indices]
    q_i = item_row.data @ model.item_embeddings[item_row.indices]
    b_u = user_row.data @ model.user_biases[user_row.indices]
    b_i = item_row.data @ model.item_biases[user_row.indices]
    return float(p_u @ q_i + b_u + b_i)


def score_from_rows_fixed(user_row, item_row, model):
    """Exercise 05.4, fixed: the item bias is read at the item row's columns, not the user row's."""
    p_u = user_row.data @ model.user_embeddings[user_row.indices]
    q_i = item_row.data @ model.item_embeddings[item_row.indices]
    b_u = user_row.data @ model.user_biases[user_row.indices]
    b_i = item_row.data @ model.item_biases[item_row.indices]
    return float(p_u @ q_i + b_u + b_i)


def user_features_with_region(users) -> dict:
    """Exercise 05.5: the demographic features of section 2 plus "zip:<first character of the zip code>"."""
    return {user: [f"age:{age_band(age)}", f"gender:{gender}", f"occupation:{occupation}", f"zip:{str(zip_code)[0]}"]
            for user, age, gender, occupation, zip_code
            in zip(users["user_id"], users["age"], users["gender"], users["occupation"], users["zip_code"])}


SOLUTIONS = {"05.1": age_band, "05.2": item_features, "05.3": lightfm_score, "05.4": score_from_rows_fixed,
             "05.5": user_features_with_region}

# The buggy function notebook 05 shows in exercise 05.4, copied exactly: its check must fail.
PLANTED_BUGS = {"05.4": score_from_rows}
