"""The files users bring, read without knowing any recipe: which files and formats (`files`), their records
streamed with the place each came from (`records`, `where`), and raw values coerced to text, numbers,
booleans or JSON (`values`). Only backend.errors is imported from the rest of the backend.
"""
