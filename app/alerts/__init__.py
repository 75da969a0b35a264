"""Alerts (DESIGN §8): rules, their evaluation, notifications, trends and the live snapshot."""
