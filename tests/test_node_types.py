"""The node-type registry: each type of node in the model is run, built, checked
and described by exactly one node type, which owns all of its keys."""

from __future__ import annotations

from typing import get_args

from ivr.dialplan.nodes import NODE_TYPES, Node
from ivr.dialplan.schema import plan_schema


def test_every_node_class_of_the_model_has_one_node_type() -> None:
    registered = [kind.node_class for kind in NODE_TYPES.values()]
    assert sorted(c.__name__ for c in registered) == sorted(c.__name__ for c in get_args(Node))
    assert len(set(registered)) == len(registered)


def test_each_node_type_describes_exactly_the_keys_it_accepts() -> None:
    for name, kind in NODE_TYPES.items():
        assert set(kind.schema()) == kind.keys, name


def test_the_schema_offers_the_node_types_in_the_registry_order() -> None:
    nodes = plan_schema()["properties"]["nodes"]["additionalProperties"]["oneOf"]
    assert [n["properties"]["type"]["const"] for n in nodes] == list(NODE_TYPES)
