"""Streaming readers and atomic writers for every data format, with file:line bad-input errors."""
