"""RFC 5280 6.1 certificate policy processing: the valid_policy_tree.

The caller chooses the 6.1.1 inputs (`PolicyInputs`); the defaults are what Apple's basic
evaluation uses: user-initial-policy-set = {anyPolicy}, no initial explicit policy, mapping or
anyPolicy inhibition.  The certificates' own policy constraints, mappings (6.1.4 (a), (b)) and
inhibitAnyPolicy are applied as 6.1.3 to 6.1.5 say.  A path fails (check PolicyConstraints) when
an explicit policy is required and no policy is valid for the whole path (or none in the
user-initial-policy-set), or when a policy mapping names anyPolicy (6.1.4 (a)).

The tree can grow exponentially with policy mappings (the reason for RFC 9618); the number of
nodes is capped by MAX_POLICY_NODES and running over it fails the path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from trustd.core.certificates import Certificate
from trustd.core.der import POLICY_MAPPINGS, DERProblem, policy_mappings
from trustd.core.results import CheckName
from trustd.core.verdict import Failure

ANY_POLICY = "2.5.29.32.0"
_CONSTRAINING = frozenset({"2.5.29.36", POLICY_MAPPINGS})  # policyConstraints, policyMappings
# Real paths have a handful of policies per certificate; 1,000 nodes is far above any of them
# and far below what a hostile mapping chain could otherwise build.
MAX_POLICY_NODES = 1000


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    """The RFC 5280 6.1.1 (c), (e), (f), (g) inputs."""

    initial_policy_set: frozenset[str] | None = None  # None: {anyPolicy}
    explicit_policy: bool = False
    mapping_inhibit: bool = False
    any_policy_inhibit: bool = False

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_POLICY_INPUTS


DEFAULT_POLICY_INPUTS = PolicyInputs()


@dataclass(eq=False)
class _Node:
    valid_policy: str
    expected: set[str]
    parent: _Node | None
    depth: int
    children: list[_Node] = field(default_factory=list)


class _TooManyNodes(Exception):
    """The policy tree outgrew MAX_POLICY_NODES."""


class _Tree:
    """The valid_policy_tree; `levels[d]` holds the nodes of depth d."""

    def __init__(self) -> None:
        self.levels: list[list[_Node]] = [[_Node(ANY_POLICY, {ANY_POLICY}, None, 0)]]
        self.count = 1

    def add(self, parent: _Node, policy: str, expected: set[str]) -> _Node:
        self.count += 1
        if self.count > MAX_POLICY_NODES:
            raise _TooManyNodes
        node = _Node(policy, expected, parent, parent.depth + 1)
        parent.children.append(node)
        while len(self.levels) <= node.depth:
            self.levels.append([])
        self.levels[node.depth].append(node)
        return node

    def at(self, depth: int) -> list[_Node]:
        return self.levels[depth] if depth < len(self.levels) else []

    def delete(self, node: _Node) -> None:
        """Remove a node and its descendants."""
        if node.parent is not None and node in node.parent.children:
            node.parent.children.remove(node)
        stack = [node]
        while stack:
            current = stack.pop()
            if current in self.levels[current.depth]:
                self.levels[current.depth].remove(current)
            stack.extend(current.children)

    def prune(self, depth: int) -> None:
        """Delete nodes of depth below `depth` that have no children, repeatedly (6.1.3 (d)(3))."""
        for level in range(min(depth, len(self.levels)) - 1, -1, -1):
            for node in [n for n in self.levels[level] if not n.children]:
                self.delete(node)

    def empty(self) -> bool:
        return not self.levels[0]


def _policies(cert: Certificate) -> list[str] | None:
    found = cert.extension(x509.CertificatePolicies)
    if found is None:
        return None
    return [p.policy_identifier.dotted_string for p in found.value]


def _mappings(cert: Certificate) -> list[tuple[str, str]] | None:
    """PolicyMappings (RFC 5280 4.2.1.5), read from the DER: cryptography does not parse it.

    None when the extension cannot be decoded.
    """
    value = cert.raw_extension_value(POLICY_MAPPINGS)
    if value is None:
        return [] if POLICY_MAPPINGS not in cert.raw_extension_oids else None
    try:
        return policy_mappings(value)
    except DERProblem:
        return None


def policy_failures(
    path: Sequence[Certificate], anchored: bool, inputs: PolicyInputs = DEFAULT_POLICY_INPUTS
) -> Iterator[Failure]:
    """Failures of RFC 5280 policy processing for a path ending at an anchor."""
    if not anchored or len(path) < 2:
        return
    if inputs.is_default and not any(
        _CONSTRAINING & cert.raw_extension_oids.keys() for cert in path[:-1]
    ):
        # With the default inputs and without policy constraints or mappings below the anchor,
        # explicit_policy never reaches 0 and no mapping can name anyPolicy: processing cannot
        # fail (6.1.3-6.1.5).
        return
    try:
        problem = _process(list(reversed(path[:-1])), inputs)
    except _TooManyNodes:
        problem = (0, "policy tree too large")
    if problem is not None:
        yield Failure(problem[0], CheckName.PolicyConstraints, detail=problem[1])


def _process(certs: list[Certificate], inputs: PolicyInputs) -> tuple[int, str] | None:
    """Apply 6.1.2 to 6.1.5 to certs (issued by the anchor first); (index, reason) on failure."""
    n = len(certs)
    tree: _Tree | None = _Tree()
    explicit_policy = 0 if inputs.explicit_policy else n + 1
    policy_mapping = 0 if inputs.mapping_inhibit else n + 1
    inhibit_any = 0 if inputs.any_policy_inhibit else n + 1
    for i, cert in enumerate(certs, start=1):
        leaf_index = n - i  # chain position, leaf = 0
        self_issued = cert.is_self_issued
        policies = _policies(cert)
        if policies is not None and tree is not None:  # 6.1.3 (d)
            _add_policies(tree, i, policies, inhibit_any > 0 or (i < n and self_issued))
            tree.prune(i)
            if tree.empty():
                tree = None
        elif policies is None:
            tree = None  # 6.1.3 (e)
        if explicit_policy == 0 and tree is None:
            return leaf_index, "no valid certificate policy for the path"  # 6.1.3 (f)
        if i == n:
            break
        mappings = _mappings(cert)
        if mappings is None:
            return leaf_index, "policy mappings cannot be decoded"
        if any(ANY_POLICY in pair for pair in mappings):
            return leaf_index, "policy mapping names anyPolicy"  # 6.1.4 (a)
        if mappings and tree is not None:
            tree = _map(tree, i, mappings, policy_mapping > 0)  # 6.1.4 (b)
        if not self_issued:  # 6.1.4 (h)
            explicit_policy = max(explicit_policy - 1, 0)
            policy_mapping = max(policy_mapping - 1, 0)
            inhibit_any = max(inhibit_any - 1, 0)
        constraints = cert.extension(x509.PolicyConstraints)
        if constraints is not None:  # 6.1.4 (i)
            require = constraints.value.require_explicit_policy
            inhibit = constraints.value.inhibit_policy_mapping
            if require is not None:
                explicit_policy = min(explicit_policy, require)
            if inhibit is not None:
                policy_mapping = min(policy_mapping, inhibit)
        inhibit_ext = cert.extension(x509.InhibitAnyPolicy)
        if inhibit_ext is not None:  # 6.1.4 (j)
            inhibit_any = min(inhibit_any, inhibit_ext.value.skip_certs)
    # 6.1.5 wrap-up for the leaf.
    explicit_policy = max(explicit_policy - 1, 0)  # (a)
    leaf_constraints = certs[-1].extension(x509.PolicyConstraints)
    if leaf_constraints is not None and leaf_constraints.value.require_explicit_policy == 0:
        explicit_policy = 0  # (b)
    if tree is not None and inputs.initial_policy_set is not None:  # (g)
        tree = _intersect(tree, n, inputs.initial_policy_set)
    if explicit_policy == 0 and tree is None:
        detail = "no valid certificate policy for the path"
        if inputs.initial_policy_set is not None:
            detail = "no policy of the initial policy set is valid for the path"
        return 0, detail
    return None


def _add_policies(tree: _Tree, depth: int, policies: list[str], any_allowed: bool) -> None:
    """6.1.3 (d)(1) and (d)(2)."""
    parents = tree.at(depth - 1)
    for policy in dict.fromkeys(policies):
        if policy == ANY_POLICY:
            continue
        matched = [p for p in parents if policy in p.expected]
        if not matched:
            matched = [p for p in parents if p.valid_policy == ANY_POLICY]
        for parent in matched:
            tree.add(parent, policy, {policy})
    if ANY_POLICY in policies and any_allowed:
        for parent in parents:
            present = {child.valid_policy for child in parent.children}
            for expected in sorted(parent.expected - present):
                tree.add(parent, expected, {expected})
    while len(tree.levels) <= depth:
        tree.levels.append([])


def _map(tree: _Tree, depth: int, mappings: list[tuple[str, str]], allowed: bool) -> _Tree | None:
    """6.1.4 (b): apply policy mappings to the nodes at `depth`."""
    mapped: dict[str, set[str]] = {}
    for issuer_policy, subject_policy in mappings:
        mapped.setdefault(issuer_policy, set()).add(subject_policy)
    level = tree.at(depth)
    if allowed:  # (b)(1)
        for issuer_policy, subjects in mapped.items():
            nodes = [n for n in level if n.valid_policy == issuer_policy]
            if nodes:
                for node in nodes:
                    node.expected = set(subjects)
                continue
            for any_node in [n for n in level if n.valid_policy == ANY_POLICY]:
                if any_node.parent is not None:
                    tree.add(any_node.parent, issuer_policy, set(subjects))
        return tree
    for node in [n for n in level if n.valid_policy in mapped]:  # (b)(2)
        tree.delete(node)
    tree.prune(depth)
    return None if tree.empty() else tree


def _intersect(tree: _Tree, n: int, wanted: frozenset[str]) -> _Tree | None:
    """6.1.5 (g)(iii): keep the part of the tree the user-initial-policy-set asks for."""
    node_set = [
        node
        for level in tree.levels
        for node in level
        if node.parent is not None and node.parent.valid_policy == ANY_POLICY
    ]
    for node in node_set:  # (g)(iii)(2)
        if node.valid_policy != ANY_POLICY and node.valid_policy not in wanted:
            tree.delete(node)
    present = {node.valid_policy for node in node_set}
    for any_leaf in [n_ for n_ in tree.at(n) if n_.valid_policy == ANY_POLICY]:  # (g)(iii)(3)
        parent = any_leaf.parent
        if parent is not None:
            for policy in sorted(wanted - present):
                tree.add(parent, policy, {policy})
        tree.delete(any_leaf)
    tree.prune(n)  # (g)(iii)(4)
    return None if tree.empty() else tree
