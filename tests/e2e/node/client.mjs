// The official openai Node SDK against the gateway: chat, a chat stream, a Responses stream.
// Usage: node client.mjs <base url> <api key>; prints one JSON object with what each call returned.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });
const model = "openai/gpt-4o-mini";

const chat = await client.chat.completions.create({
  model, max_tokens: 50, messages: [{ role: "user", content: "Hello from Node" }],
});

const stream = await client.chat.completions.create({
  model, stream: true, stream_options: { include_usage: true },
  messages: [{ role: "user", content: "one two three four five" }],
});
let streamed = "";
let usage = null;
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}

const responses = client.responses.stream({ model, input: "Write a haiku", instructions: "Be brief" });
const eventTypes = [];
let deltas = "";
for await (const event of responses) {
  eventTypes.push(event.type);
  if (event.type === "response.output_text.delta") deltas += event.delta;
}
const final = await responses.finalResponse();

console.log(JSON.stringify({
  chat: { text: chat.choices[0].message.content, model: chat.model, usage: chat.usage },
  stream: { text: streamed, usage },
  responses: { types: eventTypes, deltas, outputText: final.output_text, status: final.status, usage: final.usage },
}));
