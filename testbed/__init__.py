"""Duisburg Smart Shipping Testbed: environment, scenarios, traffic, AIS, link model and CLI."""

__version__ = "0.1.0"
