"""Screens and modals pushed over the main screen, one module each."""
