"""The papers' metrics, computed from labels and strings only: classification (`classification`: accuracy,
precision / recall / F1, confusion matrices) and free-text answers (`text`: exact match, token F1, ROUGE-L,
quote faithfulness). Recipes score with them; nothing here knows a recipe or reads a file.
"""
