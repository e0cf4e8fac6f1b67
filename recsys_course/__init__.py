"""Companion package of the recommender-systems course."""
