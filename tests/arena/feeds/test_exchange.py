"""The exchange config: ccxt's constructor arguments as given, secrets only by variable name."""

import json

import pytest

from arena.feeds import ExchangeClient, ExchangeConfig, FeedError

MIRROR = {"urls": {"api": {"public": "https://mirror.example/api/v3"}}, "timeout": 5000,
          "options": {"fetchMarkets": {"types": ["spot"]}}}


def test_a_config_is_json_text_a_json_file_or_a_dict(tmp_path):
    # Arrange
    path = tmp_path / "binance.json"
    path.write_text(json.dumps(MIRROR))
    # Act
    configs = [ExchangeConfig.parse("Binance", json.dumps(MIRROR)),
               ExchangeConfig.parse("binance", str(path)),
               ExchangeConfig.parse("binance", MIRROR)]
    # Assert
    assert all(c == ExchangeConfig("binance", MIRROR) for c in configs)
    assert ExchangeConfig.parse("binance").params == {}


def test_the_client_gets_the_arguments_as_they_are_with_the_rate_limiter_on():
    with ExchangeClient(ExchangeConfig("binance", MIRROR)) as client:
        ccxt_exchange = client.exchange
    assert ccxt_exchange.urls["api"]["public"] == "https://mirror.example/api/v3"
    assert ccxt_exchange.urls["api"]["sapi"] == "https://api.binance.com/sapi/v1"  # merged
    assert ccxt_exchange.timeout == 5000
    assert ccxt_exchange.enableRateLimit is True


@pytest.mark.parametrize(("config", "message"), [
    ("{timeout: 5}", "exchange config --exchange-config: not valid JSON"),
    ("[1, 2]", "--exchange-config: expected a JSON object, got list"),
    ("missing.json", "exchange config missing.json: cannot read it"),
    ('{"apiKey_env": 5}', "'apiKey_env' must name an environment variable"),
])
def test_a_bad_config_is_a_feed_error_naming_it(config, message):
    with pytest.raises(FeedError, match=message):
        ExchangeConfig.parse("binance", config)


def test_a_key_written_into_the_config_or_an_unset_variable_is_refused():
    with pytest.raises(FeedError, match=r"'apiKey' is a secret .* 'apiKey_env'") as err:
        ExchangeConfig("binance", {"apiKey": "key-in-a-file"})
    assert "key-in-a-file" not in str(err.value)
    with pytest.raises(FeedError, match="'ARENA_NOT_SET', which is not set"):
        ExchangeClient(ExchangeConfig("binance", {"apiKey_env": "ARENA_NOT_SET"}), environ={})


def test_keys_are_read_from_the_named_variables_and_redacted_from_messages():
    env = {"K": "key-0123456789", "S": "secret-abcdef"}
    config = ExchangeConfig("binance", {"apiKey_env": "K", "secret_env": "S"})
    with ExchangeClient(config, environ=env) as client:
        assert (client.exchange.apiKey, client.exchange.secret) == ("key-0123456789", "secret-abcdef")
        assert client.redact("sent key-0123456789 and secret-abcdef") == "sent *** and ***"
