"""Tests of tipdrop.crypto.
"""
