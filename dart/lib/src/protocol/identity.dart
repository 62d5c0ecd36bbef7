import '../native.dart';
import '../rust/api/node.dart' as rust;

String? _key(String? part) => part == null || part.trim().isEmpty ? null : part.toLowerCase();

/// `name@domain`: who a party is, regardless of the connection it uses.
///
/// Parsing follows the C# implementation (in the Rust core): the text is split on every `@`,
/// the name is the first piece and the domain the second up to its first `/`; a blank part
/// is absent. Equality ignores case.
class Identity {
  /// An identity from its parts.
  Identity({this.name, this.domain});

  /// The part before `@`.
  String? name;

  /// The part after `@`.
  String? domain;

  /// `name@domain`, or just the name when there is no domain.
  @override
  String toString() {
    final d = domain;
    if (d == null || d.trim().isEmpty) return name ?? '';
    return '${name ?? ''}@$d';
  }

  @override
  bool operator ==(Object other) =>
      other is Identity &&
      other is! Node &&
      _key(name) == _key(other.name) &&
      _key(domain) == _key(other.domain);

  @override
  int get hashCode => Object.hash(_key(name), _key(domain));

  /// Parses `name@domain`. Throws an [ArgumentError] for null or empty text.
  static Identity parse(String? s) {
    if (s == null || s.isEmpty) throw ArgumentError.value(s, 's', 'An identity cannot be empty');
    final dto = native(() => rust.parseIdentity(text: s));
    return Identity(name: dto.name, domain: dto.domain);
  }

  /// [parse], or null when [s] is not an identity.
  static Identity? tryParse(String? s) {
    try {
      return parse(s);
    } on Object {
      return null;
    }
  }

  /// A copy of this identity.
  Identity copy() => Identity(name: name, domain: domain);
}

/// `name@domain/instance`: one connected party.
///
/// The instance is everything after the `/` that follows the domain (it may contain `/`;
/// `a@b.com/` has the empty instance). Equality ignores case; an absent instance differs
/// from an empty one.
class Node extends Identity {
  /// A node from its parts.
  Node({super.name, super.domain, this.instance});

  /// The instance (the connection) of the identity.
  String? instance;

  /// `name@domain/instance` (no `/` without an instance).
  @override
  String toString() {
    final i = instance;
    return i == null ? super.toString() : '${super.toString()}/$i';
  }

  @override
  bool operator ==(Object other) =>
      other is Node &&
      _key(name) == _key(other.name) &&
      _key(domain) == _key(other.domain) &&
      instance?.toLowerCase() == other.instance?.toLowerCase();

  @override
  int get hashCode => Object.hash(_key(name), _key(domain), instance?.toLowerCase());

  /// Parses `name@domain/instance`. Throws an [ArgumentError] for null or blank text and a
  /// [LimeException] for text that is not a node (`@`).
  static Node parse(String? s) {
    if (s == null || s.trim().isEmpty) {
      throw ArgumentError.value(s, 's', 'A node cannot be empty');
    }
    return nodeFromDto(native(() => rust.parseNode(text: s)));
  }

  /// True when [s] is a node (pub `lime` 0.0.25 returns a bool here, not the node).
  static bool tryParse(String s) {
    try {
      parse(s);
      return true;
    } on Object {
      return false;
    }
  }

  /// The identity of this node (without the instance).
  Identity toIdentity() => Identity(name: name, domain: domain);

  /// True when name, domain and instance are all non-empty.
  bool isComplete() =>
      (name?.isNotEmpty ?? false) && (domain?.isNotEmpty ?? false) && (instance?.isNotEmpty ?? false);
}

/// A [Node] from the parts the Rust core parsed.
Node nodeFromDto(rust.NodeDto dto) =>
    Node(name: dto.name, domain: dto.domain, instance: dto.instance);
