"""Serializable: key mapping, value serialization, subclass introspection."""

from lime_python import Reason, Serializable


class Holder(Serializable):
    def __init__(self, **kwargs) -> None:
        self.plain = 'value'
        self.some_n = 123
        self.__hidden = 'private'
        self._protected = 'private'
        self.empty = None
        self.two_words_here = 'yes'
        self.nested = Reason(1, 'x')
        self.other = _Opaque()
        for key, value in kwargs.items():
            setattr(self, key, value)


class _Opaque:
    def __init__(self) -> None:
        self.anything = 1

    def __str__(self) -> str:
        return 'opaque'


def test_camelize_key():
    target = Serializable()
    assert target.camelize_key('from_n') == 'from'
    assert target.camelize_key('type_n') == 'type'
    assert target.camelize_key('encryption_options') == 'encryptionOptions'
    assert target.camelize_key('display_name') == 'displayName'


def test_decamelize_key():
    assert Serializable.decamelize_key('from') == 'from_n'
    assert Serializable.decamelize_key('type') == 'type_n'
    assert Serializable.decamelize_key('schemeOptions') == 'scheme_options'


def test_serialize_value():
    target = Serializable()
    assert target.serialize_value(123) == 123
    assert target.serialize_value({'a': [1]}) == {'a': [1]}
    assert target.serialize_value(Reason(2, 'y')) == {'code': 2, 'description': 'y'}
    assert target.serialize_value(_Opaque()) == 'opaque'


def test_to_json_of_a_subclass_reflects_its_public_attributes():
    assert Holder().to_json() == {
        'plain': 'value',
        'some': 123,
        'twoWordsHere': 'yes',
        'nested': {'code': 1, 'description': 'x'},
        'other': 'opaque',
    }


def test_from_json_of_a_subclass():
    raw = {'plain': 'value', 'some': 123, 'twoWordsHere': 'yes'}
    assert Holder.from_json(raw) == Holder()
    assert Holder.from_json({'fromX': 1}).from_x == 1


def test_overridden_key_mapping_is_honoured():
    class Upper(Serializable):
        def __init__(self) -> None:
            self.some_key = 1

        def camelize_key(self, key: str) -> str:
            return key.upper()

    assert Upper().to_json() == {'SOME_KEY': 1}
