// What crosses between Dart and Rust follows lime-core's rules (lime::convert), the same in
// every binding: documents as text by media type, credentials in clear text.
import 'package:lime/lime.dart';
import 'package:lime/src/convert.dart' show credentialsDto;
import 'package:lime/src/protocol/envelope.dart' show parseEnvelopeText;
import 'package:lime/src/rust/api/enums.dart' show AuthenticationSchemeDto;
import 'package:test/test.dart';

import 'support.dart';

void main() {
  setUpAll(initForTests);

  group('documents', () {
    test('a string under a non-JSON media type is sent as is', () {
      final json = Message(type: 'text/plain', content: 'say "hi" {"a":1}').toJson();
      expect(json['content'], 'say "hi" {"a":1}');
    });

    test('a non-string value under a non-JSON media type is sent as its JSON text', () {
      expect(Message(type: 'text/plain', content: {'a': 1}).toJson()['content'], '{"a":1}');
      expect(Message(type: 'application/x-count', content: 5).toJson()['content'], '5');
    });

    test('JSON media types carry JSON values, strings included', () {
      expect(Message(type: 'application/json', content: 'x').toJson()['content'], 'x');
      final json = Message(type: 'application/vnd.x+json', content: {'b': [1, true]}).toJson();
      expect(json['content'], {'b': [1, true]});
    });

    test('received documents: a String for non-JSON media types, the JSON value otherwise', () {
      final text = parseEnvelopeText('{"type":"text/plain","content":"{\\"not\\":\\"json\\"}"}');
      expect((text as Message).content, '{"not":"json"}');
      final json = parseEnvelopeText('{"type":"application/json","content":{"a":[1]}}');
      expect((json as Message).content, {'a': [1]});
    });

    test('a media type the core refuses is an invalid argument naming the field', () {
      expect(
        () => Message(type: 'nope', content: 'x').toJson(),
        throwsA(isA<LimeException>()
            .having((e) => e.kind, 'kind', ErrorCategory.invalidArgument)
            .having((e) => e.reason.code, 'code', 21)
            .having((e) => e.reason.description, 'description', contains('media_type'))),
      );
    });
  });

  group('credentials', () {
    test('passwords, keys and tokens reach the core in clear text', () {
      final plain = credentialsDto(PlainAuthentication()..setToBase64Password('wonderland'));
      expect(plain.scheme, AuthenticationSchemeDto.plain);
      expect(plain.secret, 'wonderland');
      final key = credentialsDto(KeyAuthentication()..setToBase64Key('k3y'));
      expect((key.scheme, key.secret), (AuthenticationSchemeDto.key, 'k3y'));
      final external = credentialsDto(
          ExternalAuthentication(issuer: 'x.com')..setToBase64Token('t0ken'));
      expect((external.secret, external.issuer), ('t0ken', 'x.com'));
      final guest = credentialsDto(GuestAuthentication());
      expect((guest.scheme, guest.secret), (AuthenticationSchemeDto.guest, null));
    });

    test('a secret that is not base64 fails before anything is sent', () {
      expect(() => credentialsDto(PlainAuthentication(password: 'not base64!')),
          throwsFormatException);
    });
  });
}
