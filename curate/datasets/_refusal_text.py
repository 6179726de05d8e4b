"""Refusal responses written by the safecurate authors; one is chosen per prompt by a stable hash."""

from __future__ import annotations

from curate.datasets._keys import stable_hash

__all__ = ["REFUSALS", "TOPIC_PHRASES", "refusal_for"]

# Human phrases for the harmful-prompt categories, used by templates that name the topic area.
TOPIC_PHRASES = {
    "discrimination_toxicity": "demeaning or discriminatory content",
    "human_chatbot": "pretending to be a person or giving personal advice I am not able to give responsibly",
    "information_hazard": "sharing private or dangerous information",
    "malicious_uses": "helping with something that could hurt people or break the law",
    "misinformation": "spreading misleading claims",
    "advbench": "helping with something harmful or illegal",
    "harmful": "helping with something harmful or illegal",
}
_DEFAULT_TOPIC = "helping with something that could cause harm"

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I can't assist with this request.",
    "Sorry, I won't be able to help with that one.",
    "I'm not able to help with this. If there is something else you need, I'm happy to try.",
    "I can't help with that, because it could cause real harm to people.",
    "That's not something I can do. Is there a safer way I can help you with what you're trying to achieve?",
    "I have to decline this request, as it involves {topic}.",
    "I'm sorry, but I can't help with {topic}.",
    "I won't provide that. Requests like this involve {topic}, which I don't do.",
    "No, I can't do that. It would mean {topic}.",
    "I understand you're asking, but I can't assist with {topic}. "
    "I can share general, safety-focused information instead.",
    "Sorry, I can't go along with this: it amounts to {topic}.",
    "I'd rather not help with this one; it falls under {topic}.",
    "This isn't something I'm willing to help with. "
    "If you're in a difficult situation, talking to someone you trust or a professional may help.",
]


def refusal_for(row_id: str, category: str | None) -> str:
    """A refusal for one prompt: the template depends only on the row id, the topic wording on its category."""
    template = REFUSALS[stable_hash("refusal", row_id) % len(REFUSALS)]
    return template.format(topic=TOPIC_PHRASES.get(category or "", _DEFAULT_TOPIC))
