"""Chat with a model: replies streamed piece by piece, two models side by side, and recipe-aware prompts."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

from backend.data.examples import prompt_messages, row_at
from backend.data.store import resolve
from backend.errors import LabError
from backend.playground.models import ModelChoice, get_cache
from backend.recipes import get_recipe
from backend.traces.teachers import require_api_key, server_message, teacher_from_json

DEFAULT_MAX_NEW_TOKENS = 256


def _with_system(messages: list[dict], system: str | None) -> list[dict]:
    """The conversation with `system` as its system message (replacing one it had); unchanged when None."""
    if system is None:
        return list(messages)
    rest = [m for m in messages if m["role"] != "system"]
    return ([{"role": "system", "content": system}] if system else []) + rest


def _check_settings(max_new_tokens: int, temperature: float, top_p: float) -> None:
    from backend.validation import TEMPERATURE, TOKENS, Range, check_value

    check_value("max_new_tokens", max_new_tokens, TOKENS)
    check_value("temperature", temperature, TEMPERATURE)
    check_value("top_p", top_p, Range(0, 1, above=True))
    if max_new_tokens < 1:
        raise LabError("max_new_tokens must be at least 1")
    if temperature < 0 or not 0 < top_p <= 1:
        raise LabError("temperature must be >= 0 and top_p in (0, 1]")


class ReplyStream:
    """Text pieces as the model writes them; once exhausted, `tokens` holds the reply's token count and
    `finish_reason` why it ended ("stop" or "length")."""

    def __init__(self, produce: Callable[[ReplyStream], Iterator[str]]):
        self.tokens: int | None = None
        self.finish_reason: str | None = None
        self._pieces = produce(self)

    def __iter__(self) -> Iterator[str]:
        return self._pieces


def _stop_ids(model, tokenizer) -> list[int]:
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def _local_pieces(reply: ReplyStream, choice: ModelChoice, loaded, messages: list[dict], max_new_tokens: int,
                  temperature: float, top_p: float) -> Iterator[str]:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    tokenizer, model = loaded.tokenizer, loaded.model
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True).to(model.device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
    else:  # None overrides sampling settings in the model's generation_config, which greedy would warn about
        sampling = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    stop_ids = _stop_ids(model, tokenizer)
    outcome: dict = {}
    abandoned = threading.Event()

    class ReaderLeft(StoppingCriteria):
        """Ends generation when the reader stops reading (the page's stop button, a closed session)."""

        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), abandoned.is_set(), dtype=torch.bool, device=input_ids.device)

    def generate() -> None:
        try:
            with torch.inference_mode():
                output = model.generate(**prompt, streamer=streamer, max_new_tokens=max_new_tokens,
                                        pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_ids,
                                        stopping_criteria=StoppingCriteriaList([ReaderLeft()]), **sampling)
            outcome["tokens"] = output[0, prompt["input_ids"].shape[1]:].tolist()
        except Exception as exc:  # reported to the reader below; the streamer must still end
            outcome["error"] = exc
            streamer.end()

    worker = threading.Thread(target=generate, name=f"playground-{choice.label}", daemon=True)
    worker.start()
    try:
        yield from streamer
    finally:
        abandoned.set()
        worker.join()
    if "error" in outcome:
        raise LabError(f"{choice.label}: generation failed: {outcome['error']}") from outcome["error"]
    tokens = outcome["tokens"]
    stop_at = next((n for n, token in enumerate(tokens) if token in stop_ids), None)
    reply.tokens = len(tokens) if stop_at is None else stop_at + 1
    reply.finish_reason = "length" if stop_at is None else "stop"


def _teacher_pieces(reply: ReplyStream, choice: ModelChoice, messages: list[dict], max_new_tokens: int,
                    temperature: float, top_p: float) -> Iterator[str]:
    import openai

    teacher = teacher_from_json(choice.teacher)
    client = openai.OpenAI(base_url=teacher.base_url, api_key=require_api_key(teacher), timeout=teacher.timeout_s,
                           max_retries=2)
    try:
        stream = client.chat.completions.create(
            model=teacher.model, messages=messages, max_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
            stream=True, stream_options={"include_usage": True})
        if "text/event-stream" not in stream.response.headers.get("content-type", ""):
            # A server that ignores stream=true answers with one plain JSON reply: the SSE reader would
            # find no events in it and return an empty reply without a word.
            yield _plain_reply(reply, choice, teacher, stream.response)
            return
        chunks = 0
        for chunk in stream:
            chunks += 1
            if chunk.usage is not None:
                reply.tokens = chunk.usage.completion_tokens
            for part in chunk.choices:
                if part.delta and part.delta.content:
                    yield part.delta.content
                if part.finish_reason:
                    reply.finish_reason = part.finish_reason
        if not chunks:
            raise LabError(f"{choice.label}: the endpoint {teacher.endpoint} ended its stream without sending anything")
    except openai.APIError as exc:  # the server's own words (OpenAI's, FastAPI's or plain text), not "Error code: 404"
        status = f"{exc.status_code} " if isinstance(exc, openai.APIStatusError) else ""
        raise LabError(f"{choice.label}: the endpoint {teacher.endpoint} answered with an error: "
                       f"{status}{server_message(exc)}") from exc


