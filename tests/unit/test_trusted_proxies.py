"""VODSTACK_TRUSTED_PROXIES as uvicorn is given it: off when empty (uvicorn's own default
would believe X-Forwarded-For from 127.0.0.1), and addresses or networks only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vodstack.api.proxies import proxy_options
from vodstack.settings import Settings


def settings(trusted: str) -> Settings:
    return Settings(trusted_proxies=trusted, _env_file=None)


def test_no_proxy_trusted_turns_the_proxy_headers_off() -> None:
    assert proxy_options(settings("")) == {"proxy_headers": False, "forwarded_allow_ips": None}


def test_addresses_and_networks_reach_uvicorn_as_one_list() -> None:
    options = proxy_options(settings(" 127.0.0.1, 10.0.0.0/8 ,::1,"))
    assert options == {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1,10.0.0.0/8,::1"}


@pytest.mark.parametrize("wrong", ["nginx", "*", "10.0.0.0/33", "127.0.0.1;rm"])
def test_anything_else_is_refused_in_words(wrong: str) -> None:
    with pytest.raises(ValidationError, match="is not an IP address or network"):
        settings(wrong)
