"""Example graphs for ``langgraph dev`` (LangGraph Studio), built only from the library's factories.

Each module is a thin wrapper: it opens the team described by a configuration file and hands it to a
:mod:`memcollab_langgraph.graphs` factory. ``langgraph.json`` at the repository root lists them:

* :mod:`graphs.build_memory`: one training task -> every agent -> verify -> contrastive distillation.
* :mod:`graphs.solve_with_memory`: classify -> retrieve constraints -> solve -> verify -> record utility.
* :mod:`graphs.react_with_memory`: the prebuilt ReAct agent with the shared memory as a pre-model hook.
* :mod:`graphs.store`: the store the server gives every graph (the configuration's ChromaStore).
* :mod:`graphs.team`: the configuration the graphs and the store read, opened once per process.
* :mod:`graphs.offline`: deterministic stand-ins for the team's models (notebooks and CI), and
  :mod:`graphs.offline_evaluation`: a small evaluation run made with them.

The configuration is the TOML file named by ``$MEMCOLLAB_CONFIG`` (default
``configs/local-team.toml``). Run ``langgraph dev`` from the repository root, which puts it on
``sys.path`` so that these modules can import ``graphs.team``.
"""
