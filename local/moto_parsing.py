"""moto's DynamoDB expressions parsed once per expression text, validated with less copying, and item sizes checked
once per write.

The gateway sends the same few expression texts over and over (names and values vary, the text does not), but moto
lexes and parses every ConditionExpression and UpdateExpression on every call, twice for an update (once to validate
the request, once to apply it) and once more inside a transaction. On the chat path that was about a fifth of the
local DynamoDB server's CPU. Here:

- ``UpdateExpressionParser.make`` keeps its syntax tree per text. moto never changes that tree: its validator works
  on a deep copy, and the request handler only reads it.
- A ConditionExpression's tree is kept per text with each ``#name`` and ``:value`` left as a placeholder (the
  gateway's names vary per request: a hold is named by its request id); a call fills in its own (a missing one
  raises the KeyError moto's parser raises) and moto builds the operators from that tree as before. Reserved words
  are checked on the text itself, as moto does.
- An update's validation copies its tree without ``copy.deepcopy``, finds each node's processor once per node class,
  checks the tree's clause counts once per text and its overlapping paths once per call
  (``_install_lighter_validation``).
- ``LimitedSizeDict`` (an item's attributes) summed the size of the whole item on every attribute set, so writing an
  item of n attributes cost n² sizes. Its 400 KB check now runs once, when an item is built and after an update
  expression or AttributeUpdates has run, and raises the same error moto raises.

Failed parses are not kept: a bad expression takes moto's own path, with its own error, every time.
``tests/unit/test_moto_parsing.py`` checks each against moto's own parser.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

_ITEM_LIMIT_BYTES = 405_000  # moto's own bound (DynamoDB's 400 KB, measured by moto at 409-410 KB)
_COUNTS_CHECKED = "_gw_action_counts_checked"
_TREE_PASSES = "_gw_whole_tree_has_no_overlapping_paths"
_installed = False
original_condition_parse: Any = None  # moto's own ConditionExpressionParser.parse, once installed


class _Placeholder:
    """Stands for a ``#name`` or ``:value`` in a cached condition tree; ``_fill`` swaps in the call's own."""

    __slots__ = ("name", "values")

    def __init__(self, name: str, values: bool) -> None:
        self.name, self.values = name, values


class _Placeholders(dict[str, Any]):
    def __init__(self, values: bool) -> None:
        super().__init__()
        self.values = values

    def __missing__(self, name: str) -> _Placeholder:
        return _Placeholder(name, self.values)


def _tree(parser_class: Any, expression: str) -> tuple[Any, frozenset[int], list[str], list[str]]:
    """moto's parse up to (not including) building operators, with names and values left as placeholders."""
    parser = parser_class(expression, _Placeholders(values=False), _Placeholders(values=True))
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    return node, frozenset(_holders(node)), parser._find_literals(node), parser._find_expr_attr_values(node)


def _holders(node: Any) -> set[int]:
    """The ids of the nodes that hold a placeholder or have one below them: ``_fill`` rebuilds only those (the
    gateway's admission condition is a tree of ~100 nodes, ~20 of them names and values)."""
    found: set[int] = set()
    for child in node.children:
        found |= _holders(child)
    if found or isinstance(node.value, _Placeholder):
        found.add(id(node))
    return found


def _fill(node: Any, holders: frozenset[int], names: dict[str, str] | None, values: dict[str, Any] | None) -> Any:
    """The tree with this call's names and values; a missing one raises the KeyError moto's parser raises. Nodes are
    moto's namedtuples (nonterminal, kind, text, value, children), rebuilt only on the way to a placeholder."""
    if id(node) not in holders:
        return node
    held = node[3]
    if isinstance(held, _Placeholder):
        filled = (values if held.values else names)[held.name]  # type: ignore[index]
        return tuple.__new__(type(node), (node[0], node[1], node[2], filled, node[4]))
    children = [_fill(child, holders, names, values) for child in node[4]]
    return tuple.__new__(type(node), (node[0], node[1], node[2], held, children))


def _install_condition_cache() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    global original_condition_parse
    original = original_condition_parse = ConditionExpressionParser.parse
    trees = lru_cache(maxsize=1024)(lambda expression: _tree(ConditionExpressionParser, expression))

    def parse(self: Any) -> Any:
        if not self.condition_expression:
            return original(self)
        try:
            node, holders, found_names, found_values = trees(self.condition_expression)
        except Exception:  # noqa: BLE001 - moto's own parse raises its own error for a bad expression
            return original(self)
        node = _fill(node, holders, self.expression_attribute_names, self.expression_attribute_values)
        self.expr_attr_names_found.extend(found_names)
        self.expr_attr_values_found.extend(found_values)
        return self._make_op_condition(node)

    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


def _install_update_cache() -> None:
    from moto.dynamodb.parsing.ast_nodes import Node, UpdateExpression
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import ActionCountValidator

    make = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]

    counter = ActionCountValidator()

    def mark_counted(node: Any) -> None:
        """Flag each node whose clause counts pass (moto checks every UpdateExpression node of the tree, nested
        ones too); a node that fails is left for moto's validator to refuse, at its own time, on every call."""
        for child in node.children or ():
            if isinstance(child, Node):
                mark_counted(child)
        if isinstance(node, UpdateExpression):
            try:
                counter.verify_action_counts(node)
            except Exception:  # noqa: BLE001 - whatever moto raises, it raises again while validating
                return
            node.__dict__[_COUNTS_CHECKED] = True

    @lru_cache(maxsize=1024)
    def parsed(text: str) -> Any:
        tree = make(UpdateExpressionParser, text)
        mark_counted(tree)
        return tree

    UpdateExpressionParser.make = classmethod(lambda cls, text: parsed(text))  # type: ignore[assignment]


