"""LangGraph stores: :class:`ChromaStore`, a faithful ``BaseStore`` on ChromaDB."""

from __future__ import annotations

from memcollab_langgraph.store.chroma import ChromaStore

__all__ = ["ChromaStore"]
