"""Wire shapes (pydantic): requests are validated here, responses are built from these."""
