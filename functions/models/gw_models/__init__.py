"""Models group: the model catalog in OpenAI's list format and in the seed's format, and the providers."""
