"""publicrooms: anonymous public study rooms."""
