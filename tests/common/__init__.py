"""Tests of tipdrop.common.
"""
