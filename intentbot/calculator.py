"""Answer arithmetic typed in words or symbols ("what is 12 times 7", "15% of 80").

The expression is parsed with `ast` and only numbers and arithmetic operators are evaluated,
so nothing a user types can run code.
"""

from __future__ import annotations

import ast
import math
import operator
import re

_WORDS = (
    (r"\bdivided by\b|\bover\b", "/"),
    (r"\bmultiplied by\b|\btimes\b|(?<=\d)\s*x\s*(?=\d)|\u00d7", "*"),
    (r"\bplus\b|\badded to\b", "+"),
    (r"\bminus\b|\bless\b", "-"),
    (r"\bto the power of\b|\^", "**"),
    (r"(\d+(?:\.\d+)?)\s*(?:%|percent)\s*of\b", r"\1/100*"),
    (r"\b(?:square root of|sqrt(?: of)?)\s*(\d+(?:\.\d+)?)", r"sqrt(\1)"),
    (r"\bsquared\b", "**2"),
)
_EXPRESSION = re.compile(r"[\d.()+\-*/\s]*\d[\d.()+\-*/\s]*|sqrt\([\d.]+\)")
_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
MAX_EXPONENT = 100


def calculate(text: str) -> str | None:
    """The result as text, or None when `text` holds no computable expression."""
    expression = text.lower()
    for pattern, replacement in _WORDS:
        expression = re.sub(pattern, replacement, expression)
    candidates = [match.group().strip() for match in _EXPRESSION.finditer(expression)]
    candidates = [candidate for candidate in candidates if candidate]
    if not candidates:
        return None
    expression = max(candidates, key=len) if "sqrt" not in expression else _with_sqrt(expression)
    try:
        value = _evaluate(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError, RecursionError):
        return None
    return f"{value:,.10g}"


def _with_sqrt(expression: str) -> str:
    kept = re.findall(r"sqrt\([\d.]+\)|[\d.()+\-*/]+", expression)
    return "".join(kept)


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ValueError("exponent too large")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "sqrt" and node.args:
        return math.sqrt(_evaluate(node.args[0]))
    raise ValueError(f"unsupported expression: {ast.dump(node)}")
