// openai_node.mjs - relief serve through the official OpenAI Node client
// (npm "openai"), as its users call it: models, a chat answer, a streamed
// one with usage, and a field the server does not support. Run by
// tests/test_openai_node.sh from a directory where "openai" is installed.
//
// usage: node openai_node.mjs BASE_URL      (e.g. http://127.0.0.1:8711)
// Prints one line per check; exits 1 when any failed.
import OpenAI from "openai";

const base = process.argv[2];
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "none", maxRetries: 0, timeout: 120000 });
let fails = 0;
function check(ok, what) {
  if (ok) console.log("ok:", what);
  else {
    fails++;
    console.error("FAIL:", what);
  }
  return ok;
}

// Tokens the server counted as generated, from its own /metrics.
async function tokensTotal() {
  const text = await (await fetch(base + "/metrics")).text();
  const m = text.match(/^relief_model_tokens_total (\d+)$/m);
  return m ? Number(m[1]) : -1;
}

function usageShape(u, label) {
  return check(u && Number.isInteger(u.prompt_tokens) && u.prompt_tokens > 0 && Number.isInteger(u.completion_tokens) &&
    u.completion_tokens > 0 && u.completion_tokens <= 16 && u.total_tokens === u.prompt_tokens + u.completion_tokens,
    `${label}: usage ${JSON.stringify(u)}`);
}

const models = [];
for await (const m of client.models.list()) models.push(m);
check(models.length === 1 && models[0].object === "model" && models[0].id === "tiny-q" && models[0].created > 1.6e9,
  `models.list: ${JSON.stringify(models)}`);
const model = models.length ? models[0].id : "tiny-q";
const one = await client.models.retrieve(model);
check(one.id === model, `models.retrieve: ${JSON.stringify(one)}`);

const messages = [
  { role: "system", content: "Be brief." },
  { role: "developer", content: "Answer in English." },
  { role: "user", content: "Flood rising in the valley. What first?" },
];

// Not streamed: the answer's shape; usage equals the server's own count.
let before = await tokensTotal();
const c = await client.chat.completions.create({ model, messages, max_tokens: 16 });
let after = await tokensTotal();
check(c.object === "chat.completion" && c.id.startsWith("chatcmpl-") && c.model === model && c.choices.length === 1,
  `chat: ${JSON.stringify(c)}`);
const choice = c.choices[0] || {};
check(choice.message && choice.message.role === "assistant" && typeof choice.message.content === "string",
  `chat message: ${JSON.stringify(choice.message)}`);
check(["stop", "length"].includes(choice.finish_reason), `chat finish_reason ${choice.finish_reason}`);
usageShape(c.usage, "chat");
check(c.usage && c.usage.completion_tokens === after - before,
  `chat completion_tokens ${c.usage && c.usage.completion_tokens} = tokens counted in /metrics ${after - before}`);
console.log(`sample usage: ${JSON.stringify(c.usage)}`);

// Streamed with include_usage: chunks arrive, the last one carries usage.
before = await tokensTotal();
const stream = await client.chat.completions.create({
  model, messages, max_tokens: 16, stream: true, stream_options: { include_usage: true },
});
let chunks = 0, role = null, finish = null, text = "", usage = null, usageLast = false;
for await (const ch of stream) {
  chunks++;
  usageLast = !!ch.usage;
  if (ch.usage) usage = ch.usage;
  if (ch.choices.length) {
    const d = ch.choices[0].delta || {};
    if (d.role) role = d.role;
    if (typeof d.content === "string") text += d.content;
    if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
  }
}
after = await tokensTotal();
check(chunks >= 3 && role === "assistant" && ["stop", "length"].includes(finish),
  `stream: ${chunks} chunks, role ${role}, finish ${finish}`);
check(usage && usageLast, "stream: the last chunk carries usage");
if (usageShape(usage, "stream")) {
  check(usage.completion_tokens === after - before,
    `stream completion_tokens ${usage.completion_tokens} = tokens counted in /metrics ${after - before}`);
  check(c.usage && usage.prompt_tokens === c.usage.prompt_tokens,
    `stream prompt_tokens ${usage.prompt_tokens} = chat's ${c.usage && c.usage.prompt_tokens} (same messages)`);
}
console.log(`streamed ${chunks} chunks, ${text.length} characters, usage ${JSON.stringify(usage)}`);

// A field this server does not implement: a 400 naming it.
try {
  await client.chat.completions.create({
    model, messages, tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: {} } } }],
  });
  check(false, "tools: accepted");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.status === 400, `tools: ${e.constructor.name} ${e.status}`);
  check(e.param === "tools" && /tools/.test(e.message), `tools: param ${e.param}, message ${e.message}`);
}

console.log(fails ? `${fails} checks failed` : "all checks passed");
process.exit(fails ? 1 : 0);
