"""Numbers the pages quote, computed at build time (placeholder until written)."""
def compute():
    return {}
