"""LLM plumbing for the LLM agent: prompts, answers, and the chat client.

The agent itself is :class:`arena.agents.llm.LLMAgent` (registered as ``llm``).
This package never imports panel, bokeh or holoviews.
"""

from arena.llm.answer import AnswerError, answer_schema, parse_answer
from arena.llm.client import CallError, ChatClient, ChatResult
from arena.llm.prompt import DEFAULT_SYSTEM, DEFAULT_TEMPLATE, PromptError, build_prompt

__all__ = [
    "DEFAULT_SYSTEM", "DEFAULT_TEMPLATE", "AnswerError", "CallError", "ChatClient",
    "ChatResult", "PromptError", "answer_schema", "build_prompt", "parse_answer",
]
