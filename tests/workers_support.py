"""Moved to :mod:`support.nodes`; kept for bench/workers.py, which imports it by this name."""

from support.nodes import RunningNode as RunningNode
from support.nodes import node_env as node_env
from support.nodes import start_node as start_node
