"""Everything about xAI's video API in one package; ``catalog`` holds its models, prices and limits."""
