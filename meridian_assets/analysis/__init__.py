"""Layer 3: LLM analysts (Anthropic, OpenAI) blended into the composite, with cost ceiling, cache and audit archive."""
