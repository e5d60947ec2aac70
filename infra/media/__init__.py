"""Untrusted media from browsers, checked and re-encoded before anything stores it.

Shared by the API (which refuses a bad upload with a clear 4xx before it is stored) and
the workers (which read what the API stored), so neither imports the other: ``images``
re-encodes photos to WebP without metadata, ``audio`` decodes recordings to the 16 kHz
mono samples speech recognition takes and keeps them as a small WAV.
"""
