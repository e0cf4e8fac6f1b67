"""One numbering of users and items for every model and matrix of the package.

Models, :func:`recsys_course.data.rating_matrix` and the ranking helpers all
turn raw ids into row and column numbers the same way: the ids, **sorted**,
numbered from 0. On MovieLens user *u* is row *u* - 1 and movie *i* column
*i* - 1, and a tie between two items broken "by the smaller id" is the same
as one broken "by the smaller column", which is what makes a top-N list
reproducible (:mod:`recsys_course.ranking`).

>>> ids = id_index([30, 10, 20, 10])
>>> ids.tolist(), positions(ids, [20, 99]).tolist()
([10, 20, 30], [1, -1])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["id_index", "positions", "show_id"]


def id_index(values, name: str | None = None) -> pd.Index:
    """The sorted distinct ids in ``values``: row (or column) ``j`` of every matrix is ``id_index(...)[j]``."""
    unique = np.asarray(pd.unique(pd.Series(values)))
    try:
        ordered = np.sort(unique)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in unique})
        raise TypeError(f"{name or 'ids'} mix types that cannot be ordered ({', '.join(kinds)}), e.g. "
                        f"{unique[:3].tolist()}: convert them to one type first, e.g. .astype(int)") from None
    return pd.Index(ordered, name=name)


def positions(index: pd.Index, values) -> np.ndarray:
    """Row numbers of ``values`` in ``index`` (an :func:`id_index`); -1 for ids it does not hold.

    Ids of another kind than the index's (text asked of a model fitted on
    numbers, or the other way round) are a TypeError, not "unknown": ``'1'``
    is not user 1, and treating it as a stranger would hide the mistake.
    """
    values = values if isinstance(values, pd.Index) else pd.Index(values)
    if len(values) and len(index):
        asked, known = _kind(values), _kind(index)
        what = index.name or "id"
        if asked == "mixed":
            raise TypeError(f"{what}s mix numbers and text (e.g. {values[:3].tolist()}): use one type")
        if asked != known:
            example = values[0]
            convert = f"{'int' if known == 'number' else 'str'}({show_id(example)})"
            raise TypeError(f"{what} {show_id(example)} is {_DESCRIBED.get(asked, asked)}, but this was fitted on "
                            f"{_ADJECTIVE.get(known, known)} ids such as {show_id(index[0])}: convert them, "
                            f"e.g. {convert}")
    return index.get_indexer(values)


_DESCRIBED = {"number": "a number", "text": "text", "mixed": "a mix of numbers and text"}
_ADJECTIVE = {"number": "numeric", "text": "text"}


def _kind(values: pd.Index) -> str:
    """'number', 'text' or 'mixed' (or pandas' name of another kind): what kind of ids ``values`` holds."""
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "number"
    if inferred == "string":
        return "text"
    return "mixed" if inferred.startswith("mixed") else inferred


def show_id(value) -> str:
    """An id as a user would type it in a message: ``5000``, not ``np.int64(5000)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)
