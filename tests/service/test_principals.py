"""`CachedTokens`: a token that authenticated is trusted for `ttl_s`; revocation in this process is
immediate, from another process (the admin CLI) honoured within `ttl_s`."""

from __future__ import annotations

from pathlib import Path

from kaon.security.auth import Principal, Role, TokenStore
from kaon.service.principals import CachedTokens
from kaon.store.repo import JobStore

SECRET = b"s" * 32


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_trusted_for_the_ttl_and_revocation_is_honoured(tmp_path: Path) -> None:
    store = JobStore.open(f"sqlite:///{tmp_path / 'kaon.db'}")
    clock = _Clock()
    tokens = CachedTokens(store.engine, SECRET, ttl_s=1.0, size=2, clock=clock)
    cli = TokenStore(store.engine, SECRET)  # `kaon admin token revoke` in another process
    alice, alice_info = cli.create("alice", Role.USER)
    bob, bob_info = cli.create("bob", Role.ADMIN)
    assert tokens.cached(alice) is None and tokens.cached("kaon_unknown") is None
    assert tokens.authenticate("kaon_unknown") == "invalid token" and tokens.cached("kaon_unknown") is None
    found = tokens.authenticate(alice)
    assert isinstance(found, Principal) and found.user == "alice" and tokens.cached(alice) == found

    cli.revoke(alice_info.id)  # elsewhere: this process trusts its cache until the TTL runs out
    clock.now = 0.99
    assert tokens.cached(alice) == found
    clock.now = 1.0
    assert tokens.cached(alice) is None and tokens.authenticate(alice) == "token revoked"

    assert isinstance(tokens.authenticate(bob), Principal) and tokens.cached(bob) is not None
    tokens.revoke(bob_info.id)  # here: at once
    assert tokens.cached(bob) is None and tokens.authenticate(bob) == "token revoked"

    c1, _ = cli.create("c1", Role.VIEWER)
    c2, _ = cli.create("c2", Role.VIEWER)
    c3, _ = cli.create("c3", Role.VIEWER)
    for t in (c1, c2, c3):
        tokens.authenticate(t)
    assert tokens.cached(c1) is None and tokens.cached(c2) is not None and tokens.cached(c3) is not None  # size 2
    store.close()
