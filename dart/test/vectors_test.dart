// The cross-language vectors (../tests/vectors, format in its README) through this package:
// the same cases the Rust core and the other bindings pass.
import 'dart:convert';
import 'dart:io';

import 'package:lime/lime.dart';
import 'package:lime/src/protocol/envelope.dart' show parseEnvelopeText;
import 'package:test/test.dart';

import 'support.dart';

List<Map<String, dynamic>> cases(String file) {
  final json = jsonDecode(File('${vectorsDir().path}/$file').readAsStringSync());
  return ((json as Map<String, dynamic>)['cases'] as List).cast<Map<String, dynamic>>();
}

String kindOf(Envelope e) {
  if (e is Message) return 'message';
  if (e is Notification) return 'notification';
  if (e is Command) return 'command';
  if (e is Session) return 'session';
  return 'envelope';
}

void main() {
  setUpAll(initForTests);

  group('envelopes.json', () {
    for (final c in cases('envelopes.json')) {
      final name = c['name'] as String;
      test(name, () {
        // from the wire text, as a transport hands it over
        final fromText = parseEnvelopeText(c['input'] as String);
        expect(kindOf(fromText), c['kind']);
        expect(fromText.toJson(), equals(c['canonical']));
        // from the decoded map, through the public API
        final fromMap = Envelope.fromJson(jsonDecode(c['input'] as String) as Map<String, dynamic>);
        expect(kindOf(fromMap), c['kind']);
        expect(fromMap.toJson(), equals(c['canonical']));
        // the canonical form is a fixed point (not for messages without content)
        if (!name.startsWith('message_content_null')) {
          final again = Envelope.fromJson(c['canonical'] as Map<String, dynamic>);
          expect(again.toJson(), equals(c['canonical']));
        }
      });
    }
  });

  group('invalid_envelopes.json', () {
    for (final c in cases('invalid_envelopes.json')) {
      test(c['name'] as String, () {
        expect(
          () => parseEnvelopeText(c['input'] as String),
          throwsA(isA<LimeException>().having((e) => e.kind, 'kind', LimeErrorKind.parse)),
        );
      });
    }
  });

  group('nodes.json', () {
    final file = jsonDecode(File('${vectorsDir().path}/nodes.json').readAsStringSync())
        as Map<String, dynamic>;
    for (final c in (file['cases'] as List).cast<Map<String, dynamic>>()) {
      final input = c['input'] as String;
      test('parse ${jsonEncode(input)}', () {
        if (c['valid'] == false) {
          expect(() => Node.parse(input), throwsA(anything));
          return;
        }
        final node = Node.parse(input);
        expect(node.name, c['name']);
        expect(node.domain, c['domain']);
        expect(node.instance, c['instance']);
        expect(node.toString(), c['display']);
        expect(node.toIdentity().toString(), c['identity']);
        expect(Node.tryParse(input), isTrue);
      });
    }
    for (final pair in (file['equality'] as List).cast<List<dynamic>>()) {
      test('${jsonEncode(pair[0])} == ${jsonEncode(pair[1])} is ${pair[2]}', () {
        final a = Node.parse(pair[0] as String);
        final b = Node.parse(pair[1] as String);
        expect(a == b, pair[2]);
        expect(b == a, pair[2]);
        if (pair[2] == true) expect(a.hashCode, b.hashCode);
      });
    }
  });

  group('media_types.json', () {
    for (final c in cases('media_types.json')) {
      final input = c['input'] as String;
      test(jsonEncode(input), () {
        if (c['valid'] == false) {
          expect(() => MediaType.parse(input), throwsA(anything));
          return;
        }
        final mt = MediaType.parse(input);
        expect(mt.type, c['type']);
        expect(mt.subtype, c['subtype']);
        expect(mt.suffix, c['suffix']);
        expect(mt.isJson(), c['is_json']);
        expect(mt.toString(), c['display']);
      });
    }
  });

  group('uris.json', () {
    for (final c in cases('uris.json')) {
      final input = c['input'] as String;
      test(jsonEncode(input), () {
        if (c['valid'] == false) {
          expect(() => LimeUri.parse(input), throwsA(anything));
          return;
        }
        final uri = LimeUri.parse(input);
        expect(uri.isRelative, c['relative']);
        expect(uri.toString(), c['display']);
      });
    }
  });
}
