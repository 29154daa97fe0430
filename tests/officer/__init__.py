"""Tests of the officer's workstation.
"""
