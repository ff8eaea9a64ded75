#!/bin/sh
# Lambda Web Adapter entry (Handler: gw_chat/run.sh): uvicorn serves the chat app on the adapter's port; the adapter
# streams responses back through the REST API's response-streaming integration.
export PYTHONPATH="/opt/python:${LAMBDA_TASK_ROOT}:${PYTHONPATH}"
# No proxy-headers middleware (client_ip reads X-Forwarded-For itself; it cost ~4% of request CPU) nor server header.
exec python -m uvicorn gw_chat.app:app --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" --no-access-log --timeout-keep-alive 60 \
  --no-proxy-headers --no-server-header
