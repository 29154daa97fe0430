"""Tests of the reporter's reference client.
"""
