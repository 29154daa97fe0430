"""Tests of tipdrop.protocol: the formats two zones share.
"""
