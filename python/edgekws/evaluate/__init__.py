"""Evaluation of trained models on real speech (``edgekws eval``).

Modules
-------
real      reading real clips (Speech Commands folders by speaker fold, FSDD) and scoring
report    accuracies, per-class and per-speaker tables, confusion matrices
cli       the ``edgekws eval`` command
"""
