"""Tests of the server zone; web/ drives the Flask app in-process.
"""