def _plain_reply(reply: ReplyStream, choice: ModelChoice, teacher, response) -> str:
    """The text of a non-streamed chat completion, with its token count and finish reason; a reply that is not
    one (an error object, HTML, an empty body) is a LabError that quotes it."""
    body = response.read()
    response.close()
    where = f"{choice.label}: the endpoint {teacher.endpoint}"
    if body.lstrip().startswith(b"data:"):  # a stream after all, under another content type
        return _sse_text(reply, where, body)
    try:
        data = json.loads(body)
    except ValueError:
        shown = " ".join(body.decode("utf-8", "replace").split())[:300] or "an empty body"
        raise LabError(f"{where} answered a streamed request with neither a stream nor JSON "
                       f"({response.headers.get('content-type') or 'no content type'}): {shown}") from None
    if isinstance(data, dict) and data.get("error"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise LabError(f"{where} answered with an error: {message}")
    choices = data.get("choices") if isinstance(data, dict) else None
    message = (choices[0].get("message") or {}) if choices and isinstance(choices[0], dict) else None
    if message is None or not isinstance(message.get("content"), str):
        raise LabError(f"{where} answered with JSON that holds no reply text: {json.dumps(data)[:300]}")
    usage = data.get("usage") or {}
    reply.tokens = usage.get("completion_tokens")
    reply.finish_reason = choices[0].get("finish_reason")
    if not message["content"]:
        raise LabError(f"{where} answered with an empty reply (finish reason {reply.finish_reason}, "
                       f"{reply.tokens} tokens billed)")
    return message["content"]


def _sse_text(reply: ReplyStream, where: str, body: bytes) -> str:
    pieces = []
    for line in body.decode("utf-8", "replace").splitlines():
        data = line[5:].strip() if line.startswith("data:") else ""
        if not data or data == "[DONE]":
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            raise LabError(f"{where} sent a stream line that is not JSON: {data[:300]}") from None
        if chunk.get("error"):
            error = chunk["error"]
            raise LabError(f"{where} answered with an error: {error.get('message') if isinstance(error, dict) else error}")
        if chunk.get("usage"):
            reply.tokens = chunk["usage"].get("completion_tokens")
        for part in chunk.get("choices") or []:
            pieces.append((part.get("delta") or {}).get("content") or "")
            reply.finish_reason = part.get("finish_reason") or reply.finish_reason
    return "".join(pieces)


def stream_reply(choice: ModelChoice, messages: list[dict], *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 temperature: float = 0.7, top_p: float = 0.95, system: str | None = None) -> ReplyStream:
    """The model's reply to `messages`, as text pieces while it is generated (greedy when temperature is 0).
    `system` replaces the conversation's system message ("" removes it)."""
    _check_settings(max_new_tokens, temperature, top_p)
    if not messages:
        raise LabError("the conversation is empty: write a message first")
    conversation = _with_system(messages, system)
    if choice.kind == "teacher":
        return ReplyStream(lambda reply: _teacher_pieces(reply, choice, conversation, max_new_tokens, temperature,
                                                         top_p))
    loaded = get_cache().get(choice)  # here, not on the first read: ModelBusy and budget errors come at once
    return ReplyStream(lambda reply: _local_pieces(reply, choice, loaded, conversation, max_new_tokens, temperature,
                                                   top_p))


def ab_replies(choice_a: ModelChoice, choice_b: ModelChoice, messages: list[dict], **settings) -> tuple[str, str]:
    """Both models' full answers to the same conversation with the same settings, one after the other."""
    return ("".join(stream_reply(choice_a, messages, **settings)),
            "".join(stream_reply(choice_b, messages, **settings)))


def recipe_prompt(dataset_ref: str, row_index: int) -> dict:
    """Row `row_index` (0-based) of a dataset as the recipe prompts a model with it, the gold labels and the
    teacher trace to compare the reply with, and settings that suit the recipe."""
    version = resolve(dataset_ref)
    recipe = get_recipe(version.recipe)
    row = row_at(version, row_index)
    messages = prompt_messages(recipe, row)
    system = next((m["content"] for m in messages if m["role"] == "system"), None)
    max_new_tokens = recipe.templates[0].max_tokens if recipe.templates else DEFAULT_MAX_NEW_TOKENS
    return {"messages": messages, "gold": recipe.gold_labels(row), "trace": row.get("trace"),
            "defaults": {"max_new_tokens": max_new_tokens, "temperature": 0.0, "system": system}}


def parse_reply(recipe_name: str, text: str) -> dict:
    """The labels the recipe reads in a reply (the keys recipe_prompt's "gold" has)."""
    return get_recipe(recipe_name).parse_output(text)
