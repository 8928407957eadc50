"""Test support: a live server in a thread, clients with their own loopback addresses, polling."""
