"""An existing AllenNLP project: a CSV reader of product reviews (see reader.py)."""
from my_project.reader import CsvReviewsReader  # noqa: F401  (registers "csv_reviews")
