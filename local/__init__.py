"""The embedded local runner: every function's app in one uvicorn process, on an in-process DynamoDB (moto)."""
