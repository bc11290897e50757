"""A bounded RAM prompt cache for ``llama_cpp.server`` (llama-cpp-python 0.3.x), and the script that runs it.

llama.cpp reuses the evaluated prefix of the previous request only. llama-cpp-python's ``LlamaRAMCache``
keeps the states of recent requests, so a request that shares a long prefix with any of them (the
classifier's taxonomy, the distiller's rules) restores that state instead of evaluating the prefix again.
As shipped it is not bounded: ``Llama.save_state()`` copies the model's logits buffer into every state
(a row of vocabulary-size floats per token: with ``logits_all=True``, llama_cpp.server's default, 600 kB
a token for Qwen2.5; with ``False`` up to ``n_batch`` rows, 311 MB for Qwen2.5, 100 MB for SmolLM2) and
its ``cache_size`` counts only the llama.cpp state, so the budget is ignored (a 512 MiB budget grew a Qwen
server past 23 GB).

:class:`BoundedRAMCache` keeps instead:

* no logits copy, unless the model was created with ``logits_all=True`` (where they back ``logprobs``).
  With ``logits_all=False`` nothing reads them: llama.cpp's sampler samples from its own logits, and
  ``Llama.generate`` decodes at least one token after restoring a state. ``Llama.load_state`` broadcasts
  the 1x1 array it keeps in their place. (:func:`install` also shrinks such a model's own logits buffer
  to one row, which ``save_state`` would copy and ``load_state`` fill in full);
* only what fits: every byte a state holds (llama.cpp state, token ids, logits, key) counts against
  ``capacity_bytes``, least recently used states go first, and a state larger than the whole budget is
  not kept.

:func:`install` makes ``llama_cpp.server`` give its models this cache. Run as a script,
``python -P prompt_cache.py llama_cpp.server --config_file FILE`` installs it and runs the server: that
is how :class:`~memcollab_langgraph.local.LocalServer` starts servers (:func:`main`). The module imports
only numpy and llama-cpp-python, not this package (about 4 s and 120 MB a server would pay for nothing);
``-P`` keeps this file's directory off ``sys.path``.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from llama_cpp.llama import LlamaState
from llama_cpp.llama_cache import LlamaRAMCache

if TYPE_CHECKING:
    from llama_cpp.llama import Llama
    from llama_cpp.server.settings import ModelSettings

__all__ = ["BoundedRAMCache", "install", "main", "state_nbytes"]

# A Python int outside the small-int cache (token ids above 256) is its own 28-byte object.
_INT_NBYTES = sys.getsizeof(2**20)
_INSTALLED = "_memcollab_bounded_cache"
_USAGE = "usage: python -P prompt_cache.py llama_cpp.server [server arguments...]"


def state_nbytes(state: LlamaState) -> int:
    """The bytes a llama-cpp-python state holds: llama.cpp's state (KV cache...), token ids and logits.

    Example:
        >>> state = LlamaState(np.zeros(8, np.intc), np.zeros((2, 10), np.single), 2, bytes(100), 100, 0)
        >>> state_nbytes(state)  # 100 + 8 x 4 + 2 x 10 x 4
        212
    """
    return len(state.llama_state) + state.input_ids.nbytes + state.scores.nbytes


def _key_nbytes(key: tuple[int, ...]) -> int:
    return sys.getsizeof(key) + _INT_NBYTES * sum(1 for token in key if not -5 <= token <= 256)


class BoundedRAMCache(LlamaRAMCache):
    """``LlamaRAMCache`` whose size counts every byte it keeps and that keeps no unused logits.

    Lookups are the parent's: the state whose tokens share the longest prefix with the prompt, which
    then becomes the most recently used.

    Args:
        capacity_bytes: The budget; the states kept never hold more than this.
        keep_scores: Keep each state's logits copy; needed only for models created with
            ``logits_all=True`` (``logprobs``). Otherwise it is replaced by a 1x1 zero array.
        verbose: Print the cache's size to stderr after each store, as llama-cpp-python's verbose
            messages do.

    Raises:
        ConfigurationError: A negative or non-int ``capacity_bytes``.

    Example:
        >>> cache = BoundedRAMCache(capacity_bytes=2**20)
        >>> logits = np.ones((512, 1000), np.single)  # what save_state copies: 2 MB
        >>> cache[(1, 2, 3)] = LlamaState(np.zeros(64, np.intc), logits, 3, bytes(1000), 1000, 0)
        >>> cache[(1, 2, 9, 9)].scores.shape, cache.cache_size <= cache.capacity_bytes
        ((1, 1), True)
    """

    def __init__(self, capacity_bytes: int, *, keep_scores: bool = False, verbose: bool = False) -> None:
        if isinstance(capacity_bytes, bool) or not isinstance(capacity_bytes, int) or capacity_bytes < 0:
            # Imported here only: the server process does not otherwise load this package.
            from memcollab_langgraph.errors import ConfigurationError

            raise ConfigurationError(f"capacity_bytes must be an int >= 0, got {capacity_bytes!r}")
        super().__init__(capacity_bytes)
        self.keep_scores = keep_scores
        self.verbose = verbose
        self._nbytes: dict[tuple[int, ...], int] = {}

    @property
    def cache_size(self) -> int:
        """Bytes held by the states kept: llama.cpp state, token ids, logits and the token-tuple keys."""
        return sum(self._nbytes.values())

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        """Keep ``value`` under ``key`` (its tokens), evicting least recently used states to fit the budget."""
        tokens = tuple(key)
        if not self.keep_scores:
            value = LlamaState(
                input_ids=value.input_ids,
                scores=np.zeros((1, 1), dtype=np.single),
                n_tokens=value.n_tokens,
                llama_state=value.llama_state,
                llama_state_size=value.llama_state_size,
                seed=value.seed,
            )
        nbytes = state_nbytes(value) + _key_nbytes(tokens)
        self._discard(tokens)
        if nbytes <= self.capacity_bytes:
            while self.cache_state and self.cache_size + nbytes > self.capacity_bytes:
                self._discard(next(iter(self.cache_state)))
            self.cache_state[tokens] = value
            self._nbytes[tokens] = nbytes
        if self.verbose:
            kept = "kept" if tokens in self.cache_state else "not kept (larger than the budget)"
            print(
                f"BoundedRAMCache: state of {len(tokens)} tokens, {nbytes} bytes, {kept}; "
                f"{len(self.cache_state)} states, {self.cache_size} of {self.capacity_bytes} bytes",
                file=sys.stderr,
            )

    def _discard(self, tokens: tuple[int, ...]) -> None:
        self.cache_state.pop(tokens, None)
        self._nbytes.pop(tokens, None)


def install() -> None:
    """Make ``llama_cpp.server`` give each model it loads with a RAM cache a :class:`BoundedRAMCache`.

    Wraps ``LlamaProxy.load_llama_from_model_settings``: after the model is created (with the stock
    cache), a model whose settings say ``cache=true, cache_type="ram"`` gets a bounded cache of
    ``cache_size`` bytes instead, keeping logits only if the model computes them for every token
    (``logits_all`` or a draft model). Such a model without them also gets a one-row logits buffer
    (:func:`_shrink_logits_buffer`). The disk cache is left alone. Calling it again is a no-op.
    """
    from llama_cpp.server.model import LlamaProxy

    original = LlamaProxy.load_llama_from_model_settings
    if getattr(original, _INSTALLED, False):
        return

    def load_llama_from_model_settings(settings: ModelSettings) -> Llama:
        llama = original(settings)
        if settings.cache and settings.cache_type == "ram":
            keep_scores = settings.logits_all or settings.draft_model is not None
            if settings.verbose:
                print(
                    f"BoundedRAMCache: {settings.cache_size} bytes for {settings.model_alias}, "
                    f"{'keeping' if keep_scores else 'dropping'} logits",
                    file=sys.stderr,
                )
            if not keep_scores:
                _shrink_logits_buffer(llama)
            llama.set_cache(BoundedRAMCache(settings.cache_size, keep_scores=keep_scores, verbose=settings.verbose))
        return llama

    setattr(load_llama_from_model_settings, _INSTALLED, True)
    # setattr: mypy does not allow assigning to a method, and this is the documented point of the patch.
    setattr(LlamaProxy, "load_llama_from_model_settings", staticmethod(load_llama_from_model_settings))  # noqa: B010


def _shrink_logits_buffer(llama: Llama) -> None:
    """Give a ``logits_all=False`` model a one-row logits buffer instead of ``n_batch`` rows.

    Nothing writes that buffer when ``logits_all=False``, but with a cache ``Llama.save_state`` copies
    ``n_batch`` rows of it at every store (a transient 311 MB for Qwen2.5) and ``Llama.load_state`` fills
    as many rows (311 MB that then stay resident): measured with Qwen2.5-Coder-0.5B and a 256 MiB cache,
    1615 MiB peak without this against 1128 MiB with it (863 MiB without a cache). The one row keeps the
    shapes those methods and the stopping criteria (which read row -1) need.
    """
    llama.scores = np.zeros((1, llama.n_vocab()), dtype=np.single)


def main(argv: Sequence[str] | None = None) -> None:
    """Install the bounded cache, then run the module ``argv[0]`` (``llama_cpp.server``) as ``python -m`` would.

    The module name stays on the command line, so the process is still recognisable as a
    ``llama_cpp.server`` (detached servers are identified by ``/proc/<pid>/cmdline``).

    Args:
        argv: The module to run and its arguments; default ``sys.argv[1:]``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print(_USAGE, file=sys.stderr)
        raise SystemExit(2)
    install()
    sys.argv = [args[0], *args[1:]]
    runpy.run_module(args[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
