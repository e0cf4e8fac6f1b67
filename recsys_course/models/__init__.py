"""Recommendation models of the course; each one implements only its own scoring."""
