"""Prompt text for the three RecRanker tasks: templates, hints, position shifting, the builder."""
