"""Identity, client-address resolution, input cleaning and abuse limits."""
