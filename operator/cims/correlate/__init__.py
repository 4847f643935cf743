"""Correlation: which raw findings of several tools are the same vulnerability in the same package.

Key = (alias group of the vulnerability, package identity, installed version) within one image.
"""
