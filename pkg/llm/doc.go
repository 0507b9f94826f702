// Package llm is the language model the workers call: the Model interface, which streams a
// reply to a conversation, and its two providers. "openai" speaks the streamed
// /v1/chat/completions API of OpenAI and of every server compatible with it (Hugging Face's
// router, vLLM, Ollama, llama.cpp, LM Studio); "echo" answers "echo: <the message>" offline,
// deterministically, streamed word by word over a configurable delay (demos, tests, benchmarks).
//
// Retry is the retry policy around a model call: a time limit per attempt, exponential backoff,
// and which errors are worth another attempt. Describe turns a model error into a sentence a
// user can read.
package llm
