"""Chat group: chat completions (JSON and SSE), responses, images, /api/chat for license keys, chat history."""
