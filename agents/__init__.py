"""Policies that see only observations (autopilot baseline, trained agents)."""
