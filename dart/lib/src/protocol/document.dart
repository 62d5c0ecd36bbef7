import 'dart:collection';

import 'enums.dart';
import 'media_type.dart';

/// A document: the content of a message or the resource of a command, with its media type.
///
/// Envelopes accept documents as their `content`/`resource` (written with their media type
/// unless `type` is set), or plain JSON values (`Map`, `List`, `String`, numbers).
abstract class Document {
  /// A document of [mediaType].
  Document({required this.mediaType});

  /// The media type.
  MediaType mediaType;

  /// The media type.
  MediaType getMediaType() => mediaType;

  /// A [PlainDocument] of this media type holding [value].
  Document? fromString(String? value) => value == null ? null : PlainDocument(value, mediaType);

  /// The value written on the wire: a JSON value for JSON media types, a string otherwise.
  /// Subclasses of JSON media types override it; by default the document's text.
  Object? toWireValue() => toString();
}

/// A document of a non-JSON media type (`text/plain`, `image/png` as base64, …): a string.
class PlainDocument extends Document {
  /// A document of [mediaType] without a value yet.
  PlainDocument.fromMedia(MediaType mediaType) : super(mediaType: mediaType);

  /// [val] as a document of [mediaType], which must not have a suffix (C# rule).
  PlainDocument(String val, MediaType mediaType) : super(mediaType: mediaType) {
    if (mediaType.suffix != null && mediaType.suffix!.isNotEmpty) {
      throw ArgumentError.value(mediaType.toString(), 'mediaType', 'Invalid media type: has a suffix');
    }
    value = val;
  }

  /// The text.
  String? value;

  @override
  String toString() => value ?? '';

  /// The text of [plainDocument].
  String? fromDocument(PlainDocument plainDocument) => plainDocument.value;

  @override
  Object? toWireValue() => value;
}

/// A document of a JSON media type (by default `application/json`): a JSON object, usable as
/// a [Map].
class JsonDocument extends Document with MapMixin<String, Object> {
  /// [json] as a document of [mediaType] (`application/json` by default).
  JsonDocument({required this.json, MediaType? mediaType})
      : super(mediaType: mediaType ?? MediaType.applicationJson) {
    if (!this.mediaType.isJson()) {
      throw ArgumentError.value(this.mediaType.toString(), 'mediaType', 'Not a JSON media type');
    }
  }

  /// The JSON object.
  final Map<String, Object> json;

  /// Changes the media type (it must be a JSON one).
  void setMediaType(MediaType mediaType) {
    if (!mediaType.isJson()) {
      throw ArgumentError.value(mediaType.toString(), 'mediaType', 'Not a JSON media type');
    }
    this.mediaType = mediaType;
  }

  @override
  Object? operator [](Object? key) => json[key];

  @override
  void operator []=(String key, Object value) => json[key] = value;

  @override
  void clear() => json.clear();

  @override
  Iterable<String> get keys => json.keys;

  @override
  Object? remove(Object? key) => json.remove(key);

  @override
  String toString() => json.toString();

  @override
  Object? toWireValue() => json;
}

/// Presence of a node (`application/vnd.lime.presence+json`).
class Presence extends Document {
  /// A presence document.
  Presence({
    this.status,
    this.message,
    this.routingRule,
    this.lastSeen,
    this.priority,
    this.filterByDistance,
    this.roundRobin,
    this.echo,
    this.promiscuous,
    this.instances,
  }) : super(mediaType: MediaType(type: 'application', subtype: 'vnd.lime.presence', suffix: 'json'));

  /// Reads a presence from its JSON map (unknown enum values are left out).
  factory Presence.fromJson(Map<String, dynamic> json) {
    T? byName<T extends Enum>(List<T> values, Object? name) {
      for (final v in values) {
        if (v.name == name) return v;
      }
      return null;
    }

    final lastSeen = json['lastSeen'];
    return Presence(
      status: byName(PresenceStatus.values, json['status']),
      message: json['message'] as String?,
      routingRule: byName(RoutingRule.values, json['routingRule']),
      lastSeen: lastSeen is String ? DateTime.tryParse(lastSeen) : null,
      priority: (json['priority'] as num?)?.toInt(),
      filterByDistance: json['filterByDistance'] as bool?,
      roundRobin: json['roundRobin'] as bool?,
      echo: json['echo'] as bool?,
      promiscuous: json['promiscuous'] as bool?,
      instances: (json['instances'] as List?)?.cast<String>(),
    );
  }

  /// `application/vnd.lime.presence+json`.
  static const mimeType = 'application/vnd.lime.presence+json';

  /// Availability.
  PresenceStatus? status;

  /// A status message.
  String? message;

  /// How envelopes to the identity are routed.
  RoutingRule? routingRule;

  /// When the node was last seen.
  DateTime? lastSeen;

  /// Routing priority among instances.
  int? priority;

  /// Route by distance.
  bool? filterByDistance;

  /// Round-robin among instances.
  bool? roundRobin;

  /// Echo sent envelopes to the node's other instances.
  bool? echo;

  /// Receive envelopes addressed to other instances too.
  bool? promiscuous;

  /// The node's instances.
  List<String>? instances;

  /// The JSON map (absent fields omitted; `lastSeen` in UTC ISO 8601).
  Map<String, dynamic> toJson() => {
        if (status != null) 'status': status!.name,
        if (message != null) 'message': message,
        if (routingRule != null) 'routingRule': routingRule!.name,
        if (lastSeen != null) 'lastSeen': lastSeen!.toUtc().toIso8601String(),
        if (priority != null) 'priority': priority,
        if (filterByDistance != null) 'filterByDistance': filterByDistance,
        if (roundRobin != null) 'roundRobin': roundRobin,
        if (echo != null) 'echo': echo,
        if (promiscuous != null) 'promiscuous': promiscuous,
        if (instances != null && instances!.isNotEmpty) 'instances': instances,
      };

  @override
  Object? toWireValue() => toJson();
}
