"""Widgets of the console's main screen, one module each."""
