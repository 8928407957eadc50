"""Persistence (SQL) and shared live state (presence) behind small interfaces."""
