import 'dart:math';

final _random = Random.secure();

/// A new random envelope id: a version 4 UUID in lowercase `8-4-4-4-12` form, as C#
/// generates them. (pub `lime` 0.0.25 built ids from `Math.random`; this uses the secure
/// random source.)
String guid() {
  final bytes = List<int>.generate(16, (_) => _random.nextInt(256));
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  final hex = bytes.map((b) => b.toRadixString(16).padLeft(2, '0')).join();
  return '${hex.substring(0, 8)}-${hex.substring(8, 12)}-${hex.substring(12, 16)}-'
      '${hex.substring(16, 20)}-${hex.substring(20)}';
}
