"""The API's answers as pydantic models: what OpenAPI documents and what each route's answer is checked against."""
