"""The book's generated pages: the API reference (:mod:`~posebook.book.api`), the index of which
function implements which paper equation (:mod:`~posebook.book.equations`) and the reproduction
scorecard (:mod:`~posebook.book.scorecard`). Nothing on those pages is typed by hand: each is computed
from the package's docstrings, its claims engine and the stored results.
"""