def _copy_tree(node: Any, node_class: type) -> Any:
    """A copy of a syntax tree, as ``copy.deepcopy`` makes it (each node and its children new, parents re-pointed),
    without deepcopy's generic per-object dispatch and memo. Leaves that are not nodes are strings in a parsed tree;
    anything else is deep-copied as before."""
    new = object.__new__(type(node))
    new.__dict__.update(node.__dict__)
    if node.children is not None:
        children = []
        for child in node.children:
            if isinstance(child, node_class):
                child = _copy_tree(child, node_class)
                child.parent = new
            elif not (child is None or type(child) in (str, int, float, bool)):
                child = copy.deepcopy(child)
            children.append(child)
        new.children = children
    return new


def _install_lighter_validation() -> None:
    """moto validates an update by deep-copying its syntax tree, then walking it with ten processors, each asking at
    every node, through ABC ``isinstance`` checks against a map of node classes it rebuilt each time, whether and how
    to process it. Here the copy is made by ``_copy_tree`` (a root tree; any other object still by ``copy.deepcopy``),
    and each processor answers that question once per node class (the first class of its map the node is an instance
    of, in the map's order, as ``DepthFirstTraverser.process`` chooses). The tree's action counts (at most one SET,
    ADD and REMOVE clause) depend on its text alone, so they are checked once per cached tree."""
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    is_node: dict[type, bool] = {}

    def tree_copy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Node) and value.parent is None:
            return _copy_tree(value, Node)
        return copy.deepcopy(value, memo)

    handled_by: dict[tuple[type, type], type | None] = {}  # (processor class, node class) -> the map key it takes

    def processor_for(traverser: Any, node_class: type) -> Any:
        """The processor's function for a node class: the map's first key the class is a subclass of (the map's
        keys are fixed per processor class; its functions are bound to the instance, whose map is built once)."""
        mapping = traverser.__dict__.get("_gw_processing_map")
        if mapping is None:
            mapping = traverser.__dict__["_gw_processing_map"] = traverser._processing_map()
        key = (type(traverser), node_class)
        if key not in handled_by:
            handled_by[key] = next((handled for handled in mapping if issubclass(node_class, handled)), None)
        handled = handled_by[key]
        return None if handled is None else mapping[handled]

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        node_class = type(node)
        known = is_node.get(node_class)
        if known is None:
            known = is_node[node_class] = issubclass(node_class, Node)
        if known:
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    traverse_node_recursively(self, child_node, i)
            processor = processor_for(self, node_class)
            if processor is not None:
                node = processor(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    verify_action_counts = validators.ActionCountValidator.verify_action_counts

    def counts_checked_once(self: Any, node: Any) -> Any:
        if node.__dict__.get(_COUNTS_CHECKED):  # set by _install_update_cache on the cached tree, copied with it
            return node
        return verify_action_counts(self, node)

    check_for_overlapping_paths = validators.OverlappingPathsValidator.check_for_overlapping_paths

    def overlaps_checked_once(self: Any, node: Any) -> Any:
        """moto checks every UpdateExpression node of the tree (most of them) for overlapping paths, each over the
        actions below it: a subset of the whole tree's actions, and an overlap among a subset is one among the whole.
        So when the whole tree passes, every node does; when it does not, each node is checked as moto does, so the
        same node raises the same error."""
        whole = self.__dict__.get(_TREE_PASSES)
        if whole is None:
            root = node
            while root.parent is not None:
                root = root.parent
            try:
                check_for_overlapping_paths(self, root)
                whole = True
            except Exception:  # noqa: BLE001 - raised again below, by the node moto would have raised it for
                whole = False
            self.__dict__[_TREE_PASSES] = whole
        return node if whole else check_for_overlapping_paths(self, node)

    validators.deepcopy = tree_copy  # type: ignore[attr-defined]
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively  # type: ignore[method-assign]
    validators.ActionCountValidator.verify_action_counts = counts_checked_once  # type: ignore[method-assign]
    validators.OverlappingPathsValidator.check_for_overlapping_paths = overlaps_checked_once  # type: ignore[method-assign]


def _size(attrs: dict[str, Any]) -> int:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    return sum(bytesize(key) + (value.size() if type(value) is DynamoType else bytesize(str(value)))
               for key, value in attrs.items())


def _check_size(attrs: dict[str, Any]) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge

    if _size(attrs) > _ITEM_LIMIT_BYTES:
        raise ItemSizeTooLarge


def _install_size_check_once() -> None:
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[assignment, method-assign]
    item_init, execute, attribute_updates = (Item.__init__, UpdateExpressionExecutor.execute,
                                             Item.update_with_attribute_updates)

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        item_init(self, *args, **kwargs)
        _check_size(self.attrs)

    def execute_then_check(self: Any, node: Any = None) -> None:
        execute(self, node)
        if node is None:  # the whole expression, not one of its recursive steps
            _check_size(self.item.attrs)

    def update_then_check(self: Any, updates: dict[str, Any]) -> None:
        attribute_updates(self, updates)
        _check_size(self.attrs)

    Item.__init__ = init  # type: ignore[method-assign]
    UpdateExpressionExecutor.execute = execute_then_check  # type: ignore[method-assign]
    Item.update_with_attribute_updates = update_then_check  # type: ignore[method-assign]


def install() -> None:
    global _installed
    if _installed:
        return
    _install_condition_cache()
    _install_update_cache()
    _install_lighter_validation()
    _install_size_check_once()
    _installed = True

